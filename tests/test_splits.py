"""Train/test and train/val splits: drawn once per seed and fraction, saved, reused, checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pmgsam.data import DataError, build_dataset, train_val_split_names
from pmgsam.data.splits import carve

S = 64


def _split_files(cfg):
    return sorted(Path(cfg.split_dir).glob("*.json"))


def test_splits_deterministic_saved_and_reused(nc4k_root, data_config, tmp_path):
    cfg = data_config("nc4k", nc4k_root)
    train = build_dataset(cfg, "train", S, False).names
    test = build_dataset(cfg, "test", S, False).names
    assert len(test) == 2 and len(train) == 8 and not set(train) & set(test)
    files = _split_files(cfg)
    assert len(files) == 1 and json.loads(files[0].read_text())["parts"]["test"] == test
    # Same seed, other folder: same split; other seed: a new file.
    other = data_config("nc4k", nc4k_root, split_dir=str(tmp_path / "other"))
    assert build_dataset(other, "test", S, False).names == test
    reseeded = data_config("nc4k", nc4k_root, split_seed=7)
    build_dataset(reseeded, "test", S, False)
    assert len(_split_files(cfg)) == 2
    # A saved file wins over redrawing: edit it and the dataset follows.
    payload = json.loads(files[0].read_text())
    moved = payload["parts"]["train"].pop(0)
    payload["parts"]["test"].append(moved)
    files[0].write_text(json.dumps(payload))
    assert moved in build_dataset(cfg, "test", S, False).names
    # Carving train into train/val: disjoint, covers train, 20 % held out.
    t_name, v_name = train_val_split_names(cfg)
    assert (t_name, v_name) == ("train:train", "train:val")
    tr = build_dataset(cfg, t_name, S, True).names
    va = build_dataset(cfg, v_name, S, False).names
    assert sorted(tr + va) == sorted(payload["parts"]["train"]) and len(va) == 1


def test_split_file_with_missing_stem_is_an_error(nc4k_root, data_config):
    cfg = data_config("nc4k", nc4k_root)
    build_dataset(cfg, "train", S, False)
    path = _split_files(cfg)[0]
    payload = json.loads(path.read_text())
    payload["parts"]["train"].append("ghost_image")
    path.write_text(json.dumps(payload))
    with pytest.raises(DataError, match=r"ghost_image") as info:
        build_dataset(cfg, "train", S, False)
    assert str(path) in str(info.value)
    path.write_text("{not json")
    with pytest.raises(DataError, match=r"unreadable"):
        build_dataset(cfg, "test", S, False)


def test_dis5k_val_carved_from_train(dis5k_root, data_config):
    cfg = data_config("dis5k", dis5k_root, val_split=None)
    t_name, v_name = train_val_split_names(cfg)
    assert (t_name, v_name) == ("DIS-TR:train", "DIS-TR:val")
    tr, va = build_dataset(cfg, t_name, S, True), build_dataset(cfg, v_name, S, False)
    assert len(va) == 2 and len(tr) == 6 and not set(tr.names) & set(va.names)
    assert build_dataset(cfg, v_name, S, False).names == va.names


def test_carve_keeps_both_parts_non_empty_and_ignores_input_order():
    stems = [f"s{i}" for i in range(10)]
    # round(0.01 * 10) = 0 would hold out nothing and round(0.99 * 10) = 10 would keep
    # nothing: each part keeps at least one stem.
    kept, held = carve(stems, 0.01, 0)
    assert len(kept) == 9 and len(held) == 1
    kept, held = carve(stems, 0.99, 0)
    assert len(kept) == 1 and len(held) == 9
    # The same stems listed in another order, some twice, are the same split.
    assert carve(stems[::-1] + stems[:3], 0.3, 5) == carve(stems, 0.3, 5)


def test_split_file_per_fraction_and_parts_must_be_disjoint(nc4k_root, data_config):
    cfg = data_config("nc4k", nc4k_root)
    assert len(build_dataset(cfg, "test", S, False)) == 2  # round(0.2 * 10)
    # Another fraction is another split, not the saved 20 % one: round(0.3 * 10) = 3.
    other = data_config("nc4k", nc4k_root, test_fraction=0.3)
    assert len(build_dataset(other, "test", S, False)) == 3
    (path,) = [p for p in _split_files(cfg) if "test0.2__" in p.name]
    payload = json.loads(path.read_text())
    payload["parts"]["test"].append(payload["parts"]["train"][0])
    path.write_text(json.dumps(payload))
    with pytest.raises(DataError, match="in both 'train' and 'test'"):
        build_dataset(cfg, "train", S, False)


def test_images_added_after_the_split_was_drawn_are_named_with_the_way_out(
    nc4k_root, data_config, tmp_path, caplog
):
    import shutil

    root = shutil.copytree(nc4k_root, tmp_path / "NC4K")
    cfg = data_config("nc4k", root)
    before = build_dataset(cfg, "train", S, False).names
    image = sorted((root / "Imgs").iterdir())[0]
    shutil.copy(image, image.with_name(f"zz_new{image.suffix}"))
    for mask in (root / "GT").glob(f"{image.stem}.*"):
        shutil.copy(mask, mask.with_name(f"zz_new{mask.suffix}"))
    with caplog.at_level("WARNING", logger="pmgsam"):
        assert build_dataset(cfg, "train", S, False).names == before
    (message,) = [r.getMessage() for r in caplog.records if "does not list" in r.getMessage()]
    assert "1 image(s)" in message and "zz_new" in message and "Delete the file" in message


def test_carve_draws_the_held_out_part_at_random_per_seed():
    # 20 stems, 5 held out: a seeded draw gives different parts for different seeds (20 choose
    # 5 = 15504 possible parts); taking the first or last stems would give one part for all.
    stems = [f"img{i}" for i in range(1, 21)]
    held = {tuple(carve(stems, 0.25, seed)[1]) for seed in range(6)}
    assert all(len(h) == 5 for h in held)
    assert len(held) >= 4
    assert carve(stems, 0.25, 3) == carve(list(reversed(stems)), 0.25, 3)  # order-free


@pytest.mark.parametrize("stems", [["only"], ["a", "a"], []])
def test_carve_refuses_fewer_than_two_distinct_stems(stems: list):
    # Two non-empty parts need two images; one image would give an empty held-out part.
    with pytest.raises(DataError, match="two non-empty parts"):
        carve(stems, 0.5, 0)


def test_an_unwritable_split_folder_and_a_carved_train_split_are_named(
    nc4k_root, data_config, tmp_path
):
    (tmp_path / "a_file").write_text("x")
    cfg = data_config("nc4k", nc4k_root, split_dir=str(tmp_path / "a_file" / "splits"))
    with pytest.raises(DataError, match=r"cannot save split file '.*a_file/splits/.*json'") as e:
        build_dataset(cfg, "test", S, False)
    assert "set data.split_dir to a writable folder" in str(e.value)
    assert (tmp_path / "a_file").read_text() == "x"
    # train_split 'train:train' with no val_split: carving it again would hold out from a part.
    carved = data_config("nc4k", nc4k_root, train_split="train:train", val_split=None)
    with pytest.raises(DataError, match="'train:train' is already carved; set val_split"):
        train_val_split_names(carved)


def test_a_configured_val_split_is_used_as_it_is(data_config, tmp_path):
    # DIS5K's config validates on the official DIS-VD (val_split: DIS-VD), trains on all of
    # DIS-TR: nothing is carved out of the training split then.
    cfg = data_config("dis5k", tmp_path, train_split="DIS-TR", val_split="DIS-VD")
    assert train_val_split_names(cfg) == ("DIS-TR", "DIS-VD")


def test_the_unlisted_images_warning_is_given_once_per_command(
    nc4k_root, data_config, tmp_path, caplog
):
    # evaluate.py reads the split file three times (the trained-images check and each
    # dataset it builds): the same warning three times is noise.
    import shutil

    root = shutil.copytree(nc4k_root, tmp_path / "NC4K")
    cfg = data_config("nc4k", root)
    build_dataset(cfg, "test", S, False)
    image = sorted((root / "Imgs").iterdir())[0]
    shutil.copy(image, image.with_name(f"zz_new{image.suffix}"))
    for mask in (root / "GT").glob(f"{image.stem}.*"):
        shutil.copy(mask, mask.with_name(f"zz_new{mask.suffix}"))
    with caplog.at_level("WARNING", logger="pmgsam"):
        for _ in range(3):
            build_dataset(cfg, "test", S, False)
    assert sum("does not list" in r.getMessage() for r in caplog.records) == 1

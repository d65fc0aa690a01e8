"""DIS test subsets scored as one set: equal to scoring their concatenated folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from cli_cases import evaluate_main

from pmgsam.evaluation.combined import (
    combined_name,
    dataset_pairs,
    is_combined,
    score_combined_split,
    split_parts,
)
from pmgsam.evaluation.scoring import EvaluationInputError, evaluate_dis_folder
from pmgsam.evaluation.tables import dis_table, pool_te

PARTS = ("DIS-TE1", "DIS-TE2", "DIS-TE3", "DIS-TE4")


def _write_part(root: Path, part: str, rng: np.random.Generator, n: int) -> SimpleNamespace:
    gt_dir, pred_dir = root / part / "gt", root / part / "pred"
    gt_dir.mkdir(parents=True)
    pred_dir.mkdir(parents=True)
    names, masks = [], []
    for i in range(n):
        h, w = int(rng.integers(20, 40)), int(rng.integers(20, 40))
        gt = np.zeros((h, w), np.uint8)
        y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
        gt[y : y + h // 2, x : x + w // 2] = 255
        noise = rng.integers(0, 256, (h, w))
        pred = np.clip(0.6 * gt + 0.4 * noise, 0, 255).astype(np.uint8)
        # The same stem in every part: the combined scorer must keep them apart.
        name = f"img{i}"
        cv2.imwrite(str(gt_dir / f"{name}.png"), gt)
        cv2.imwrite(str(pred_dir / f"{name}.png"), pred)
        names.append(name)
        masks.append(gt_dir / f"{name}.png")
    return SimpleNamespace(names=names, mask_paths=masks, skeleton_paths=None, pred=pred_dir)


def test_combined_set_equals_scoring_the_concatenated_folders(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    parts = {p: _write_part(tmp_path, p, rng, n) for p, n in zip(PARTS, (2, 3, 1, 2))}
    name, combined = score_combined_split(
        "DIS-TE",
        lambda part: parts[part],
        lambda part: parts[part].pred,
        tmp_path / "metrics",
        progress=False,
    )
    assert name == "DIS-TE1-4"
    # The scores name the set they hold as their file does, not as the command spelled it.
    assert combined["split"] == "DIS-TE1-4"
    assert (tmp_path / "metrics" / "DIS-TE1-4.per_image.csv").is_file()
    # Reference: every part copied into one pair of folders and scored as a single split.
    flat_gt, flat_pred = tmp_path / "flat" / "gt", tmp_path / "flat" / "pred"
    flat_gt.mkdir(parents=True)
    flat_pred.mkdir(parents=True)
    for part, ds in parts.items():
        for n, g in zip(ds.names, ds.mask_paths):
            shutil.copy(g, flat_gt / f"{part}_{n}.png")
            shutil.copy(ds.pred / f"{n}.png", flat_pred / f"{part}_{n}.png")
    reference, _ = evaluate_dis_folder(flat_pred, flat_gt, progress=False)
    assert combined["num_images"] == reference["num_images"] == 8
    for key in ("maxFm", "wFmeasure", "MAE", "Smeasure", "meanEm", "HCE"):
        assert combined[key] == pytest.approx(reference[key], rel=1e-12, abs=1e-12), key
    assert combined["parts"] == {"DIS-TE1": 2, "DIS-TE2": 3, "DIS-TE3": 1, "DIS-TE4": 2}

    # The table's pooling of separately scored parts gives the same numbers.
    singles = {}
    for part in PARTS:
        _, singles[part] = score_combined_split(
            part, lambda p: parts[p], lambda p: parts[p].pred, tmp_path / "single", progress=False
        )
    pooled = pool_te(singles)
    for key in ("maxFm", "wFmeasure", "MAE", "Smeasure", "meanEm", "HCE"):
        assert pooled[key] == pytest.approx(reference[key], rel=1e-9), key
    # A two-part set the run never scored is pooled by the table from its parts.
    for f in list(flat_gt.iterdir()):
        if not f.name.startswith(("DIS-TE1_", "DIS-TE2_")):
            f.unlink()
            (flat_pred / f.name).unlink()
    reference2, _ = evaluate_dis_folder(flat_pred, flat_gt, progress=False)
    table = dis_table([{"method": "m", "dis": singles}], ["DIS-TE1+DIS-TE2"])
    assert [g for g, _ in table.groups] == ["DIS-TE1+DIS-TE2"]
    values = table.rows[0][1]
    for key in ("maxFm", "MAE", "Smeasure"):
        assert values[("DIS-TE1+DIS-TE2", key)] == pytest.approx(reference2[key], rel=1e-9)


def test_split_specs() -> None:
    assert split_parts("DIS-TE") == PARTS
    assert split_parts("DIS-TE1+DIS-TE3") == ("DIS-TE1", "DIS-TE3")
    assert combined_name("DIS-TE4+DIS-TE1+DIS-TE3+DIS-TE2") == "DIS-TE1-4"
    assert combined_name("DIS-TE1+DIS-TE3") == "DIS-TE1+DIS-TE3"
    # One set, one name: as typed, DIS-TE3+DIS-TE1 became a second table column and file.
    assert combined_name("DIS-TE3+DIS-TE1") == "DIS-TE1+DIS-TE3"
    assert combined_name(" DIS-VD + DIS-TE2 ") == "DIS-TE2+DIS-VD"
    # A stored name maps to itself, so entries read back keep their name.
    assert combined_name("DIS-TE1-4") == "DIS-TE1-4"
    assert combined_name("DIS-TE2+DIS-VD") == "DIS-TE2+DIS-VD"
    with pytest.raises(EvaluationInputError, match="names a part twice"):
        split_parts("DIS-TE1+DIS-TE1")
    with pytest.raises(EvaluationInputError, match="empty part"):
        split_parts("DIS-TE1+")
    # Spaces around "+" (as typed on a command line) are not part of the split names.
    assert split_parts(" DIS-TE1 + DIS-TE3 ") == ("DIS-TE1", "DIS-TE3")
    # A single split is scored on its own, not through the combined path.
    assert not is_combined("DIS-TE1") and not is_combined("DIS-VD")
    assert is_combined("DIS-TE") and is_combined("DIS-TE1+DIS-TE3")


def test_dataset_pairs_keep_skeletons_and_refuse_missing_predictions(tmp_path: Path) -> None:
    pred = tmp_path / "pred"
    pred.mkdir()
    (pred / "a.png").write_bytes(b"")  # only its existence is checked here
    ds = SimpleNamespace(names=["a"], mask_paths=[tmp_path / "a_gt.png"],
                         skeleton_paths=[tmp_path / "a_ske.png"])  # fmt: skip
    # The GT skeleton given by the dataset is what HCE must use (not one recomputed from GT).
    assert dataset_pairs(ds, pred, prefix="DIS-TE1/") == [
        ("DIS-TE1/a", pred / "a.png", tmp_path / "a_gt.png", tmp_path / "a_ske.png")
    ]
    ds.names.append("b")
    ds.mask_paths.append(tmp_path / "b_gt.png")
    ds.skeleton_paths.append(None)
    with pytest.raises(EvaluationInputError, match=r"1 image\(s\) have no prediction: .*b\.png"):
        dataset_pairs(ds, pred)


def test_evaluate_cli_scores_dis_te_as_one_set(tmp_path: Path, dis5k_root: Path, capsys) -> None:
    import torch

    import pmgsam
    from pmgsam.modeling.checkpoint import save_model

    torch.manual_seed(0)
    weights = save_model(
        pmgsam.build_model("pmgsam_tiny", image_size=64), tmp_path / "w.safetensors"
    )
    config = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
    out = tmp_path / "run"
    args = ["--config", str(config), "--checkpoint", str(weights), "--dataset", "dis5k"]
    args += ["--splits", "DIS-TE2+DIS-TE1", "--output-dir", str(out), "--device", "cpu"]
    args += ["--quiet", "--workers", "1", "--no-hce", f"data.root={dis5k_root}"]
    args += [f"data.split_dir={tmp_path / 'splits'}", "data.num_workers=0"]
    assert evaluate_main(args) == 0
    assert "predict" not in capsys.readouterr().err  # --quiet: no progress bar of the parts
    run = json.loads((out / "run.json").read_text())
    # Stored under the set's one name (parts sorted), not as typed: DIS-TE1+DIS-TE2 names it
    # in the tables and files whichever order --splits gave.
    assert list(run["dis"]) == ["DIS-TE1+DIS-TE2"]
    # The fixture's test subsets hold 2 images each, predicted into their own folders.
    assert run["dis"]["DIS-TE1+DIS-TE2"]["num_images"] == 4
    assert run["dis"]["DIS-TE1+DIS-TE2"]["split"] == "DIS-TE1+DIS-TE2"
    assert run["dis"]["DIS-TE1+DIS-TE2"]["parts"] == {"DIS-TE1": 2, "DIS-TE2": 2}
    assert all(len(list((out / "pred" / p).glob("*.png"))) == 2 for p in PARTS[:2])
    assert not (out / "metrics" / "DIS-TE2+DIS-TE1.json").exists()
    side = (out / "metrics" / "DIS-TE1+DIS-TE2.per_image.csv").read_text().splitlines()
    assert sorted(line.split("/")[0] for line in side[1:]) == ["DIS-TE1"] * 2 + ["DIS-TE2"] * 2


def test_dataset_pairs_refuses_lists_of_different_lengths(tmp_path):
    # zip() would pair the first two images and drop the third without a word.
    from types import SimpleNamespace

    from pmgsam.evaluation.combined import dataset_pairs

    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.png").write_bytes(b"")
    dataset = SimpleNamespace(
        names=["a", "b", "c"],
        mask_paths=[tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"],
        skeleton_paths=[tmp_path / "a.png", tmp_path / "b.png"],
    )
    with pytest.raises(ValueError, match="3 names, 3 GT masks and 2 skeletons"):
        dataset_pairs(dataset, tmp_path)
    dataset.skeleton_paths.append(tmp_path / "c.png")
    assert [p[0] for p in dataset_pairs(dataset, tmp_path)] == ["a", "b", "c"]

"""``data.check_files``: one error listing every bad file before training starts (§4)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pmgsam.data import DataError, build_dataset
from pmgsam.data.datasets import check_files
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.resume_checks import resume_differences
from pmgsam.utils.config import from_dict, to_dict


def split(root: Path, name: str, masks: dict) -> Path:
    """``root/name/{images,masks}`` with one 40x30 image per mask entry."""
    rng = np.random.default_rng(0)
    for sub in ("images", "masks"):
        (root / name / sub).mkdir(parents=True)
    for stem, mask in masks.items():
        image = rng.integers(0, 255, (30, 40, 3), np.uint8)
        cv2.imwrite(str(root / name / "images" / f"{stem}.png"), image)
        if isinstance(mask, bytes):
            (root / name / "masks" / f"{stem}.png").write_bytes(mask)
        else:
            cv2.imwrite(str(root / name / "masks" / f"{stem}.png"), mask)
    return root / name


def test_lists_every_bad_file_at_once(tmp_path: Path, data_config) -> None:
    good = np.zeros((30, 40), np.uint8)
    good[5:20, 5:20] = 255
    train = split(
        tmp_path,
        "train",
        {
            "ok": good,
            "zero": b"",  # zero-byte mask
            "small": np.full((10, 10), 255, np.uint8),  # size differs from its image
            "text": b"not a png",
        },
    )
    (train / "images" / "badimg.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # header only
    cv2.imwrite(str(train / "masks" / "badimg.png"), good)
    # A split whose masks are all empty (0/1 label masks are read as 0/255 by load_mask instead).
    split(tmp_path, "val", {"a": np.zeros_like(good), "b": np.zeros_like(good)})
    cfg = data_config("folder", tmp_path, train_split="train", val_split="val")
    sets = [build_dataset(cfg, s, 32, train=False) for s in ("train", "val")]
    with pytest.raises(DataError) as err:
        check_files(sets, workers=2)
    text = str(err.value)
    assert "5 problem(s) in 7 image/mask pairs" in text
    for name in ("zero.png", "small.png", "text.png", "badimg.png"):
        assert name in text
    assert "folder val: all 2 masks are empty" in text and "ok.png" not in text
    check_files([])  # nothing to check is fine


def test_masks_that_cannot_be_read_are_not_called_empty(tmp_path: Path, data_config) -> None:
    empty = np.zeros((30, 40), np.uint8)
    split(tmp_path, "bad", {"a": b"", "b": b"not a png"})  # no mask loads: none is empty
    split(tmp_path, "mixed", {"c": b"", "d": empty})  # the one that loads is empty
    cfg = data_config("folder", tmp_path, train_split="bad", val_split="mixed")
    sets = [build_dataset(cfg, s, 32, train=False) for s in ("bad", "mixed")]
    with pytest.raises(DataError) as err:
        check_files(sets, workers=1)
    text = str(err.value)
    assert "4 problem(s) in 4 image/mask pairs" in text, text
    assert "folder bad: all" not in text
    assert "folder mixed: all 1 masks that can be read are empty" in text


def test_check_files_may_change_on_resume(data_config, tmp_path) -> None:
    data = to_dict(data_config("folder", tmp_path))
    saved = to_dict(from_dict(ExperimentConfig, {"data": data}))
    now = from_dict(ExperimentConfig, {"data": {**data, "check_files": True}})
    assert resume_differences(saved, now) == []
    del saved["data"]["check_files"]  # a run saved before the option existed
    assert resume_differences(saved, now) == []


def test_runs_saved_before_new_fields_resume_with_their_old_values(tmp_path) -> None:
    import yaml

    from pmgsam.engine.state import CONFIG_FILE, experiment_config, with_legacy_fields

    full = to_dict(from_dict(ExperimentConfig, {}))
    old = {**full, "model": dict(full["model"]), "data": dict(full["data"])}
    del old["model"]["decoder_activation"], old["data"]["reduced_decode"]  # an older run
    del old["model"]["srb_output_norm"]
    run = tmp_path / "run"
    run.mkdir()
    (run / CONFIG_FILE).write_text(yaml.safe_dump(old))
    cfg = experiment_config(None, resume=run)
    # The values that run was trained with, not today's defaults (relu, reduced decode on).
    assert cfg.model.decoder_activation == "gelu" and cfg.data.reduced_decode is False
    assert cfg.model.srb_output_norm is False
    assert resume_differences(with_legacy_fields(old), cfg) == []
    assert resume_differences(old, cfg) != []  # without the fill, the run could not resume
    # An explicit override still wins, and a config that names the field keeps its value.
    assert experiment_config(None, ["data.reduced_decode=true"], resume=run).data.reduced_decode
    assert with_legacy_fields(full)["model"]["decoder_activation"] == "relu"

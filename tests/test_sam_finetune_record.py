"""The ``<stem>.finetune.json`` record of SAM fine-tuning (``finetune_record.py``): the images
skipped are listed under the reason they were skipped for.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from pmgsam.baselines.finetune_recipe import SamFinetuneConfig
from pmgsam.baselines.finetune_record import make_record

SPLITS = ("train:train", "train:val")


def _run(tmp: Path, targets: str) -> Any:
    """What :func:`make_record` reads of a ``finetune_sam.Run``."""
    args = argparse.Namespace(model_type="vit_b", checkpoint=str(tmp / "src.pth"),
                              config="ft.yaml", limit=None)  # fmt: skip
    return SimpleNamespace(args=args, cfg=SamFinetuneConfig(), splits=SPLITS, side=64,
                           counts={SPLITS[0]: 3, SPLITS[1]: 2}, source_sha="0" * 64,
                           overrides=[], targets=targets, device=torch.device("cpu"),
                           trainable=[torch.nn.Parameter(torch.zeros(5))])  # fmt: skip


@pytest.mark.parametrize(
    ("targets", "reason", "other"),
    [("instance", "no_instances", "no_foreground"), ("object", "no_foreground", "no_instances")],
)
def test_skipped_images_are_recorded_under_their_reason(
    tmp_path: Path, targets: str, reason: str, other: str
) -> None:
    output = tmp_path / "out.pth"
    output.write_bytes(b"weights")
    result = {"epochs": [], "best_epoch": 0, "best_val_loss": 1.0,
              "skipped": {SPLITS[0]: ["a", "c"], SPLITS[1]: ["v"]}}  # fmt: skip
    record = make_record(_run(tmp_path, targets), result, output, {"seconds": 1.0})
    data = record["data"]
    assert data[f"train_skipped_{reason}"] == ["a", "c"] and data[f"val_skipped_{reason}"] == ["v"]
    assert data[f"train_skipped_{other}"] == [] and data[f"val_skipped_{other}"] == []
    assert record["output_sha256"] == hashlib.sha256(b"weights").hexdigest()
    assert record["trainable_parameters"] == 5


def test_an_unreadable_or_foreign_record_is_ignored_so_the_row_is_an_untuned_models(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import json
    import logging

    from pmgsam.baselines.finetune_data import RECORD_FORMAT, finetune_record, sidecar_path

    output = tmp_path / "out.pth"
    output.write_bytes(b"weights")
    sidecar = sidecar_path(output)
    assert sidecar == tmp_path / "out.finetune.json"
    assert finetune_record(output) is None  # none written
    sidecar.write_text('{"format": "pmgsam-sam-fi')  # cut short
    with caplog.at_level(logging.WARNING):
        assert finetune_record(output) is None
    assert f"ignoring '{sidecar}': not a readable fine-tuning record" in caplog.text
    sha = hashlib.sha256(b"weights").hexdigest()
    caplog.clear()
    sidecar.write_text(json.dumps({"format": "another tool's", "output_sha256": sha}))
    with caplog.at_level(logging.WARNING):
        assert finetune_record(output) is None
    assert f"ignoring '{sidecar}': not a fine-tuning record of this pmgsam (format " in caplog.text
    assert f"\"another tool's\", not '{RECORD_FORMAT}')" in caplog.text
    caplog.clear()
    sidecar.write_text("[1, 2]")  # JSON, but no record at all
    with caplog.at_level(logging.WARNING):
        assert finetune_record(output) is None
    assert f"ignoring '{sidecar}': not a fine-tuning record (JSON, but not an object)" in (
        caplog.text
    )
    record = {"format": RECORD_FORMAT, "output_sha256": sha}
    sidecar.write_text(json.dumps(record))
    assert finetune_record(output) == record


def test_the_record_counts_each_split_and_keeps_the_best_epoch_not_the_last(
    tmp_path: Path,
) -> None:
    # run.json's meta.finetune publishes these: 3 training and 2 validation images, and epoch
    # 1 (val loss 0.4) as the weights written, though epoch 2 came last (val loss 0.6).
    output = tmp_path / "out.pth"
    output.write_bytes(b"weights")
    epochs = [{"epoch": 0, "val_loss": 0.9}, {"epoch": 1, "val_loss": 0.4},
              {"epoch": 2, "val_loss": 0.6}]  # fmt: skip
    result = {"epochs": epochs, "best_epoch": 1, "best_val_loss": 0.4,
              "skipped": {SPLITS[0]: [], SPLITS[1]: []}}  # fmt: skip
    record = make_record(_run(tmp_path, "object"), result, output, {"seconds": 2.5})
    data = record["data"]
    assert (data["train_split"], data["train_images"]) == (SPLITS[0], 3)
    assert (data["val_split"], data["val_images"]) == (SPLITS[1], 2)
    assert (record["best_epoch"], record["best_val_loss"]) == (1, 0.4)
    assert [e["val_loss"] for e in record["epochs"]] == [0.9, 0.4, 0.6]
    assert (record["model_image_size"], record["source_sha256"]) == (64, "0" * 64)
    assert record["output_sha256"] == hashlib.sha256(b"weights").hexdigest() != "0" * 64


def test_the_record_names_the_source_by_its_real_path_and_rounds_the_timings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A checkpoint given by a relative path through a link: the record finds it again from
    # anywhere (the resolved path), and keeps the path as typed.
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "src.pth").write_bytes(b"source")
    (tmp_path / "link").symlink_to(tmp_path / "weights", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    run = _run(tmp_path, "object")
    run.args.checkpoint, run.args.limit = "link/src.pth", 7
    output = tmp_path / "out.pth"
    output.write_bytes(b"weights")
    result = {"epochs": [], "best_epoch": 0, "best_val_loss": 1.0,
              "skipped": {SPLITS[0]: [], SPLITS[1]: []}}  # fmt: skip
    record = make_record(run, result, output, {"cache_seconds": 1.23456, "seconds": 9.87654})
    assert record["source_checkpoint"] == "link/src.pth"
    assert record["source_checkpoint_resolved"] == str((tmp_path / "weights" / "src.pth").resolve())
    assert (record["cache_seconds"], record["seconds"]) == (1.235, 9.877)
    assert record["data"]["limit"] == 7  # evaluate.py names a subset fine-tuning by it

"""What SAM fine-tuning checks before the model loads: the instance labels of instance targets
(``finetune.targets``: auto on COD10K / NC4K) are covered by ``data.check_files``, and an image
without an instance map is refused at set-up, so neither is found mid-training after the
embedding cache was filled.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, List

import cv2
import numpy as np
import pytest
import torch
import yaml

from pmgsam.baselines import finetune_sam, sam
from pmgsam.baselines.finetune_targets import InstanceMasks
from pmgsam.data import build_dataset, train_val_split_names
from pmgsam.data.datasets import SegmentationDataset, check_files
from pmgsam.data.instance_labels import InstanceSource
from pmgsam.data.io import DataError, DataNotFoundError
from pmgsam.utils.cli import exit_status


@pytest.fixture
def nc4k_copy(nc4k_root: Path, tmp_path: Path) -> Path:
    """A copy of the session's synthetic NC4K (its instance maps get damaged here)."""
    return Path(shutil.copytree(nc4k_root, tmp_path / "NC4K"))


@pytest.fixture
def model_loads(monkeypatch: pytest.MonkeyPatch) -> List[str]:
    """The checkpoints ``sam.load`` was asked for; it refuses, so a run stops there."""
    calls: List[str] = []

    def refuse(model_type: str, checkpoint: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(checkpoint))
        raise RuntimeError("the model loaded: the data problem was not found up front")

    monkeypatch.setattr(sam, "load", refuse)
    return calls


def _last_training_map(root: Path, data_config: Any) -> Path:
    """The instance map of the last image of the training split the runs below carve (past
    their ``--limit 2``)."""
    cfg = data_config("nc4k", root)
    name = build_dataset(cfg, train_val_split_names(cfg)[0], 32, train=False).names[-1]
    return root / "Instance" / f"{name}.png"


def _argv(root: Path, tmp: Path, *overrides: str) -> list:
    """A fine-tuning command on ``root`` whose checkpoint is never read (``model_loads``)."""
    config, checkpoint = tmp / "ft.yaml", tmp / "never_loaded.pth"
    data = {"dataset": "nc4k", "root": str(root), "num_workers": 0, "train_split": "train"}
    data.update(val_split=None, test_splits=["test"], split_dir=str(tmp / "splits"))
    config.write_text(yaml.safe_dump({"data": data, "finetune": {"epochs": 1}}))
    checkpoint.write_bytes(b"")
    argv = ["--model-type", "vit_b", "--checkpoint", checkpoint, "--config", config]
    return [*argv, "--output", tmp / "out.pth", "--limit", "2", "--device", "cpu", *overrides]


def test_check_files_lists_missing_corrupt_and_mis_sized_instance_maps(tmp_path: Path) -> None:
    for folder in ("im", "gt", "inst"):
        (tmp_path / folder).mkdir()
    label = np.zeros((12, 16), np.uint8)
    label[2:8, 3:9] = 1
    for name in "abcd":
        cv2.imwrite(str(tmp_path / "im" / f"{name}.png"), np.full((12, 16, 3), 90, np.uint8))
        cv2.imwrite(str(tmp_path / "gt" / f"{name}.png"), (label > 0).astype(np.uint8) * 255)
    cv2.imwrite(str(tmp_path / "inst" / "a.png"), label)  # the one good map
    (tmp_path / "inst" / "b.png").write_bytes(b"not a png")
    cv2.imwrite(str(tmp_path / "inst" / "c.png"), np.zeros((12, 15), np.uint8))
    cv2.imwrite(str(tmp_path / "inst" / "d.png"), label)
    dataset = SegmentationDataset(
        [tmp_path / "im" / f"{n}.png" for n in "abcd"],
        [tmp_path / "gt" / f"{n}.png" for n in "abcd"],
        32,
        instances=InstanceSource("png", tmp_path / "inst"),
        description="boxes train",
    )
    reader = InstanceMasks(dataset)
    check_files([dataset], 1)  # without a reader only the image/mask pairs are read
    (tmp_path / "inst" / "d.png").unlink()  # after InstanceMasks listed the folder
    with pytest.raises(DataError) as caught:
        check_files([dataset], 1, [reader])
    message = str(caught.value)
    assert "3 problem(s) in 4 image/mask pairs (and their instance labels)" in message
    assert f"'{tmp_path / 'inst' / 'b.png'}'" in message  # unreadable
    assert f"instance map '{tmp_path / 'inst' / 'c.png'}' is 15x12 (WxH)" in message
    assert f"'{tmp_path / 'inst' / 'd.png'}'" in message  # gone
    assert "a.png" not in message


def test_a_corrupt_instance_map_is_refused_before_the_model_loads(
    nc4k_copy: Path, tmp_path: Path, model_loads: List[str], data_config: Any, capsys
) -> None:
    bad = _last_training_map(nc4k_copy, data_config)
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    argv = _argv(nc4k_copy, tmp_path, "data.check_files=true")
    assert exit_status(finetune_sam.main, argv) == 2
    err = capsys.readouterr().err
    assert "data.check_files found 1 problem(s)" in err and f"'{bad}'" in err
    assert model_loads == []


def test_an_image_without_an_instance_map_is_refused_at_set_up(
    nc4k_copy: Path, tmp_path: Path, model_loads: List[str], data_config: Any, capsys
) -> None:
    gone = _last_training_map(nc4k_copy, data_config)
    gone.unlink()
    assert exit_status(finetune_sam.main, _argv(nc4k_copy, tmp_path)) == 2
    err = capsys.readouterr().err
    assert f"have no instance map in '{nc4k_copy / 'Instance'}': {gone.stem}" in err
    assert model_loads == []
    with pytest.raises(DataNotFoundError, match=gone.stem):
        InstanceMasks(SegmentationDataset(
            [nc4k_copy / "Imgs" / f"{gone.stem}.jpg"], [nc4k_copy / "GT" / f"{gone.stem}.png"],
            32, instances=InstanceSource("png", nc4k_copy / "Instance"),
        ))  # fmt: skip


def test_the_gpu_asked_for_is_made_current_before_the_model_loads(
    nc4k_root: Path, tmp_path: Path, model_loads: List[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pinned embedding cache and batches are then on cuda:1's side, not cuda:0's.
    calls: List[tuple] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.append((d, len(model_loads))))
    with pytest.raises(RuntimeError, match="the model loaded"):
        finetune_sam.main([str(a) for a in _argv(nc4k_root, tmp_path, "--device", "cuda:1")])
    assert calls == [(torch.device("cuda:1"), 0)] and len(model_loads) == 1

"""Validation during training (pmgsam.engine.validation): image-weighted means and previews."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Dict, List

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.overrides import TorchFunctionMode

from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.engine.validation import monitor_metrics, run_validation

pytestmark = pytest.mark.usefixtures("one_thread")


class _LogitsInImages(torch.nn.Module):
    """Returns image channel 0 as the mask logits and channel 1 as the Pre-Mask logits."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {"mask": x[:, :1], "pre_mask": x[:, 1:2]}


def _fg_fraction_loss(outputs: Dict[str, torch.Tensor], target: torch.Tensor) -> tuple:
    # A stand-in loss whose batch value is known by hand: the GT foreground fraction.
    return target.float().mean(), {}


def test_run_validation_means_over_images_by_hand() -> None:
    s = 4
    gt = torch.zeros(3, 1, s, s)
    gt[0, 0, :2] = 1.0  # image 0: top 2 rows (8 px); image 1 empty; image 2 full
    gt[2] = 1.0
    logits = torch.full((3, 1, s, s), -20.0)
    logits[0, 0, 0] = 20.0  # image 0: row 0 only (4 of the 8 GT pixels)
    logits[2] = 20.0
    images = torch.cat([logits, torch.full_like(logits, -20.0), torch.zeros_like(logits)], 1)
    size = torch.tensor([[s, s]])

    def batch(sl: slice) -> dict:
        return {"image": images[sl], "mask": gt[sl], "orig_size": size.expand(len(gt[sl]), 2)}

    loader = [batch(slice(0, 2)), batch(slice(2, 3))]  # uneven batches: 2 images, then 1
    model = _LogitsInImages().train()
    stats, grid = run_validation(
        model, loader, _fg_fraction_loss, torch.device("cpu"), None, PerformanceConfig(), 2
    )
    assert model.training  # back in train mode for the next epoch
    # Loss: batch values 8/32 and 16/16, weighted by images: (2 * 0.25 + 1 * 1) / 3 = 0.5.
    assert stats["loss"] == pytest.approx(0.5)
    # Final mask (channel 0), not the Pre-Mask (all background, IoU 0, 1, 0).
    # Image 0: IoU 4/8, precision 1, recall 1/2 -> F = 1.3 * 0.5 / (0.3 + 0.5) = 0.8125,
    # MAE 4/16; images 1 and 2 are exact: IoU = F = 1, MAE 0.
    assert stats["iou"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert stats["f"] == pytest.approx((0.8125 + 1 + 1) / 3)
    assert stats["mae"] == pytest.approx(0.25 / 3, abs=1e-6)
    assert stats["images"] == 3.0
    # Two previews asked for: 2 rows (image, GT, Pre-Mask, mask) of 4x4 cells, padding 2.
    assert tuple(grid.shape) == (3, 2 + 2 * (s + 2), 2 + 4 * (s + 2))

    def cell(r: int, c: int) -> torch.Tensor:  # make_grid's cell r, c
        y, x = 2 + r * (s + 2), 2 + c * (s + 2)
        return grid[:, y : y + s, x : x + s]

    torch.testing.assert_close(cell(0, 1), gt[0].expand(3, -1, -1))
    torch.testing.assert_close(cell(0, 2), torch.sigmoid(images[0, 1:2]).expand(3, -1, -1))
    torch.testing.assert_close(cell(0, 3), torch.sigmoid(logits[0]).expand(3, -1, -1))
    # Nothing to validate: zero images, not one.
    empty, none = run_validation(
        model, [], _fg_fraction_loss, torch.device("cpu"), None, PerformanceConfig(), 2
    )
    assert empty["images"] == 0.0 and none is None


class _BlockingUploads(TorchFunctionMode):
    """Records the calls that build a device tensor from host data in one blocking copy
    (``torch.tensor(data, device=...)``, ``Tensor.new_tensor``): on CUDA each waits for the
    work queued so far."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: List[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name == "new_tensor" or (name == "tensor" and kwargs.get("device") is not None):
            self.calls.append(name)
        return func(*args, **kwargs)


def test_validation_batches_build_no_device_tensor_from_host_data_in_a_blocking_copy() -> None:
    s = 4
    images, masks = torch.rand(2, 3, s, s), (torch.rand(2, 1, s, s) > 0.5).float()
    loader = [{"image": images, "mask": masks, "orig_size": torch.tensor([[s, s], [s, 2]])}]
    with _BlockingUploads() as uploads:
        stats, _ = run_validation(
            _LogitsInImages(), loader, _fg_fraction_loss, torch.device("cpu"), None,
            PerformanceConfig(),
        )  # fmt: skip
    assert stats["images"] == 2.0
    assert uploads.calls == []


def test_monitor_metrics_score_only_the_valid_region_of_a_padded_image() -> None:
    # An 8x4 (h x w) image at S=4 is resized to 4x2 and padded on the right: columns 0-1 are
    # the image, columns 2-3 padding, where the network's output means nothing.
    s = 4
    gt = torch.zeros(1, 1, s, s)
    gt[0, 0, :, 0] = 1.0  # the object: column 0 (4 pixels)
    logits = torch.full((1, 1, s, s), -20.0)
    logits[0, 0, :, 0] = 20.0  # the object found ...
    logits[0, 0, 3, 0] = math.log(3.0)  # (one pixel at probability 0.75: MAE 0.25 there)
    logits[0, 0, :2, 1] = 20.0  # ... with 2 false-positive pixels in the image
    logits[0, 0, :, 2:] = 20.0  # and foreground all over the padding, which must not count
    m = monitor_metrics(logits, gt, torch.tensor([[8, 4]]))
    # By hand over the 8 valid pixels: TP 4, predicted 6, true 4.
    # IoU = 4 / 6; precision 2/3, recall 1 -> F = 1.3 * (2/3) / (0.3 * 2/3 + 1) = 0.7222...;
    # MAE = (2 wrong pixels + 0.25) / 8 valid pixels.
    assert float(m["iou"]) == pytest.approx(4 / 6)
    assert float(m["f"]) == pytest.approx(1.3 * (2 / 3) / (0.3 * 2 / 3 + 1))
    assert float(m["mae"]) == pytest.approx(2.25 / 8, abs=1e-6)


def _validate_as_rank(rank: int, out: str) -> None:
    """Rank ``rank`` of 2 (gloo) validates its shard; its stats go to ``out``/rank<r>.json.

    Rank 0 holds 2 images of 4x4, rank 1 one: image A (GT top half, found: row 0 only),
    image B (GT full, found) on rank 0; image C (GT empty, predicted full) on rank 1.
    """
    torch.set_num_threads(1)
    # A file rendezvous, not a port picked free and closed: under pytest-xdist another
    # process could take that port before the ranks bind it.
    store = f"file://{Path(out) / 'rendezvous'}"
    dist.init_process_group("gloo", init_method=store, rank=rank, world_size=2)
    try:
        gt = torch.zeros(2 - rank, 1, 4, 4)
        logits = torch.full_like(gt, -20.0)
        if rank == 0:
            gt[0, 0, :2], logits[0, 0, 0] = 1.0, 20.0
            gt[1], logits[1] = 1.0, 20.0
        else:
            logits[0] = 20.0
        images = torch.cat([logits, torch.zeros_like(logits), torch.zeros_like(logits)], 1)
        size = torch.tensor([[4, 4]]).expand(len(gt), 2)
        loader = [{"image": images, "mask": gt, "orig_size": size}]
        stats, _ = run_validation(
            _LogitsInImages(),
            loader,
            _fg_fraction_loss,
            torch.device("cpu"),
            None,
            PerformanceConfig(),
        )
        (Path(out) / f"rank{rank}.json").write_text(json.dumps(stats))
    finally:
        dist.destroy_process_group()


def test_validation_over_two_ranks_means_over_images_not_ranks(tmp_path) -> None:
    # Uneven shards, as 3 images over 2 ranks give. By hand, per image:
    #   A: IoU 4/8, F = 1.3 * 0.5 / (0.3 + 0.5) = 0.8125, MAE 4/16, loss (GT fraction) 8/16;
    #   B: IoU = F = 1, MAE 0, loss 1;  C: IoU = F = 0 (nothing true), MAE 1, loss 0.
    # Means over the 3 images; a mean of the ranks' means would give IoU (0.75 + 0) / 2.
    mp.start_processes(_validate_as_rank, args=(str(tmp_path),), nprocs=2, start_method="fork")
    stats = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert stats[0] == stats[1]  # every rank returns the whole split's means
    assert stats[0]["images"] == 3.0
    assert stats[0]["iou"] == pytest.approx((0.5 + 1 + 0) / 3)
    assert stats[0]["f"] == pytest.approx((0.8125 + 1 + 0) / 3)
    assert stats[0]["mae"] == pytest.approx((0.25 + 0 + 1) / 3, abs=1e-6)
    assert stats[0]["loss"] == pytest.approx((0.5 + 1 + 0) / 3)

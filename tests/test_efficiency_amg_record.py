"""The compared generator's timing (``pmgsam.efficiency --compare``): how many passes it gets,
images/s over a batch, and what its record says; worked out by hand with fakes (no SAM built)."""

from __future__ import annotations

from typing import Any, Dict, List

import numpy as np
import pytest
import torch

import pmgsam.baselines.runner  # noqa: F401 (see below)
import pmgsam.efficiency.report as report_mod
from pmgsam.efficiency import timing

# Imported above, before any test patches flops.count_call_flops: measure_amg imports the
# runner, whose efficiency module binds that function by name, so a first import under the
# patch kept the fake for every later test of the process (baseline rows then counted no FLOPs).


def _report() -> Dict[str, Any]:
    return {"device": "cpu", "model": "pmgsam_tiny", "dtype": "bf16", "batch": 2,
            "image_size": 64, "compile": "regional", "torch": "2.x", "commit": "c",
            "threads": 1, "channels_last": True, "cudnn_benchmark": False}  # fmt: skip


def _amg_calls(monkeypatch: pytest.MonkeyPatch, calls: List[Dict[str, Any]]) -> None:
    def amg(name: str, images: torch.Tensor, **kwargs: Any) -> Dict[str, Any]:
        calls.append(kwargs)
        speed = {"latency_ms_median": 4000.0, "images_per_s": 0.5, "first_call_ms": 5000.0}
        speed.update(peak_memory_mb=None, peak_reserved_mb=None)
        flops = {"total": 4e11, "image_encoder": 3e11}
        return {**speed, "flops_per_image": flops, "image_size": 64, "masks_kept": 3}

    monkeypatch.setattr(report_mod, "measure_amg", amg)


@pytest.mark.parametrize(
    "iters, warmup, passes, untimed", [(10, 3, 5, 1), (5, 0, 2, 0), (1, 2, 1, 1)]
)
def test_generator_gets_half_the_passes_and_at_most_one_warmup(
    monkeypatch, iters: int, warmup: int, passes: int, untimed: int
) -> None:
    # As --compare's help says: max(1, ITERS // 2) timed passes after min(WARMUP, 1) untimed.
    calls: List[Dict[str, Any]] = []
    _amg_calls(monkeypatch, calls)
    report_mod._amg_record(_report(), "sam_vit_b", torch.zeros(2, 3, 64, 64), iters, warmup, 32)
    assert (calls[0]["iters"], calls[0]["warmup"]) == (passes, untimed)


def test_generator_record_names_its_own_settings_and_a_smaller_grid(monkeypatch) -> None:
    _amg_calls(monkeypatch, [])
    images = torch.zeros(2, 3, 64, 64)
    rec = report_mod._amg_record(_report(), "sam_vit_b", images, 2, 1, 8, progress=False)
    # The generator runs in fp32, uncompiled, in its own layout, whatever PMG-SAM's settings.
    assert (rec["dtype"], rec["compile"], rec["channels_last"]) == ("fp32", False, False)
    assert (rec["mode"], rec["model"], rec["points_per_side"]) == ("sam_amg", "sam_vit_b", 8)
    assert (rec["flops_per_image"], rec["encoder_flops_per_image"]) == (4e11, 3e11)
    # The masks it kept say how little post-processing random weights leave to time.
    kept = (
        " (3 mask(s) kept for the first image; real weights keep more, each post-processed, so "
        "this time is a lower bound)"
    )
    assert rec["masks_kept"] == 3
    assert rec["note"] == (
        "segment-anything SamAutomaticMaskGenerator defaults but 8² points, random weights" + kept
    )
    default = report_mod._amg_record(_report(), "sam_vit_b", images, 2, 1, 32, progress=False)
    assert default["note"] == (
        "segment-anything SamAutomaticMaskGenerator defaults, random weights" + kept
    )


def test_generator_images_per_s_counts_every_image_of_the_batch(monkeypatch) -> None:
    # 3 images, 1 s per generate on a fake clock: a pass takes 3 s, 3 / 3 = 1 image/s.
    import pmgsam.baselines.base as base
    import pmgsam.efficiency.flops as flops

    now = [0.0]
    seen: List[np.ndarray] = []
    options: List[Dict[str, Any]] = []

    class Generator:
        def generate(self, array: np.ndarray) -> List[dict]:
            seen.append(array)
            now[0] += 1.0
            return [{}] * len(seen)  # the first call (the FLOP count's) keeps 1 mask

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.image_encoder = torch.nn.Identity()

    class Family:
        build = staticmethod(lambda model_type: Model())
        generator = staticmethod(lambda model, opts: options.append(opts) or Generator())

    monkeypatch.setattr(base, "family", lambda name: Family)
    monkeypatch.setattr(flops, "count_call_flops", lambda call, encoder: call() or {"total": 7})
    monkeypatch.setattr(timing.time, "perf_counter", lambda: now[0])
    images = torch.zeros(3, 3, 4, 4)
    images[1] = 1.0
    r = timing.measure_amg("sam_vit_b", images, iters=2, warmup=1, points_per_side=4)
    assert r["images_per_s"] == pytest.approx(1.0)
    assert r["latency_ms_median"] == pytest.approx(3000.0)
    assert options == [{"points_per_side": 4}]
    assert r["masks_kept"] == 1  # the first image's, not a later call's
    # The FLOP count's generate, then 1 warm-up pass + 2 timed over 3 images; each an HxWx3
    # uint8 image in 0..255.
    assert len(seen) == 10
    assert seen[2].shape == (4, 4, 3) and seen[2].dtype == np.uint8 and seen[2].max() == 255


def test_printed_speed_up_and_flops_ratio_are_ours_over_the_generators(monkeypatch) -> None:
    # PMG-SAM 10 images/s at 40 GFLOPs, the generator 0.5 images/s at 400 GFLOPs (same S):
    # 10 / 0.5 = 20x faster, 400 / 40 = 10x fewer FLOPs.
    _amg_calls(monkeypatch, [])
    report = {**_report(), "params": {"total": 2e6, "trainable": 1e6, "frozen": 1e6}}
    report["flops_per_image"] = {"total": 40e9, "frozen": 30e9, "trainable": 10e9,
                                 "trainable_over_frozen": 1 / 3, "components": {}}  # fmt: skip
    speed = {"latency_ms_median": 200.0, "images_per_s": 10.0, "first_call_ms": 300.0,
             "peak_memory_mb": None, "peak_reserved_mb": None}  # fmt: skip
    ours = report_mod.make_record(report, "inference", speed, flops_per_image=40e9)
    images = torch.zeros(2, 3, 64, 64)
    amg = report_mod._amg_record(report, "sam_vit_b", images, 2, 1, 32, progress=False)
    text = report_mod.format_report({**report, "records": [ours, amg]})
    assert "speed-up vs sam_vit_b automatic mask generator: 20.0x\n" in text
    assert text.endswith("FLOPs per image: 40.0 G vs 400.0 G (10.0x fewer)")

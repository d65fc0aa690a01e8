"""``pmgsam.efficiency --compare``: when PMG-SAM runs at another input size than the compared
generator (SAM / SAM2.1 resize every image to 1024 px), the printed ratios and the generator's
record say so, so that a demo's "31.6x fewer FLOPs" at 128 px is not read as like for like."""

from __future__ import annotations

import json
from typing import List

import numpy as np
import pytest
import torch

import pmgsam.efficiency.report as report_mod
from pmgsam.efficiency import main

# small_branches (conftest): the sizes and ratios named do not depend on the frozen branches'
# size; Hiera-T's builds and FLOP counts took most of this file's time.
pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")


def _fake_amg(side: int, seen: List[tuple]):
    """A generator's measurement at input side ``side`` (no SAM built)."""

    def amg(name, images, **kwargs):
        seen.append(tuple(images.shape))
        speed = {"latency_ms_median": 1000.0, "images_per_s": 1.0, "first_call_ms": 1000.0}
        speed.update(peak_memory_mb=None, peak_reserved_mb=None)
        flops = {"total": 4.0e11, "image_encoder": 3.0e11}
        return {**speed, "flops_per_image": flops, "image_size": side, "masks_kept": 0}

    return amg


def _run(tmp_path, monkeypatch, capsys, side: int):
    seen: List[tuple] = []
    monkeypatch.setattr(report_mod, "measure_amg", _fake_amg(side, seen))
    out = tmp_path / "eff.json"
    argv = ["--model", "pmgsam_tiny", "--size", "64", "--iters", "1", "--warmup", "0"]
    main(argv + ["--device", "cpu", "--json", str(out), "--compare", "sam_vit_b"])
    assert seen == [(1, 3, 64, 64)]  # the generator is given PMG-SAM's images
    ours, amg = json.loads(out.read_text())
    return ours, amg, capsys.readouterr().out


def test_ratios_at_different_input_sizes_name_both(tmp_path, monkeypatch, capsys) -> None:
    ours, amg, printed = _run(tmp_path, monkeypatch, capsys, 1024)
    sizes = "at different input sizes: pmgsam_tiny S=64, sam_vit_b 1024 px"
    flops = next(line for line in printed.splitlines() if line.startswith("FLOPs per image"))
    speed = next(line for line in printed.splitlines() if line.startswith("speed-up vs"))
    assert f"x fewer, {sizes})" in flops
    assert speed.endswith(f"x, {sizes}")
    # The record: S is the generator's own input, as a baseline's timing records it (it used
    # to be PMG-SAM's 64); the image it was given, and the note, say the rest.
    assert (ours["image_size"], amg["image_size"]) == (64, 1024)
    assert amg["timed_image_size"] == [64, 64]
    assert (
        "each 64x64 image resized to its 1024 px input (pmgsam_tiny ran at S=64)" in (amg["note"])
    )


def test_ratios_at_the_same_input_size_say_nothing_more(tmp_path, monkeypatch, capsys) -> None:
    ours, amg, printed = _run(tmp_path, monkeypatch, capsys, 64)
    assert "different input sizes" not in printed
    assert ours["image_size"] == amg["image_size"] == 64
    assert "resized" not in amg["note"]


def test_measure_amg_reports_the_generator_input_side(monkeypatch) -> None:
    import pmgsam.baselines.base as base
    import pmgsam.efficiency.flops as flops
    from pmgsam.efficiency import timing

    class Encoder(torch.nn.Module):
        img_size = 1024  # a SAM model's side lives on its image encoder

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.image_encoder = Encoder()

    class Generator:
        def generate(self, array: np.ndarray) -> List[dict]:
            return []

    class Family:
        build = staticmethod(lambda model_type: Model())
        generator = staticmethod(lambda model, options: Generator())

    monkeypatch.setattr(base, "family", lambda name: Family)
    monkeypatch.setattr(flops, "count_call_flops", lambda call, encoder: call() or {"total": 7})
    images = torch.zeros(1, 3, 4, 4)
    r = timing.measure_amg("sam_vit_b", images, iters=1, warmup=0, points_per_side=2)
    assert r["image_size"] == 1024

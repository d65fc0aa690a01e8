"""Audit of benchmarks/component_times.py beyond its timing test: the printed table's per-image
time, share and FLOP rate (hand-derived), the components' methods restored afterwards, and
the warm-up calls left out of the medians."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from cli_cases import benchmark_module

from pmgsam.modeling.fusion import FusionStack

ROOT = Path(__file__).resolve().parents[1]
SLEEP_MS = 300.0


@pytest.fixture(scope="module")
def component_times():
    return benchmark_module("component_times")


def test_the_table_gives_per_image_time_share_and_flop_rate(component_times) -> None:
    # 10 ms for a batch of 2 images of 4 GFLOPs each: 5 ms per image, a quarter of the 40 ms
    # whole, 8 GFLOPs in 10 ms = 0.8 TFLOP/s.
    medians = {"fusion": 10.0, "whole forward": 40.0}
    lines = component_times.format_table(medians, "whole forward", 2, {"fusion": 4.0})
    assert lines[1].split() == ["fusion", "10.00", "5.000", "25.0%", "4.00", "0.80"]
    assert lines[2].split() == ["whole", "forward", "40.00", "20.000", "100.0%"]


class _Branch(torch.nn.Module):
    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_the_components_methods_are_restored_after_timing(component_times) -> None:
    model = torch.nn.Module()
    model.u2net = _Branch()
    model.neck = torch.nn.Identity()
    stamps = component_times.Stamps(torch.device("cpu"))
    stamps.rounds.append({})
    with component_times.stamped_components(model, stamps) as names:
        assert names == ["u2net", "neck"]
        model.neck(model.u2net.features(torch.zeros(1)))
    assert stamps.span(stamps.rounds[0], "u2net") >= 0  # bracketed while inside
    # A model timed once and used again (a library call of main) runs unbracketed.
    assert "features" not in vars(model.u2net) and "forward" not in vars(model.neck)
    model.neck(model.u2net.features(torch.zeros(1)))
    assert len(stamps.rounds[0]["u2net:start"]) == 1


# small_branches (conftest): which call is left out and whether the flag reaches the fusion
# do not depend on the frozen branches' size; three builds and runs of Hiera-T took most of
# these tests' time.
def test_warm_up_calls_are_left_out_of_the_medians(
    component_times, monkeypatch, small_branches
) -> None:
    # The first timed call's fusion is slowed (as a first call's set-up would be): with one
    # warm-up and one timed call, a median over both would take half the delay in.
    slow = {"pending": False}
    forward = FusionStack.forward

    def first_call_slow(self, *args, **kwargs):
        if slow["pending"]:
            slow["pending"] = False
            time.sleep(SLEEP_MS / 1000)
        return forward(self, *args, **kwargs)

    measure = component_times.measure_speed

    def measured(*args, **kwargs):
        slow["pending"] = True  # the FLOP count before it runs the forward too
        return measure(*args, **kwargs)

    monkeypatch.setattr(FusionStack, "forward", first_call_slow)
    monkeypatch.setattr(component_times, "measure_speed", measured)
    args = ["--model", "pmgsam_tiny", "--size", "64", "--batch", "1", "--threads", "1"]
    medians = component_times.main(args + ["--iters", "1", "--warmup", "1"])["medians"]
    assert not slow["pending"]  # the warm-up call was the slow one
    assert medians["fusion"] < SLEEP_MS / 4, medians


@pytest.mark.parametrize("flags, on", [([], False), (["--bf16-group-norm"], True)])
def test_the_bf16_group_norm_flag_reaches_the_fusion(
    component_times, monkeypatch, small_branches, flags, on
):
    from pmgsam.modeling.common import InputDtypeGroupNorm

    seen = []
    prepare = component_times.prepare_model

    def spy(model, perf, *args, **kwargs):
        out = prepare(model, perf, *args, **kwargs)
        seen.extend(m.low_precision for m in out.modules() if isinstance(m, InputDtypeGroupNorm))
        return out

    monkeypatch.setattr(component_times, "prepare_model", spy)
    args = ["--model", "pmgsam_tiny", "--size", "64", "--iters", "1", "--warmup", "0"]
    component_times.main([*args, *flags])
    assert seen and set(seen) == {on}

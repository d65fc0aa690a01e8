"""benchmarks/component_times.py: every component is timed, and each time lands in its own row.

A component slowed by a known delay must show that delay in its row (and in the sums holding
it) and nowhere else: attributing time by call order, to a neighbour, or from the wrong
timestamp would move it elsewhere.

The delays are kept on a stand-in for the script's clock (:class:`StandInClock`), not slept:
each row's rise is then exactly the delays inside it, where real sleeps beside the other test
worker on a shared 2-core machine moved a sum of rows by 160 ms (and failed CI). One test reads
the real clock, for the rows to be measured at all.
"""

from __future__ import annotations

from typing import Any, Callable, Dict

import pytest
import torch
from cli_cases import benchmark_module

from pmgsam.modeling.fusion import DenseResidualFusion, FusionStack
from pmgsam.modeling.u2net import U2NET_CLASSES

ARGS = ["--model", "pmgsam_tiny", "--size", "64", "--batch", "1", "--iters", "3", "--warmup", "0"]
ARGS += ["--threads", "1"]
# The names of the efficiency report's FLOPs "by component" line, in the forward's order.
COMPONENTS = ["hiera", "u2net", "neck", "fusion", "refiner", "decoder"]
DELAY_MS = 500.0
# A row's rise is a sum of exact delays, give or take the clock's 1 µs per timestamp (a step
# wrapped by a patch fires its hooks twice: two more timestamps inside the AdamW row).
EXACT = 0.01

# Rows are told apart by where the stamps sit, not by how long a branch takes: the small frozen
# branches do (seven builds and timed runs of Hiera-T took most of the module's time).
pytestmark = pytest.mark.usefixtures("small_branches")


class StandInClock:
    """The script's ``time`` module for a test: ``perf_counter`` moves 1 µs per read (so every
    row is > 0) and by what :meth:`delay` adds, nothing else."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 1e-6
        return self.now

    def delay(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def component_times():
    return benchmark_module("component_times")


@pytest.fixture
def clock(component_times, monkeypatch) -> StandInClock:
    clock = StandInClock()
    monkeypatch.setattr(component_times, "time", clock)
    return clock


def _delayed(original: Callable, clock: StandInClock, seconds: float) -> Callable:
    def slow(*args: Any, **kwargs: Any) -> Any:
        clock.delay(seconds)
        return original(*args, **kwargs)

    return slow


def _rises(base: Dict[str, float], slow: Dict[str, float]) -> Dict[str, float]:
    return {k: slow[k] - base[k] for k in base}


def _check(rise: Dict[str, float], expected: Dict[str, float]) -> None:
    """Rows named in ``expected`` rose by that many ms, every other row by nothing."""
    for name, value in rise.items():
        assert value == pytest.approx(expected.get(name, 0.0), abs=EXACT), (name, rise)


def test_the_rows_read_the_real_clock(component_times, capsys):
    medians = component_times.main(ARGS)["medians"]
    printed = capsys.readouterr().out
    for name in COMPONENTS + ["sum of components", "whole forward"]:
        assert f"\n  {name} " in printed, name
        assert medians[name] > 0, name
    # Each call's forward holds its components (the glue is what is left): so do the medians.
    assert medians["whole forward"] >= medians["sum of components"]


def test_inference_rows_list_every_component_and_a_delayed_one_alone_rises(
    component_times, clock, monkeypatch
):
    base = component_times.main(ARGS)
    assert base["components"] == COMPONENTS
    delayed = _delayed(FusionStack.forward, clock, DELAY_MS / 1000)
    monkeypatch.setattr(FusionStack, "forward", delayed)
    rise = _rises(base["medians"], component_times.main(ARGS)["medians"])
    _check(rise, {"fusion": DELAY_MS, "sum of components": DELAY_MS, "whole forward": DELAY_MS})


def test_train_step_splits_frozen_trainable_backward_and_optimizer(
    component_times, clock, monkeypatch
):
    base = component_times.main(ARGS + ["--train"])["medians"]
    # Three different delays, so that swapping two rows would show.
    u2netp = U2NET_CLASSES["u2netp"]
    monkeypatch.setattr(u2netp, "features", _delayed(u2netp.features, clock, DELAY_MS / 1000))
    clip = torch.nn.utils.clip_grad_norm_
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", _delayed(clip, clock, DELAY_MS / 2000))
    # Wrapped again by the optimizer's step hooks when it is built: the delay is inside them.
    adamw = torch.optim.AdamW
    monkeypatch.setattr(adamw, "step", _delayed(adamw.step, clock, 1.5 * DELAY_MS / 1000))
    rise = _rises(base, component_times.main(ARGS + ["--train"])["medians"])
    _check(
        rise,
        {
            "u2net": DELAY_MS,
            "frozen branches' forward": DELAY_MS,
            "sum of components": DELAY_MS,
            "whole forward": DELAY_MS,
            "loss + backward + clip": DELAY_MS / 2,
            "AdamW step": 1.5 * DELAY_MS,
            "whole step": 3 * DELAY_MS,
        },
    )


LEVELS = [f"  fusion stride {s}" for s in (1, 2, 4, 8, 16, 32)]


def test_each_fusion_level_has_its_row_inside_the_fusion_and_out_of_the_sums(
    component_times, clock, monkeypatch
):
    base = component_times.main(ARGS)["medians"]
    names = list(base)
    at = names.index("fusion")
    assert names[at + 1 : at + 7] == LEVELS  # right under the fusion, finest first
    original = DenseResidualFusion.forward

    def slow_at_full_resolution(self, u2net, hiera):  # stride 1: S = 64 wide
        if u2net.shape[-1] == 64:
            clock.delay(DELAY_MS / 1000)
        return original(self, u2net, hiera)

    monkeypatch.setattr(DenseResidualFusion, "forward", slow_at_full_resolution)
    rise = _rises(base, component_times.main(ARGS)["medians"])
    # Counted once in the sums: a level summed beside its fusion would double the delay there.
    delayed_rows = (LEVELS[0], "fusion", "sum of components", "whole forward")
    _check(rise, dict.fromkeys(delayed_rows, DELAY_MS))

"""The A/B timing of benchmarks/ (efficiency.alternating): forms alternate call by call, the
warm-up round is not timed, the printed ratio is of medians, and the printed difference of
the outputs shows a NaN in any of them."""

from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path

import pytest
import torch

from pmgsam.efficiency import alternating
from pmgsam.efficiency.alternating import (
    ab_parser,
    largest_difference,
    prepare,
    time_alternating,
)


class FakeClock:
    """``time.perf_counter`` that advances only when a form says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _args(iters: int, dtype: str = "fp32"):
    return ab_parser("t", ["x"], "x", 8).parse_args(["--iters", str(iters), "--dtype", dtype])


def test_forms_alternate_the_warm_up_is_untimed_and_the_ratio_is_of_medians(monkeypatch, capsys):
    clock = FakeClock()
    monkeypatch.setattr(alternating.time, "perf_counter", clock)
    calls = []
    # Seconds per call, warm-up first: slow A's mean (4 s) differs from its median (1 s).
    cost = {"A": iter([100.0, 1.0, 10.0, 1.0]), "B": iter([100.0, 0.5, 0.5, 0.5])}

    def form(name):
        def call():
            calls.append(name)
            assert torch.is_inference_mode_enabled()
            clock.now += next(cost[name])
            return [torch.zeros(2)]

        return call

    times = time_alternating({"A": form("A"), "B": form("B")}, _args(3))
    assert calls == ["A", "B"] * 4  # one warm-up round, then 3, alternating
    assert times == {"A": [1.0, 10.0, 1.0], "B": [0.5, 0.5, 0.5]}
    out = capsys.readouterr().out
    assert "A  median    1000.0 ms  (runs: 1000, 10000, 1000)" in out
    assert "speed-up A / B: 2.00x | max |diff| of the outputs 0.00e+00" in out


def test_bf16_runs_the_forms_under_autocast():
    seen = []

    def call():
        seen.append(torch.is_autocast_enabled("cpu"))
        return [torch.zeros(1)]

    time_alternating({"a": call, "b": call}, _args(1, "bf16"))
    time_alternating({"a": call, "b": call}, _args(1, "fp32"))
    assert seen == [True] * 4 + [False] * 4


def test_the_printed_difference_covers_every_output_and_shows_a_nan_in_any(capsys):
    same = [torch.zeros(3), torch.ones(2, 2)]
    assert largest_difference(same, [torch.zeros(3), torch.full((2, 2), 1.25)], "a", "b") == 0.25
    # A NaN in the second stage map: Python's max() over the per-map values dropped it.
    broken = [torch.zeros(3), torch.tensor([[1.0, math.nan], [1.0, 1.0]])]
    for forms in (
        {"a": lambda: same, "b": lambda: broken},
        {"a": lambda: broken, "b": lambda: same},
    ):
        time_alternating(forms, _args(1))
        assert capsys.readouterr().out.endswith("max |diff| of the outputs nan\n")


def test_outputs_of_another_shape_are_refused_not_broadcast():
    forms = {"a": lambda: [torch.zeros(2, 3)], "b": lambda: [torch.zeros(2, 1)]}
    with pytest.raises(ValueError, match=r"differ in shape: a gives \[\(2, 3\)\], b \[\(2, 1\)\]"):
        time_alternating(forms, _args(1))
    with pytest.raises(ValueError, match="differ in shape"):  # a stage map missing
        largest_difference([torch.zeros(2), torch.zeros(2)], [torch.zeros(2)], "a", "b")


def test_prepare_seeds_torch_and_sets_the_threads():
    before = torch.get_num_threads()
    args = ab_parser("t", ["x"], "x", 8).parse_args(["--threads", "1"])
    try:
        torch.manual_seed(123)
        assert prepare(args) == torch.device("cpu")
        drawn = torch.rand(3)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    torch.manual_seed(0)
    assert torch.equal(drawn, torch.rand(3))  # the same weights and input on every run


def test_each_call_is_timed_between_two_device_synchronisations(monkeypatch):
    # On CUDA a call only queues kernels: without the second sync the time is the queueing's.
    events = []
    monkeypatch.setattr(alternating, "synchronize", lambda device: events.append("sync"))
    forms = {n: (lambda n=n: events.append(n) or [torch.zeros(1)]) for n in ("a", "b")}
    time_alternating(forms, _args(1))
    assert events == ["sync", "a", "sync", "sync", "b", "sync"] * 2


@pytest.mark.parametrize("script", ["hiera_attention", "u2net_bn_fold"])
def test_the_defaults_are_those_the_benchmarks_usage_lines_show(script):
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{script}.py"
    spec = importlib.util.spec_from_file_location(script, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shown = dict(re.findall(r"\[--([a-z]+) ([a-z0-9_]+)\]", module.__doc__))  # [--iters 5]
    assert {"variant", "size", "batch", "iters"} <= set(shown)
    args = module.build_parser().parse_args([])
    assert {k: str(getattr(args, k)) for k in shown} == shown
    assert (args.dtype, args.device, args.threads) == ("fp32", "cpu", None)  # 'fp32|bf16' first


def test_forms_with_no_outputs_are_refused_naming_them():
    with pytest.raises(ValueError, match="no outputs to compare: fused and eager each returned"):
        largest_difference([], [], "fused", "eager")
    with pytest.raises(ValueError, match="no outputs to compare: a and b"):
        time_alternating({"a": lambda: [], "b": lambda: ()}, _args(1))


def test_prepare_gives_the_device_asked_for():
    args = ab_parser("t", ["x"], "x", 8).parse_args(["--device", "meta"])
    assert prepare(args) == torch.device("meta")


def test_the_options_take_batch_size_and_refuse_other_dtypes_and_no_rounds(capsys):
    parser = ab_parser("t", ["x"], "x", 8)
    assert parser.parse_args(["--batch-size", "4"]).batch == 4  # as every other command
    for argv in (["--dtype", "fp16"], ["--iters", "0"]):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)
        assert argv[0] in capsys.readouterr().err

"""The efficiency report's check that a compiled or graph-replayed forward computes the eager
one's outputs (pmgsam/efficiency/agreement.py): on a batch it was not timed on, against the
eager forward, beside the difference a stale output would show."""

from __future__ import annotations

import math

import pytest
import torch
from stand_in_models import ReportStandIn
from torch import nn

import pmgsam.efficiency.report as report_mod
from pmgsam.efficiency.agreement import (
    SUSPECT_SHARE,
    can_force_eager,
    describe,
    eager_agreement,
    force_eager,
    suspect,
)
from pmgsam.engine.performance_config import PerformanceConfig

pytestmark = pytest.mark.usefixtures("one_thread")
needs_stance = pytest.mark.skipif(not can_force_eager(), reason="torch < 2.6: no set_stance")


class _Linear(nn.Module):
    """mask = 2·(first channel) + 0.5, and 100 more in training mode."""

    def forward(self, images: torch.Tensor) -> dict:
        out = 2.0 * images[:, :1] + 0.5
        return {"mask": out + 100.0 if self.training else out}


@pytest.fixture
def dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _images(seed: int = 0) -> torch.Tensor:
    return torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(seed))


def test_the_same_path_agrees_exactly_and_another_batch_is_measured_by_hand() -> None:
    model, timed = _Linear().eval(), _images()
    got = eager_agreement(model, model, timed, "fp32", compiled=False)
    assert got["mean_abs_diff"] == got["max_abs_diff"] == 0.0
    # The new batch is drawn from its own generator (seed 1), laid out as the timed one.
    fresh = torch.empty_like(timed).uniform_(generator=torch.Generator().manual_seed(1))
    by_hand = (2.0 * (timed[:, :1] - fresh[:, :1])).abs().mean().item()
    assert got["other_batch_mean_abs_diff"] == pytest.approx(by_hand, rel=1e-6)
    assert got["suspect"] is False


def test_a_replay_of_the_timed_batch_is_as_far_as_another_batch_and_called_suspect() -> None:
    model, timed = _Linear().eval(), _images()

    def stale(images: torch.Tensor) -> dict:  # a CUDA graph that never copied its input in
        return model(timed)

    got = eager_agreement(stale, model, timed, "fp32", compiled=False)
    assert got["mean_abs_diff"] == pytest.approx(got["other_batch_mean_abs_diff"], rel=1e-6)
    assert got["suspect"] is True
    assert "AS FAR AS ANOTHER BATCH'S" in describe(got)


def test_a_constant_offset_is_reported_as_it_is() -> None:
    model, timed = _Linear().eval(), _images()
    got = eager_agreement(lambda x: {"mask": model(x)["mask"] + 0.25}, model, timed, "fp32", False)
    assert got["mean_abs_diff"] == pytest.approx(0.25)
    assert got["max_abs_diff"] == pytest.approx(0.25)


@pytest.mark.parametrize(
    "mean, other, expected",
    [(0.0, 0.02, False), (0.0099, 0.02, False), (0.01, 0.02, True), (0.03, 0.02, True),
     (math.nan, 0.02, True), (0.0, 0.0, False), (1e-3, 0.0, True)],
)  # fmt: skip
def test_suspect_from_half_of_another_batchs_difference(mean, other, expected) -> None:
    assert SUSPECT_SHARE == 0.5
    rec = {"mean_abs_diff": mean, "max_abs_diff": mean, "other_batch_mean_abs_diff": other}
    assert suspect(rec) is expected
    assert ("AS FAR AS" in describe(rec)) is expected
    assert suspect(None) is False


def test_training_mode_compares_in_the_callers_mode_with_autograd_on_for_the_timed_path() -> None:
    model, timed = _Linear().train(), _images()
    seen = []

    def net(images: torch.Tensor) -> dict:
        seen.append(torch.is_grad_enabled())
        return model(images)

    got = eager_agreement(net, model, timed, "fp32", train=True, compiled=False)
    assert seen == [True]  # a compiled training graph is keyed by grad mode
    assert got["mean_abs_diff"] == 0.0  # both in train mode: eval for one would differ by 100
    assert model.training


@needs_stance
def test_the_reference_runs_no_compiled_code(dynamo) -> None:
    calls = []

    def counting(gm, example_inputs):
        def run(*args):
            calls.append(1)
            return gm(*args)

        return run

    model, timed = _Linear().eval(), _images()
    model.compile(backend=counting, dynamic=False)
    with torch.inference_mode():
        model(timed)  # compiled (as the timing's calls did)
    calls.clear()
    got = eager_agreement(model, model, timed, "fp32")
    assert len(calls) == 1  # the timed path alone; its two eager calls ran no graph
    assert got["mean_abs_diff"] == 0.0
    with force_eager(), torch.inference_mode():
        model(timed)
    assert len(calls) == 1


def test_force_eager_names_the_torch_it_needs(monkeypatch) -> None:
    monkeypatch.delattr(torch.compiler, "set_stance", raising=False)
    assert not can_force_eager()
    with pytest.raises(RuntimeError, match="set_stance"):
        with force_eager():
            pass


@pytest.fixture
def stand_in(monkeypatch) -> None:
    """The report builds a one-convolution model (the comparison reads only its mask)."""
    monkeypatch.setattr(report_mod, "build_model", lambda name, **kw: ReportStandIn(16))


def _report(perf: PerformanceConfig) -> dict:
    return report_mod.efficiency_report("pmgsam_tiny", iters=1, warmup=0, perf=perf, progress=False)


def test_only_graphed_or_compiled_records_carry_the_comparison(stand_in) -> None:
    plain = _report(PerformanceConfig())["records"][0]
    assert "vs_eager" not in plain
    graphed = _report(PerformanceConfig(cuda_graphs=True))
    rec = graphed["records"][0]
    # On a CPU the graphs run eagerly, so the paths agree; another batch differs.
    assert rec["vs_eager"]["mean_abs_diff"] == 0.0
    assert rec["vs_eager"]["other_batch_mean_abs_diff"] > 0.0
    assert "vs eager on an untimed batch" in report_mod.format_report(graphed)


@needs_stance
def test_a_compiled_record_compares_with_compile_turned_off(dynamo, stand_in, monkeypatch) -> None:
    handed = []

    def eager_backend(net, perf):  # the report's compile step, without code generation
        net.conv.compile(backend="eager", dynamic=False)
        return net

    def recording(*args, **kwargs):
        handed.append(args[-1] if len(args) == 6 else kwargs.get("compiled"))
        return eager_agreement(*args, **kwargs)

    monkeypatch.setattr(report_mod, "maybe_compile", eager_backend)
    monkeypatch.setattr(report_mod, "eager_agreement", recording)
    rec = _report(PerformanceConfig(compile=True, compile_scope="regional"))["records"][0]
    assert handed == [True]
    assert rec["vs_eager"]["mean_abs_diff"] < 1e-6 and rec["vs_eager"]["suspect"] is False


def test_before_torch_2_6_a_compiled_record_goes_unchecked(dynamo, stand_in, monkeypatch) -> None:
    monkeypatch.setattr(report_mod, "maybe_compile", lambda net, perf: net)
    monkeypatch.delattr(torch.compiler, "set_stance", raising=False)
    perf = PerformanceConfig(compile=True, compile_scope="model", cuda_graphs=True)
    assert "vs_eager" not in _report(perf)["records"][0]  # and no error
    assert "vs_eager" in _report(PerformanceConfig(cuda_graphs=True))["records"][0]

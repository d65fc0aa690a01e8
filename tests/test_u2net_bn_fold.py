"""The frozen U²-Net's BatchNorm folding (``performance.fold_frozen_batchnorm``): the folded
path equals conv → BatchNorm → ReLU in eval mode, leaves the module structure and state dict
alone, never runs in train mode or for trainable weights, and never uses a stale fold."""

from __future__ import annotations

import copy
import io
import json
from typing import Tuple

import pytest
import torch
from cli_cases import benchmark_module
from torch import nn

import pmgsam.efficiency.report as report_mod
from pmgsam.engine.performance import prepare_model
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.modeling.u2net import REBNCONV, U2NETP, set_batchnorm_folding


def randomise_batchnorms(net: nn.Module, seed: int = 0, min_var: float = 0.01) -> nn.Module:
    """Far from the identity a default BatchNorm is, so a missing or partial fold shows. With
    the default ``min_var`` a unit's running variances are small enough that dropping ``eps``
    moves outputs by ~1e-3; a whole network needs larger ones (each unit would scale its
    input by up to 15 and the outputs overflow)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for bn in (m for m in net.modules() if isinstance(m, nn.BatchNorm2d)):
            n = bn.num_features
            bn.running_mean.copy_(torch.rand(n, generator=gen) * 2 - 1)
            bn.running_var.copy_(torch.rand(n, generator=gen) * 9 * min_var + min_var)
            bn.weight.copy_(torch.rand(n, generator=gen) + 0.5)
            bn.bias.copy_(torch.rand(n, generator=gen) - 0.5)
    return net


def frozen_unit(seed: int = 0) -> REBNCONV:
    torch.manual_seed(seed)
    return randomise_batchnorms(REBNCONV(3, 8, dirate=2), seed).eval().requires_grad_(False)


def folded_once() -> Tuple[REBNCONV, torch.Tensor]:
    """A frozen unit with folding on, and the input of its one call so far (the fold made)."""
    unit = frozen_unit()
    unit.set_batchnorm_folding(True)
    x = torch.randn(1, 3, 8, 8)
    unit(x)
    return unit, x


def by_hand(unit: REBNCONV, x: torch.Tensor, eps=None) -> torch.Tensor:
    """Eval-mode conv → BatchNorm → ReLU written out from the BatchNorm formula (``eps``: the
    BatchNorm's own unless given)."""
    conv, bn = unit.conv_s1, unit.bn_s1
    y = nn.functional.conv2d(x, conv.weight, conv.bias, padding=2, dilation=2)
    shape = (1, -1, 1, 1)
    eps = bn.eps if eps is None else eps
    scale = (bn.weight / torch.sqrt(bn.running_var + eps)).reshape(shape)
    return torch.relu((y - bn.running_mean.reshape(shape)) * scale + bn.bias.reshape(shape))


def close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-5) -> bool:
    assert torch.isfinite(b).all()
    return (a - b).abs().max().item() <= rtol * b.abs().max().item()


def test_the_fold_equals_the_batchnorm_formula_and_a_wrong_fold_would_not() -> None:
    unit = frozen_unit()
    x = torch.randn(2, 3, 16, 16)
    expected = by_hand(unit, x)
    assert close(unit(x), expected)  # unfolded
    unit.set_batchnorm_folding(True)
    assert unit.folded_weight is not None  # the folded path is the one taken
    assert close(unit(x), expected)
    # The data tell plausible wrong folds apart at this tolerance: without eps (by hand: torch
    # 2.11's batch_norm refuses eps 0), without the running mean (the unfolded path of a unit so
    # changed computes what such a fold would).
    assert not close(by_hand(unit, x, eps=0.0), expected)
    no_mean = copy.deepcopy(unit)
    no_mean.bn_s1.running_mean.zero_()
    no_mean.set_batchnorm_folding(False)
    assert not close(no_mean(x), expected)


def test_a_folded_u2netp_equals_the_unfolded_one() -> None:
    torch.manual_seed(0)
    net = randomise_batchnorms(U2NETP(), min_var=0.2).eval().requires_grad_(False)
    x = torch.rand(1, 3, 32, 32)
    expected = net.features(x)
    assert set_batchnorm_folding(net, True) == 112  # every REBNCONV of U²-NetP
    for out, ref in zip(net.features(x), expected):
        assert close(out, ref)
    assert set_batchnorm_folding(net, False) == 112
    assert all(m.folded_weight is None for m in net.modules() if isinstance(m, REBNCONV))


def test_state_dict_and_parameters_are_unchanged_by_folding() -> None:
    unit = frozen_unit()
    before = {k: v.clone() for k, v in unit.state_dict().items()}
    params = [name for name, _ in unit.named_parameters()]
    unit.set_batchnorm_folding(True)
    unit(torch.randn(1, 3, 8, 8))
    after = unit.state_dict()
    assert list(after) == list(before)  # the official checkpoint keys, in order
    assert all(torch.equal(after[k], v) for k, v in before.items())
    assert [name for name, _ in unit.named_parameters()] == params
    unit.load_state_dict(before, strict=True)


def test_train_mode_runs_the_batchnorm_on_batch_statistics_with_gradients() -> None:
    unit = frozen_unit()
    twin = copy.deepcopy(unit)
    unit.set_batchnorm_folding(True)
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    unit.train()
    twin.train()
    out = unit(x)
    assert torch.equal(out, twin(x))
    assert not close(out, by_hand(twin, x))  # batch statistics, not the running ones
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # Train mode moved the running statistics: back in eval mode the fold follows them.
    unit.eval()
    twin.eval()
    assert close(unit(x.detach()), by_hand(twin, x.detach()))


def test_trainable_weights_are_not_folded_so_their_gradients_flow() -> None:
    unit = frozen_unit().requires_grad_(True)
    unit.set_batchnorm_folding(True)
    unit(torch.randn(1, 3, 8, 8)).sum().backward()
    assert unit.conv_s1.weight.grad is not None and unit.bn_s1.weight.grad is not None


def other_weights(seed: int) -> dict:
    return frozen_unit(seed).state_dict()


@pytest.mark.parametrize("assign", [False, True], ids=["copy", "assign"])
def test_weights_loaded_after_folding_are_used(assign: bool) -> None:
    unit, x = folded_once()
    unit.load_state_dict(other_weights(1), assign=assign)
    if assign:  # assign=True keeps the loaded tensors' requires_grad (False here)
        assert not unit.conv_s1.weight.requires_grad
    expected = by_hand(frozen_unit(1), x)
    assert close(unit(x), expected)
    assert unit.folded_weight is not None


def test_an_in_place_edit_of_a_running_variance_is_followed() -> None:
    unit, x = folded_once()
    with torch.no_grad():
        unit.bn_s1.running_var.mul_(4.0)
        nn.init.normal_(unit.conv_s1.weight)
    assert close(unit(x), by_hand(unit, x))


def test_a_changed_eps_is_followed() -> None:
    unit, x = folded_once()
    unit.bn_s1.eps = 0.05
    assert close(unit(x), by_hand(unit, x))


def test_double_precision_after_folding_is_right() -> None:
    unit, x = folded_once()
    unit.double()
    out = unit(x.double())
    assert out.dtype == torch.float64 and unit.folded_weight.dtype == torch.float64
    assert close(out, by_hand(unit, x.double()), rtol=1e-12)


def test_a_fold_made_in_inference_mode_serves_a_call_that_needs_gradients() -> None:
    unit = frozen_unit()
    unit.set_batchnorm_folding(True)
    unit.load_state_dict(other_weights(1))  # stale: the next call refolds
    with torch.inference_mode():
        unit(torch.randn(1, 3, 8, 8))
    x = torch.randn(1, 3, 8, 8, requires_grad=True)
    unit(x).sum().backward()  # an inference tensor as weight could not be saved for this
    assert x.grad is not None


def test_a_folded_module_saves_and_copies() -> None:
    unit = frozen_unit()
    unit.set_batchnorm_folding(True)
    x = torch.randn(1, 3, 8, 8)
    expected = unit(x)
    buffer = io.BytesIO()
    torch.save(unit, buffer)  # the staleness record holds weak references
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    assert close(loaded(x), expected)
    assert close(copy.deepcopy(unit)(x), expected)


def test_torch_compile_traces_a_folded_unit_whole() -> None:
    # The staleness check (weak references, version counters) cannot be traced: compiled
    # code takes the conv → BatchNorm → ReLU path, as one graph.
    unit = frozen_unit()
    unit.set_batchnorm_folding(True)
    x = torch.randn(1, 3, 8, 8)
    compiled = torch.compile(unit, backend="eager", fullgraph=True)
    assert close(compiled(x), by_hand(unit, x))


def test_prepare_model_folds_only_a_frozen_branch_and_unfolds_again(small_tiny_model) -> None:
    model = copy.deepcopy(small_tiny_model).eval()
    units = [m for m in model.u2net.modules() if isinstance(m, REBNCONV)]
    prepare_model(model, PerformanceConfig())  # on by default
    assert all(u.fold_batchnorm and u.folded_weight is not None for u in units)
    prepare_model(model, PerformanceConfig(fold_frozen_batchnorm=False))
    assert not any(u.fold_batchnorm or u.folded_weight is not None for u in units)
    model.u2net.requires_grad_(True)  # a user fine-tuning the branch
    prepare_model(model, PerformanceConfig())
    assert not any(u.fold_batchnorm for u in units)


def test_pmgsam_tiny_gives_the_same_outputs_folded(small_tiny_model) -> None:
    model = copy.deepcopy(small_tiny_model).eval()
    randomise_batchnorms(model.u2net, min_var=0.2)
    images = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    prepare_model(model, PerformanceConfig(fold_frozen_batchnorm=False))
    with torch.no_grad():
        unfolded = model(images)
    prepare_model(model, PerformanceConfig())
    with torch.no_grad():
        folded = model(images)
    assert model.u2net.stage1.rebnconvin.folded_weight is not None
    for key in ("pre_mask", "mask"):
        assert close(folded[key], unfolded[key], rtol=1e-4)


SPEED = {"latency_ms_median": 50.0, "images_per_s": 20.0, "first_call_ms": 60.0,
         "peak_memory_mb": 700.0, "peak_reserved_mb": 800.0}  # fmt: skip


def test_a_timing_says_whether_it_folded_in_its_record_and_row(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(report_mod, "git_commit", lambda: "c0ffee")
    cpu = torch.device("cpu")
    unfolded = report_mod._environment(cpu, "fp32", PerformanceConfig(fold_frozen_batchnorm=False))
    assert unfolded["fold_frozen_batchnorm"] is False
    # Recorded when on too: a record from before the option (no key) ran unfolded, and must
    # not read as today's folded default.
    assert report_mod._environment(cpu, "fp32", PerformanceConfig())["fold_frozen_batchnorm"]
    report = {**unfolded, "model": "m", "batch": 1, "image_size": 64}
    assert report_mod.make_record(report, "inference", SPEED)["fold_frozen_batchnorm"] is False
    # A compared SAM generator has no U²-Net: its record does not claim the setting.
    assert "fold_frozen_batchnorm" not in report_mod.make_record(report, "sam_amg", SPEED)
    rec = {"device": "cpu", "mode": "inference", "model": "pmgsam_tiny", "dtype": "fp32",
           "batch": 1, "image_size": 64, "compile": False, "images_per_s": 4.0,
           "latency_ms": 250.0, "peak_memory_mb": None, "torch": "2.x",
           "commit": "0123456789abcdef"}  # fmt: skip
    (tmp_path / "a.json").write_text(json.dumps([{**rec, "fold_frozen_batchnorm": True}]))
    (tmp_path / "b.json").write_text(json.dumps([{**rec, "fold_frozen_batchnorm": False}]))
    (tmp_path / "c.json").write_text(json.dumps([rec]))  # made before the option: unfolded
    render_table = benchmark_module("render_table")
    rows = render_table.render(render_table.load_records(tmp_path)).splitlines()[2:]
    assert "| False | bn-fold | 4 | 250.0 |" in rows[0]
    assert "| False | – | 4 | 250.0 |" in rows[1]
    assert "| False | – | 4 | 250.0 |" in rows[2]


def test_a_run_row_timed_folded_names_it() -> None:
    from pmgsam.evaluation.run_efficiency import _speed_options

    # Like channels-last and cuDNN's timing: named when on. A report made before the option
    # (no key) ran unfolded and must not read as like with a folded one.
    assert _speed_options({"fold_frozen_batchnorm": True}) == ["bn-fold"]
    assert _speed_options({"fold_frozen_batchnorm": False}) == []
    assert _speed_options({}) == []

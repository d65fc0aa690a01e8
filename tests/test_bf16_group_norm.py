"""``performance.bf16_group_norm``: the fusion's GroupNorms computed in bf16 under autocast.

CUDA autocast computes ``group_norm`` in float32 (a bf16 map cast up, normalised, cast back);
with the option the kernel gets the bf16 map and bf16 affine parameters. On a CPU autocast
already keeps group_norm in bf16, so the CPU tests check the call the option makes and its
values against a GroupNorm written out by hand; the CUDA test checks the kernel's input dtype.
"""

from __future__ import annotations

import copy
from typing import List, Tuple

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from pmgsam.engine.performance import prepare_model
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.modeling.common import GroupNormGELU, InputDtypeGroupNorm, group_norm

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _by_hand(x: torch.Tensor, groups: int, weight, bias, eps: float) -> torch.Tensor:
    """GroupNorm in float64: each group's mean and biased variance over its channels and
    pixels, then the per-channel affine map."""
    n, c, h, w = x.shape
    g = x.double().reshape(n, groups, -1)
    mean = g.mean(-1, keepdim=True)
    var = ((g - mean) ** 2).mean(-1, keepdim=True)
    y = ((g - mean) / torch.sqrt(var + eps)).reshape(n, c, h, w)
    return y * weight.double()[:, None, None] + bias.double()[:, None, None]


def _norm(cls=InputDtypeGroupNorm, low_precision: bool = True) -> InputDtypeGroupNorm:
    torch.manual_seed(0)
    norm = cls(4, 8)
    with torch.no_grad():  # not the identity affine map: a dropped weight or bias must show
        norm.weight.uniform_(0.5, 2.0)
        norm.bias.uniform_(-1.0, 1.0)
    norm.low_precision = low_precision
    return norm


class _GroupNormInputs(TorchDispatchMode):
    """The dtypes of every group-norm kernel's input and weight (below autocast's casts)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: List[Tuple[torch.dtype, torch.dtype]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        # Under inference mode the composite group_norm arrives whole, else its native kernel.
        if func is torch.ops.aten.native_group_norm.default:
            self.seen.append((args[0].dtype, args[1].dtype))
        elif func is torch.ops.aten.group_norm.default:
            self.seen.append((args[0].dtype, args[2].dtype))
        return func(*args, **(kwargs or {}))


def test_on_under_autocast_the_group_norm_call_gets_bf16_input_and_parameters(monkeypatch):
    calls = []
    original = F.group_norm

    def spy(x, groups, weight=None, bias=None, eps=1e-5):
        calls.append((x.dtype, weight.dtype, bias.dtype, torch.is_autocast_enabled("cpu")))
        return original(x, groups, weight, bias, eps)

    monkeypatch.setattr(F, "group_norm", spy)
    x = torch.randn(2, 8, 6, 6).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y_on = _norm(low_precision=True)(x)
        y_off = _norm(low_precision=False)(x)
    assert calls[0] == (torch.bfloat16, torch.bfloat16, torch.bfloat16, False)
    assert calls[1] == (torch.bfloat16, torch.float32, torch.float32, True)  # nn.GroupNorm's
    assert y_on.dtype == y_off.dtype == torch.bfloat16


@pytest.mark.parametrize("cls", [InputDtypeGroupNorm, GroupNormGELU])
def test_the_bf16_values_are_a_group_norm_within_bf16_rounding(cls) -> None:
    torch.manual_seed(1)
    x = (3.0 * torch.randn(2, 8, 10, 10) + 1.5).bfloat16()
    norm = _norm(cls)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = norm(x)
    want = _by_hand(x, 4, norm.weight.bfloat16(), norm.bias.bfloat16(), norm.eps)
    if cls is GroupNormGELU:
        want = F.gelu(want)
    # bf16 keeps 8 significant bits: the output's own rounding and the parameters' cast.
    torch.testing.assert_close(y.double(), want, rtol=2e-2, atol=2e-2)
    # A wrong group count (each channel its own group) would be far off.
    wrong = _by_hand(x, 8, norm.weight, norm.bias, norm.eps)
    if cls is GroupNormGELU:
        wrong = F.gelu(wrong)
    assert (y.double() - wrong).abs().max() > 0.1


def test_gradients_reach_the_float32_parameters() -> None:
    x = torch.randn(2, 8, 6, 6).bfloat16().requires_grad_()
    norm = _norm(GroupNormGELU)
    reference = copy.deepcopy(norm)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        norm(x).float().square().sum().backward()
    reference(x.detach().float()).square().sum().backward()
    assert norm.weight.grad.dtype == torch.float32
    torch.testing.assert_close(norm.weight.grad, reference.weight.grad, rtol=5e-2, atol=5e-2)
    torch.testing.assert_close(norm.bias.grad, reference.bias.grad, rtol=5e-2, atol=5e-2)
    assert x.grad is not None and x.grad.dtype == torch.bfloat16


def test_off_or_in_float32_it_is_nn_group_norm() -> None:
    x = torch.randn(2, 8, 6, 6)
    theirs = torch.nn.GroupNorm(4, 8)
    theirs.load_state_dict(_norm().state_dict())
    for low_precision in (False, True):  # float32 input: the option does nothing
        assert torch.equal(_norm(low_precision=low_precision)(x), theirs(x))
    assert set(group_norm(8).state_dict()) == {"weight", "bias"}


def test_prepare_model_sets_every_fusion_norm_both_ways(small_tiny_model) -> None:
    model = copy.deepcopy(small_tiny_model).eval()
    norms = [m for m in model.modules() if isinstance(m, InputDtypeGroupNorm)]
    # pmgsam_tiny: one SRB per level with one dense step (its GroupNorm-GELU and output
    # GroupNorm), six levels, and the FeatRefiner's GroupNorm-GELU.
    assert len(norms) == 6 * 2 + 1
    prepare_model(model, PerformanceConfig(bf16_group_norm=True))
    assert all(n.low_precision for n in norms)
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        on = model(x)["mask"].float()
        prepare_model(model, PerformanceConfig(bf16_group_norm=False))
        off = model(x)["mask"].float()
    assert not any(n.low_precision for n in norms)
    torch.testing.assert_close(on, off, rtol=0.05, atol=0.05)


def _kernel_dtypes(model, device: str, on: bool, grad: bool) -> set:
    prepare_model(model, PerformanceConfig(bf16_group_norm=on))
    mode = _GroupNormInputs()
    x = torch.rand(1, 3, 64, 64, device=device)
    context = torch.enable_grad() if grad else torch.inference_mode()
    with context, torch.autocast(device, dtype=torch.bfloat16), mode:
        model(x, check_range=False)
    assert len(mode.seen) == 13, mode.seen
    return set(mode.seen)


@pytest.mark.parametrize("grad", [False, True], ids=["inference", "training"])
def test_on_a_cpu_the_kernels_get_bf16_parameters_only_with_the_option(small_tiny_model, grad):
    model = copy.deepcopy(small_tiny_model).eval()
    # CPU autocast keeps group_norm's input in bf16 either way; off, the parameters stay fp32.
    assert _kernel_dtypes(model, "cpu", False, grad) == {(torch.bfloat16, torch.float32)}
    assert _kernel_dtypes(model, "cpu", True, grad) == {(torch.bfloat16, torch.bfloat16)}


@cuda
@pytest.mark.parametrize("grad", [False, True], ids=["inference", "training"])
def test_under_cuda_autocast_the_kernel_reads_bf16_only_with_the_option(small_tiny_model, grad):
    model = copy.deepcopy(small_tiny_model).cuda().eval()
    # Off: CUDA autocast's float32 policy for group_norm; on: the bf16 map and parameters.
    assert _kernel_dtypes(model, "cuda", False, grad) == {(torch.float32, torch.float32)}
    assert _kernel_dtypes(model, "cuda", True, grad) == {(torch.bfloat16, torch.bfloat16)}
    x = torch.rand(1, 3, 64, 64, device="cuda")
    results = {}
    for on in (False, True):
        prepare_model(model, PerformanceConfig(bf16_group_norm=on))
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
            results[on] = model(x, check_range=False)["mask"].float()
    torch.testing.assert_close(results[True], results[False], rtol=0.05, atol=0.05)


def test_it_compiles_into_one_graph_with_the_same_values() -> None:
    # Regional compile puts whole SRBs in one graph: the autocast switch inside must not break it.
    norm = _norm(GroupNormGELU)
    compiled = torch.compile(norm, backend="eager", fullgraph=True)
    x = torch.randn(2, 8, 6, 6).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(compiled(x), norm(x))

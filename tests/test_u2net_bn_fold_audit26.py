"""Audit of the U²-Net BatchNorm folding (REBNCONV): the staleness record follows every way a
source can change (``.data`` assignment, unfreezing, a new tensor at a freed one's address,
inference-mode weights), the fold is made once and kept, a bf16 fold is rounded once, a
BatchNorm without running statistics is not folded, and a channels-last model is folded in
channels-last."""

from __future__ import annotations

import copy

import torch
from torch import nn

from pmgsam.engine.performance import prepare_model
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.modeling.u2net import REBNCONV


def frozen_unit(seed: int = 0, dirate: int = 2) -> REBNCONV:
    """A unit whose BatchNorm is far from the identity, so that a stale or missing fold shows."""
    torch.manual_seed(seed)
    unit = REBNCONV(3, 8, dirate=dirate)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        bn = unit.bn_s1
        bn.running_mean.copy_(torch.rand(8, generator=gen) * 2 - 1)
        bn.running_var.copy_(torch.rand(8, generator=gen) * 0.9 + 0.1)
        bn.weight.copy_(torch.rand(8, generator=gen) + 0.5)
        bn.bias.copy_(torch.rand(8, generator=gen) - 0.5)
    return unit.eval().requires_grad_(False)


def by_hand(unit: REBNCONV, x: torch.Tensor) -> torch.Tensor:
    """Eval-mode conv → BatchNorm → ReLU from the BatchNorm formula, in float64."""
    conv, bn = unit.conv_s1, unit.bn_s1
    d = conv.dilation
    y = nn.functional.conv2d(
        x.double(), conv.weight.double(), conv.bias.double(), padding=d, dilation=d
    )
    shape = (1, -1, 1, 1)
    scale = (bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)).reshape(shape)
    shift = bn.bias.double().reshape(shape) - bn.running_mean.double().reshape(shape) * scale
    return torch.relu(y * scale + shift)


def close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-5) -> bool:
    return (a.double() - b.double()).abs().max().item() <= rtol * b.abs().max().item()


def test_the_fold_is_made_once_and_kept_while_nothing_changes() -> None:
    # The speed-up rests on folding once: a fold redone on every call (a key never recorded,
    # or never read as current) gives the same numbers but costs a pass over the weights.
    unit = frozen_unit()
    unit.set_batchnorm_folding(True)
    weight, bias = unit.folded_weight, unit.folded_bias
    x = torch.randn(1, 3, 8, 8)
    for _ in range(2):
        unit(x)
    assert unit.folded_weight is weight and unit.folded_bias is bias


def test_unfreezing_a_folded_unit_gives_its_weights_gradients() -> None:
    # A user fine-tuning the branch after prepare_model folded it: requires_grad_ changes no
    # tensor's version or address, only its requires_grad, which the record must follow.
    unit = frozen_unit()
    unit.set_batchnorm_folding(True)
    x = torch.randn(1, 3, 8, 8)
    unit(x)
    unit.requires_grad_(True)
    unit(x).sum().backward()
    assert unit.conv_s1.weight.grad is not None and unit.bn_s1.weight.grad is not None
    assert unit.conv_s1.weight.grad.abs().sum() > 0


def test_new_weights_assigned_through_data_are_used() -> None:
    # ``param.data = t`` keeps the Parameter object and its version counter: only the storage
    # address tells the fold is stale.
    unit = frozen_unit()
    unit.set_batchnorm_folding(True)
    x = torch.randn(1, 3, 8, 8)
    unit(x)
    version = unit.conv_s1.weight._version
    unit.conv_s1.weight.data = torch.randn_like(unit.conv_s1.weight)
    assert unit.conv_s1.weight._version == version  # what makes this case need the address
    assert close(unit(x), by_hand(unit, x))


def test_a_new_weight_at_a_freed_weights_address_is_not_taken_for_it() -> None:
    # Stands in for an allocator handing a freed weight's address to the next weight loaded
    # (CUDA's caching allocator does, in a loop over checkpoints with assign=True): the new
    # tensor has the old one's address and version; only its identity differs.
    unit = frozen_unit()
    shape = unit.conv_s1.weight.shape
    pool = torch.empty(shape.numel())

    def install(values: torch.Tensor) -> None:
        pool.data.copy_(values.flatten())  # through .data: no version bump
        unit.conv_s1.weight = nn.Parameter(pool.view(shape), requires_grad=False)

    install(torch.randn(shape))
    unit.set_batchnorm_folding(True)
    x = torch.randn(1, 3, 8, 8)
    unit(x)
    address, version = unit.conv_s1.weight.data_ptr(), unit.conv_s1.weight._version
    install(torch.randn(shape))
    assert (unit.conv_s1.weight.data_ptr(), unit.conv_s1.weight._version) == (address, version)
    assert close(unit(x), by_hand(unit, x))


def test_weights_made_in_inference_mode_fold_and_give_the_right_outputs() -> None:
    # A model built (or loaded with assign=True) inside torch.inference_mode has inference
    # tensors as weights, which have no version counter to record.
    reference = frozen_unit()
    with torch.inference_mode():
        unit = copy.deepcopy(reference)
        unit.load_state_dict({k: v.clone() for k, v in reference.state_dict().items()}, assign=True)
    assert unit.conv_s1.weight.is_inference()
    unit.set_batchnorm_folding(True)
    x = torch.randn(1, 3, 8, 8)
    assert unit.folded_weight is not None
    with torch.inference_mode():
        assert close(unit(x), by_hand(reference, x))
    assert close(unit(x), by_hand(reference, x))


def test_a_bf16_unit_is_folded_in_float32_and_rounded_once() -> None:
    # Folded in bf16 the products and the bias' subtraction would each round to 8 bits: errors
    # beyond half a bf16 step; folded in float32, one rounding: half a step, plus the float32
    # fold's own error (a few 2**-24 relative).
    unit = frozen_unit()
    unit.to(torch.bfloat16).set_batchnorm_folding(True)
    # The exact fold of the bf16 weights the unit now holds.
    bn = unit.bn_s1
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    exact_w = unit.conv_s1.weight.double() * scale.reshape(-1, 1, 1, 1)
    exact_b = (unit.conv_s1.bias.double() - bn.running_mean.double()) * scale + bn.bias.double()
    for folded, exact in ((unit.folded_weight, exact_w), (unit.folded_bias, exact_b)):
        assert folded.dtype == torch.bfloat16
        # A bf16 step is 2**-7 of the power of two at or below the value.
        step = 2.0 ** (torch.floor(torch.log2(exact.abs())) - 7)
        assert ((folded.double() - exact).abs() <= step / 2 + exact.abs() * 2.0**-22).all()


def test_a_batchnorm_without_running_statistics_is_not_folded() -> None:
    # Such a BatchNorm normalises with the batch's statistics in eval mode too: nothing to fold.
    unit = frozen_unit()
    unit.bn_s1 = nn.BatchNorm2d(8, track_running_stats=False).requires_grad_(False)
    unit.eval()
    twin = copy.deepcopy(unit)
    unit.set_batchnorm_folding(True)
    x = torch.randn(2, 3, 8, 8)
    assert unit.folded_weight is None
    assert torch.equal(unit(x), twin(x))


def test_a_channels_last_model_is_folded_in_channels_last(small_tiny_model) -> None:
    model = copy.deepcopy(small_tiny_model).eval()
    prepare_model(model, PerformanceConfig(channels_last=True))
    units = [m for m in model.u2net.modules() if isinstance(m, REBNCONV)]
    assert units and all(u.folded_weight is not None for u in units)
    assert all(u.folded_weight.is_contiguous(memory_format=torch.channels_last) for u in units)
    prepare_model(model, PerformanceConfig(channels_last=False))
    assert all(u.folded_weight.is_contiguous() for u in units)


def test_a_conv_without_bias_and_a_batchnorm_without_affine_fold_right() -> None:
    # FoldableConvBatchNorm's sources may be None (U²-Net's never are): the fold then takes
    # a zero conv bias and a unit BatchNorm scale and zero shift.
    unit = frozen_unit()
    conv = nn.Conv2d(3, 8, 3, padding=2, dilation=2, bias=False).requires_grad_(False)
    bn = nn.BatchNorm2d(8, affine=False).eval()
    with torch.no_grad():
        conv.weight.copy_(unit.conv_s1.weight)
        bn.running_mean.copy_(unit.bn_s1.running_mean)
        bn.running_var.copy_(unit.bn_s1.running_var)
    unit.conv_s1, unit.bn_s1 = conv, bn
    x = torch.randn(1, 3, 8, 8)
    y = nn.functional.conv2d(x.double(), conv.weight.double(), padding=2, dilation=2)
    mean = bn.running_mean.double().reshape(1, -1, 1, 1)
    std = torch.sqrt(bn.running_var.double() + bn.eps).reshape(1, -1, 1, 1)
    expected = torch.relu((y - mean) / std)
    unit.set_batchnorm_folding(True)
    assert unit.folded_weight is not None and unit.folded_bias is not None
    assert close(unit(x), expected)


def test_a_bias_given_to_a_folded_conv_is_used() -> None:
    # A source that was None when folded and is a tensor now (or the reverse) is a change.
    unit = frozen_unit()
    bias = unit.conv_s1.bias
    unit.conv_s1.bias = None
    unit.set_batchnorm_folding(True)
    x = torch.randn(1, 3, 8, 8)
    unit(x)
    unit.conv_s1.bias = bias
    assert close(unit(x), by_hand(unit, x))

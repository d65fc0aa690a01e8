"""U²-Net BatchNorm folding (REBNCONV) for weights that are inference tensors (a model built or
loaded inside ``torch.inference_mode()``), which have no version counter: the fold is still
made once and kept, and a replaced weight, a ``load_state_dict`` into the existing tensors in
inference mode or a train-mode call in inference mode (running statistics updated in place)
still refold it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import pmgsam.modeling.batchnorm_folding as folding
from pmgsam.modeling.u2net import REBNCONV


def random_state(seed: int) -> dict[str, torch.Tensor]:
    """A REBNCONV(3, 8) state dict whose BatchNorm is far from the identity."""
    gen = torch.Generator().manual_seed(seed)
    return {
        "conv_s1.weight": torch.randn(8, 3, 3, 3, generator=gen) * 0.3,
        "conv_s1.bias": torch.randn(8, generator=gen) * 0.1,
        "bn_s1.weight": torch.rand(8, generator=gen) + 0.5,
        "bn_s1.bias": torch.rand(8, generator=gen) - 0.5,
        "bn_s1.running_mean": torch.rand(8, generator=gen) * 2 - 1,
        "bn_s1.running_var": torch.rand(8, generator=gen) * 0.9 + 0.1,
        "bn_s1.num_batches_tracked": torch.tensor(0),
    }


def inference_unit(seed: int = 0) -> REBNCONV:
    """A frozen, folded unit whose every source is an inference tensor."""
    with torch.inference_mode():
        unit = REBNCONV(3, 8, dirate=2)
        unit.load_state_dict(random_state(seed))
        unit.eval().requires_grad_(False)
    assert all(t.is_inference() for t in unit.state_dict().values())
    unit.set_batchnorm_folding(True)
    return unit


def by_hand(unit: REBNCONV, x: torch.Tensor) -> torch.Tensor:
    """Eval-mode conv → BatchNorm → ReLU from the BatchNorm formula, in float64."""
    conv, bn = unit.conv_s1, unit.bn_s1
    y = nn.functional.conv2d(x.double(), conv.weight.double(), conv.bias.double(), 1, 2, 2)
    shape = (1, -1, 1, 1)
    scale = (bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)).reshape(shape)
    shift = bn.bias.double().reshape(shape) - bn.running_mean.double().reshape(shape) * scale
    return torch.relu(y * scale + shift)


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return (a.double() - b).abs().max().item() <= 1e-5 * b.abs().max().item()


@pytest.fixture
def folds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the fold computations (one entry per call of the fold function)."""
    calls: list[int] = []
    real = folding.fuse_conv_bn_weights

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(folding, "fuse_conv_bn_weights", counted)
    return calls


def test_inference_tensor_weights_are_folded_once(folds: list[int]) -> None:
    # Redoing the fold on every call gives the same numbers but loses the speed-up.
    unit = inference_unit()
    assert len(folds) == 1
    weight = unit.folded_weight
    x = torch.randn(1, 3, 8, 8)
    for _ in range(3):
        with torch.inference_mode():
            y = unit(x)
        unit(x)
    assert len(folds) == 1 and unit.folded_weight is weight
    assert close(y, by_hand(unit, x))


def test_a_replaced_inference_tensor_weight_is_refolded(folds: list[int]) -> None:
    unit = inference_unit()
    x = torch.randn(1, 3, 8, 8)
    unit(x)
    with torch.inference_mode():
        new = nn.Parameter(torch.randn_like(unit.conv_s1.weight), requires_grad=False)
    unit.conv_s1.weight = new
    assert close(unit(x), by_hand(unit, x))
    assert len(folds) == 2


def test_a_load_in_inference_mode_into_the_same_tensors_is_refolded() -> None:
    # load_state_dict copies into the existing tensors: same objects, same addresses, and no
    # version counter to show the copy.
    unit = inference_unit(0)
    x = torch.randn(1, 3, 8, 8)
    unit(x)
    address = unit.conv_s1.weight.data_ptr()
    with torch.inference_mode():
        unit.load_state_dict(random_state(1))
        assert unit.conv_s1.weight.data_ptr() == address
        assert close(unit(x), by_hand(unit, x))


def test_running_statistics_updated_in_inference_mode_are_refolded() -> None:
    # A train-mode call inside inference mode updates the running statistics in place.
    unit = inference_unit()
    x = torch.randn(2, 3, 8, 8)
    unit(x)
    before = unit.bn_s1.running_mean.clone()
    with torch.inference_mode():
        unit.train()
        unit(torch.randn(4, 3, 8, 8) * 3 + 1)
        unit.eval()
    assert not torch.equal(unit.bn_s1.running_mean, before)
    assert close(unit(x), by_hand(unit, x))

"""``model(images)`` refuses images outside [0, 1] (issue 11 §2), naming the range it found."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from pmgsam.modeling.pmgsam import PMGSAM

S = 8
# The check the forward pass runs first (PMGSAM.encode), without building the branches.
fake = SimpleNamespace(
    config=SimpleNamespace(image_size=S),
    check_input_range=True,
    parameters=lambda: iter([torch.zeros(1)]),
)


def check(images: torch.Tensor) -> None:
    PMGSAM._check_images(fake, images)


def test_accepts_unit_range_and_small_resampling_overshoot() -> None:
    check(torch.rand(2, 3, S, S))
    check(torch.zeros(1, 3, S, S))
    check(torch.ones(1, 3, S, S))
    x = torch.rand(1, 3, S, S)
    x[0, 0, 0, 0], x[0, 1, 0, 0] = -0.01, 1.01  # bicubic overshoot
    check(x)


def test_refuses_0_255_images_naming_the_range() -> None:
    x = torch.rand(1, 3, S, S) * 255
    x[0, 0, 0, 0], x[0, 0, 0, 1] = 0.0, 255.0
    with pytest.raises(ValueError, match=r"\[0, 255\].*divide 0-255 images by 255"):
        check(x)


@pytest.mark.parametrize("bad", [-0.5, 1.05, float("nan")])
def test_refuses_values_just_outside_or_nan(bad: float) -> None:
    x = torch.rand(1, 3, S, S)
    x[0, 2, 3, 3] = bad
    with pytest.raises(ValueError, match="must hold values in"):
        check(x)
    # Normalised inputs (ImageNet mean/std applied by the caller) are also outside [0, 1].
    with pytest.raises(ValueError, match="must hold values in"):
        check((torch.rand(1, 3, S, S) - 0.45) / 0.225)


# small_branches (conftest): the range check is the model's own, whatever its branches' size.
def test_engine_preparation_turns_the_check_off_and_only_there(small_branches) -> None:
    from pmgsam.engine.performance import prepare_model
    from pmgsam.engine.performance_config import PerformanceConfig
    from pmgsam.modeling.build import build_model

    model = build_model("pmgsam_tiny", image_size=64).eval()
    images = torch.rand(1, 3, 64, 64) * 255
    with pytest.raises(ValueError, match="must hold values in"):
        model(images)
    # The engine feeds its own [0, 1] tensors and must not pay a host sync per step for it.
    prepare_model(model, PerformanceConfig())
    assert model.check_input_range is False
    with torch.no_grad():
        assert torch.isfinite(model(images)["mask"]).all()


def test_predictor_skips_the_check_per_call_and_leaves_the_model_checking(
    monkeypatch, small_branches
) -> None:
    from pmgsam.engine.inference import Predictor
    from pmgsam.modeling.build import build_model

    model = build_model("pmgsam_tiny", image_size=64).eval()
    predictor = Predictor(model, "cpu")
    calls = []
    original = torch.aminmax
    monkeypatch.setattr(torch, "aminmax", lambda *a, **k: calls.append(1) or original(*a, **k))
    probs = predictor.predict_batch(torch.rand(2, 3, 64, 64))
    assert probs.shape == (2, 1, 64, 64) and calls == []  # no host sync in the engine path
    # Predictor(model) once switched the check off on the caller's model for good.
    assert model.check_input_range is True
    with pytest.raises(ValueError, match="must hold values in"):
        model(torch.rand(1, 3, 64, 64) * 255)
    assert calls == [1]

"""Predictor and model calls as a notebook makes them: the maps come back as ordinary tensors, a
model converted to bfloat16 or float16 still predicts, and the image forms a notebook has at hand
(PIL image, tensor, channels-first or batched array) are refused with the conversion to make."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PIL import Image

import pmgsam
from pmgsam.engine import inference
from pmgsam.engine.predictor import Predictor, probability_levels
from pmgsam.utils.cli import exit_status

S = 64


@pytest.fixture(scope="module")
def predictor(small_tiny_model) -> Predictor:
    return Predictor(copy.deepcopy(small_tiny_model), device="cpu", amp="none")


def _image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (23, 31, 3), dtype=np.uint8)


def test_maps_may_be_edited_in_place_and_used_in_autograd(predictor):
    prob = predictor.predict_image(_image())
    prob[prob < 2.0] = 0  # an inference-mode tensor refuses this (torch's RuntimeError)
    assert prob.shape == (23, 31) and not prob.any()
    probs = predictor.predict_batch(torch.rand(1, 3, S, S))
    probs.clamp_(0.25, 0.75)
    final, pre = predictor.predict_batch_with_premask(torch.rand(1, 3, S, S))
    final.mul_(2), pre.mul_(2)
    weight = torch.ones(1, requires_grad=True)
    (predictor.predict_image(_image()) * weight).sum().backward()
    assert weight.grad is not None


def test_arrays_give_the_maps_the_inference_command_saves_for_their_files(
    predictor, small_branches, small_model_file, tmp_path
):
    # The README's promise: one call, a second call and the command's saved map all agree,
    # also for a non-contiguous (np.fliplr) or read-only array.
    image = _image()
    flipped, frozen = np.fliplr(image), image.copy()
    frozen.flags.writeable = False
    (tmp_path / "in").mkdir()
    Image.fromarray(image).save(tmp_path / "in" / "a.png")
    Image.fromarray(np.ascontiguousarray(flipped)).save(tmp_path / "in" / "b.png")
    argv = ["--checkpoint", small_model_file[0], "--input", tmp_path / "in", "--out",
            tmp_path / "out", "--device", "cpu", "--num-workers", "0", "--quiet"]  # fmt: skip
    assert exit_status(inference.main, argv) == 0
    for name, array in (("a", image), ("a", frozen), ("b", flipped)):
        saved = np.asarray(Image.open(tmp_path / "out" / f"{name}.png"))
        assert np.array_equal(probability_levels(predictor.predict_image(array)).numpy(), saved)
    assert torch.equal(predictor.predict_image(image), predictor.predict_image(image))


def test_a_model_converted_to_bfloat16_predicts(predictor, small_tiny_model):
    # float16 takes the same path (the images are given the weights' dtype) but its CPU
    # kernels take seconds.
    image = _image()
    low = copy.deepcopy(small_tiny_model).to(torch.bfloat16)
    prob = Predictor(low, "cpu", amp="none").predict_image(image)
    full = predictor.predict_image(image)
    assert prob.dtype == torch.float32 and prob.shape == full.shape
    # bfloat16 keeps 8 bits of mantissa: the maps agree to a few thousandths, not exactly.
    assert (prob - full).abs().max() < 0.02
    assert next(low.parameters()).dtype == torch.bfloat16  # the caller's model stays converted


@pytest.mark.parametrize(
    ("make", "error", "match", "convert"),
    [
        (Image.fromarray, TypeError, r"np\.asarray\(image\.convert\('RGB'\)\)",
         lambda x: np.asarray(x.convert("RGB"))),
        (lambda a: torch.from_numpy(a).permute(2, 0, 1), TypeError,
         r"image\.permute\(1, 2, 0\)\.cpu\(\)\.numpy\(\)",
         lambda x: x.permute(1, 2, 0).cpu().numpy()),
        (torch.from_numpy, TypeError, r"pass image\.cpu\(\)\.numpy\(\)", lambda x: x.numpy()),
        (lambda a: a.transpose(2, 0, 1), ValueError, r"channels first.*transpose\(1, 2, 0\)",
         lambda x: x.transpose(1, 2, 0)),
        (lambda a: a[None], ValueError, r"shape \(1, 23, 31, 3\), a batch", lambda x: x[0]),
    ],
)  # fmt: skip
def test_other_image_forms_are_refused_with_the_conversion_that_works(
    predictor, make, error, match, convert
):
    image = _image()
    given = make(image)
    with pytest.raises(error, match=match):
        predictor.predict_image(given)
    # The conversion the message names gives the map of the plain array.
    assert torch.equal(predictor.predict_image(convert(given)), predictor.predict_image(image))


def test_a_dim_16_bit_image_warns_as_its_file_would(predictor):
    image = _image()
    with pytest.warns(UserWarning, match=r"uint16 but never exceeds 255 .*astype\(np\.uint8\)"):
        predictor.predict_image(image.astype(np.uint16))
    # Full-scale 16-bit data (0-65535) gives the map of the 8-bit image (to cv2's rounding).
    full = predictor.predict_image(image.astype(np.uint16) * 257)
    assert (full - predictor.predict_image(image)).abs().max() < 0.01


def test_model_calls_with_no_tensor_or_an_empty_batch_say_so(small_tiny_model):
    images = torch.rand(2, 3, S, S)
    with pytest.raises(TypeError, match=r"images must be a torch\.Tensor .* got ndarray"):
        small_tiny_model(images.numpy())
    with pytest.raises(ValueError, match=r"empty batch, shape \(0, 3, 64, 64\)"):
        small_tiny_model(images[:0])
    with pytest.raises(ValueError, match="empty batch"):
        small_tiny_model.encode(images[:0])


def test_predictions_run_in_eval_mode_after_the_model_trains_again(small_branches):
    torch.manual_seed(0)
    model = pmgsam.build_model("pmgsam_tiny", image_size=S, fusion="residual")
    predictor = Predictor(model, "cpu", amp="none")
    image = _image()
    before = predictor.predict_image(image)
    stats = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    assert stats  # the residual fusion's BatchNorm: batch statistics in train mode
    model.train()  # a notebook that fine-tunes between predictions
    assert torch.equal(predictor.predict_image(image), before)
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in stats.items())
    assert model.training and not model.hiera.training  # its mode as the caller left it


def test_predictor_and_amp_mistakes_are_named(small_tiny_model):
    with pytest.raises(TypeError, match="Predictor runs a PMG-SAM model .* got Linear$"):
        Predictor(torch.nn.Linear(2, 2), "cpu")
    with pytest.raises(TypeError, match=r"got DataParallel \(pass its \.module"):
        Predictor(torch.nn.DataParallel(small_tiny_model), "cpu")
    with pytest.raises(ValueError, match="amp must be 'auto', 'bf16' or 'none' .*'fp16'"):
        Predictor(copy.deepcopy(small_tiny_model), "cpu", amp="fp16")

"""Predictor and image_argument cases the notebook tests leave open: the caller's train/eval
modes survive a prediction (per module, and when the forward raises), and the dim-uint16
warning's edges (12-bit full scale, all zeros, an opaque alpha channel) and where it points."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch

from pmgsam.engine.predictor import Predictor

S = 64


def _image(dtype=np.uint8, top: int = 256) -> np.ndarray:
    return np.random.default_rng(0).integers(0, top, (23, 31, 3), dtype=dtype)


@pytest.fixture(scope="module")
def predictor(small_tiny_model) -> Predictor:
    return Predictor(copy.deepcopy(small_tiny_model), device="cpu", amp="none")


def test_a_prediction_keeps_each_module_mode_the_caller_set(predictor):
    model = predictor.model
    # Fine-tuning with a part held in eval mode (frozen BatchNorm statistics, a frozen head):
    # model.train() after the prediction would wake it.
    model.train()
    model.decoder.eval()
    modes = {name: m.training for name, m in model.named_modules()}
    assert any(modes.values()) and not modes["decoder"]

    def fail(*_):
        raise RuntimeError("forward failed")

    try:
        predictor.predict_image(_image())
        assert {name: m.training for name, m in model.named_modules()} == modes
        # A forward that raises (out of memory, a bad hook) leaves the modes as they were too.
        hook = model.neck.register_forward_pre_hook(fail)
        with pytest.raises(RuntimeError, match="forward failed"):
            predictor.predict_batch(torch.rand(1, 3, S, S))
        hook.remove()
        assert {name: m.training for name, m in model.named_modules()} == modes
    finally:
        model.eval()


def test_a_model_in_eval_mode_stays_in_eval_mode(predictor):
    predictor.predict_image(_image())
    predictor.predict_batch_with_premask(torch.rand(1, 3, S, S))
    assert not any(m.training for m in predictor.model.modules())


def _warned(predictor: Predictor, image: np.ndarray) -> list:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predictor.predict_image(image)
    return [w for w in caught if "uint16" in str(w.message)]


def test_the_dim_uint16_warning_edges_and_where_it_points(predictor):
    # 12-bit data (0-4095) reads at most 16/255 when scaled as 16-bit: warned.
    image = _image(np.uint16, 4096)
    image[0, 0, 0] = 4095
    (caught,) = _warned(predictor, image)
    assert "never exceeds 4095 (of 65535)" in str(caught.message)
    assert "at most 16/255" in str(caught.message)
    assert caught.filename == __file__  # the caller's line, not pmgsam's
    # 8-bit values in uint16: 255 reads as 0.99/255, said as 1/255 (not floored to 0).
    (caught,) = _warned(predictor, _image().astype(np.uint16) | 255)
    assert "never exceeds 255 (of 65535), so it reads at most 1/255" in str(caught.message)
    # One step above 12 bits is no longer called dim; an all-black image has nothing to scale.
    image[0, 0, 0] = 4096
    assert _warned(predictor, image) == []
    assert _warned(predictor, np.zeros((23, 31, 3), np.uint16)) == []


def test_an_opaque_alpha_channel_does_not_hide_dim_uint16_colours(predictor):
    # The model never sees the alpha channel: its 65535 must not count as the image's top.
    rgba = np.concatenate([_image(np.uint16), np.full((23, 31, 1), 65535, np.uint16)], axis=2)
    (caught,) = _warned(predictor, rgba)
    assert "never exceeds 255 (of 65535)" in str(caught.message)


def test_images_shaped_like_channels_first_but_channels_last_are_taken(predictor):
    # (3, W, 3): three rows of RGB, not a channels-first image (its last axis is channels).
    image = _image()[:3]
    assert predictor.predict_image(image).shape == (3, 31)


def test_a_one_channel_tensor_gets_the_permute_that_makes_it_an_image(predictor):
    gray = torch.rand(1, 23, 31)
    with pytest.raises(TypeError, match=r"pass image\.permute\(1, 2, 0\)\.cpu\(\)\.numpy\(\)"):
        predictor.predict_image(gray)
    assert predictor.predict_image(gray.permute(1, 2, 0).cpu().numpy()).shape == (23, 31)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda a: a.permute(2, 0, 1)[None],
         r"pass image\[0\]\.permute\(1, 2, 0\)\.cpu\(\)\.numpy\(\) \("),
        (lambda a: a[None], r"pass image\[0\]\.cpu\(\)\.numpy\(\) \("),
        (lambda a: a.permute(2, 0, 1)[None].repeat(2, 1, 1, 1),
         r"pass image\[i\]\.permute\(1, 2, 0\)\.cpu\(\)\.numpy\(\) for each image i"),
    ],
)  # fmt: skip
def test_a_batched_tensor_gets_the_conversion_of_one_image(predictor, make, match):
    # The (1, 3, H, W) a notebook holds: image.cpu().numpy() alone is refused again, as a batch.
    image = _image()
    given = make(torch.from_numpy(image))
    with pytest.raises(TypeError, match=match):
        predictor.predict_image(given)
    one = given[0].permute(1, 2, 0) if given.shape[1] == 3 else given[0]
    assert torch.equal(predictor.predict_image(one.cpu().numpy()), predictor.predict_image(image))

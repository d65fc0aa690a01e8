"""In-memory image arrays (library use): every kind a file could hold reads as that file does,
kinds that would reach the model as a wrong image are refused, and maps come back at the
array's size."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PIL import Image

from pmgsam.data import EvalTransform, load_image
from pmgsam.engine.predictor import ImageFolder, Predictor
from pmgsam.evaluation.hce import hce_counts

S = 64


def _scene(h: int = 37, w: int = 53) -> np.ndarray:
    rng = np.random.default_rng(0)
    img = rng.integers(90, 200, (h, w, 3), dtype=np.uint8)
    img[5:20, 10:40] = 250
    return img


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_gray_and_rgba_arrays_read_as_their_files(tmp_path, mode):
    pil = Image.fromarray(_scene()).convert(mode)
    pil.save(tmp_path / "a.png")
    from_file = EvalTransform(S)(load_image(tmp_path / "a.png"))["image"]
    array = np.asarray(pil)
    assert array.shape[2:] in ((), (4,))
    assert torch.equal(EvalTransform(S)(array)["image"], from_file)


def test_float_and_16bit_arrays_keep_their_scale():
    img = _scene()
    expected = EvalTransform(S)(img)["image"]
    # Dividing a 0-1 image by 255 again would leave it all below 0.004; 16-bit by 255, above 1.
    for array in (img.astype(np.float32) / 255, img / 255.0, img.astype(np.uint16) * 257):
        got = EvalTransform(S)(array)["image"]
        assert torch.allclose(got, expected, atol=2.5 / 255), array.dtype


@pytest.mark.parametrize(
    ("array", "error", "match"),
    [
        (np.full((8, 9, 3), 200.0), ValueError, "divide 0-255 images by 255"),
        (np.full((8, 9, 3), np.nan, np.float32), ValueError, r"\[0, 1\]"),
        (np.full((8, 9, 3), -0.5, np.float32), ValueError, r"\[0, 1\]"),
        (np.ones((8, 9, 3), bool), TypeError, "got bool"),
        (np.ones((8, 9, 3), np.int32), TypeError, "got int32"),
        (np.ones((8, 9, 2), np.uint8), ValueError, r"shape \(8, 9, 2\)"),
        (np.ones((0, 9, 3), np.uint8), ValueError, r"shape \(0, 9, 3\)"),
    ],
)
def test_arrays_the_model_would_misread_are_refused(array, error, match):
    with pytest.raises(error, match=match):
        EvalTransform(S)(array)


@pytest.fixture(scope="module")
def small_copy(small_tiny_model):
    """``small_copy()``: a new copy of conftest's tiny model with the small frozen branches.
    How arrays are read, sized and refused does not depend on the branches' size; Hiera-T's
    copies and forwards (one in bf16) took most of this file's time."""
    return lambda: copy.deepcopy(small_tiny_model)


@pytest.fixture(scope="module")
def predictor(small_copy):
    return Predictor(small_copy(), device="cpu", amp="none")


def test_predict_image_gives_the_map_a_folder_run_writes(tmp_path, predictor):
    img = _scene(37, 53)
    (tmp_path / "in").mkdir()
    Image.fromarray(img).save(tmp_path / "in" / "a.png")
    out = predictor.predict_dataset(
        ImageFolder(tmp_path / "in", S), tmp_path / "out", num_workers=0, progress=False
    )
    written = np.asarray(Image.open(out / "a.png")).astype(np.float64)
    prob = predictor.predict_image(img)
    assert prob.shape == (37, 53) and prob.dtype == torch.float32
    assert np.abs(prob.numpy() * 255 - written).max() <= 0.5 + 1e-3
    # A non-contiguous view (a BGR-to-RGB flip of a BGR copy) is the same image.
    assert torch.equal(
        predictor.predict_image(np.ascontiguousarray(img[:, :, ::-1])[:, :, ::-1]), prob
    )


@pytest.mark.parametrize("shape", [(1, 1), (3, 200), (97, 5)])
def test_predict_image_keeps_odd_sizes(predictor, shape):
    assert predictor.predict_image(np.zeros(shape, np.uint8)).shape == shape


def test_model_refuses_float64_images_by_name(small_copy):
    with pytest.raises(ValueError, match="float64"):
        small_copy()(torch.zeros(1, 3, S, S, dtype=torch.float64))


def test_bf16_model_names_float32_images_unless_autocast(small_copy):
    model = small_copy().to(torch.bfloat16)
    images = torch.rand(1, 3, S, S)
    # Without the check the first convolution fails naming only "Input type" and "bias type".
    with pytest.raises(ValueError, match=r"images are torch.float32 .* weights are torch.bfloat16"):
        model(images)
    with torch.no_grad():
        same = model(images.bfloat16())["mask"]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            cast = model(images)["mask"]  # autocast casts the input: no refusal
    assert same.dtype == cast.dtype == torch.bfloat16 and same.shape == (1, 1, S, S)


def test_hce_refuses_maps_its_threshold_would_read_as_empty():
    gt = np.zeros((40, 40), np.uint8)
    gt[10:30, 10:30] = 255
    with pytest.raises(TypeError, match="float64"):
        hce_counts(gt / 255.0, gt)  # "> 128" on 0-1 values: an empty prediction
    with pytest.raises(TypeError, match="bool"):
        hce_counts(gt, gt > 128)  # True > 128 is False: an empty GT


def test_predictor_names_its_own_device_argument(small_copy):
    # Not train.device: a library caller set no config key.
    with pytest.raises(ValueError, match=r"^Predictor\(device\)=gpu is not a device"):
        Predictor(small_copy(), device="gpu")

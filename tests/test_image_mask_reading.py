"""Reading image and mask files: modes, bit depths, float TIFFs, colour and label masks."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from pmgsam.data import load_image, load_mask
from pmgsam.data.datasets import SegmentationDataset
from pmgsam.data.io import MaskValueWarning, to_uint8


def test_image_and_mask_modes(tmp_path):
    gray = (np.arange(40 * 30).reshape(30, 40) % 256).astype(np.uint8)
    Image.fromarray(gray, "L").save(tmp_path / "l.png")
    assert (load_image(tmp_path / "l.png") == gray[..., None]).all()
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 7)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    assert load_image(tmp_path / "rgba.png").shape == (30, 40, 3)
    pal = Image.fromarray((gray > 100).astype(np.uint8), "P")
    pal.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    pal.save(tmp_path / "p.png")
    assert set(np.unique(load_mask(tmp_path / "p.png"))) == {0, 255}
    assert load_image(tmp_path / "p.png").shape == (30, 40, 3)
    # 16-bit: 30000/65535 is 117/255 -> background; clipping to 255 would make it foreground.
    sixteen = np.full((30, 40), 30000, np.uint16)
    sixteen[:, 20:] = 65535
    cv2.imwrite(str(tmp_path / "m16.png"), sixteen)
    m = load_mask(tmp_path / "m16.png")
    assert m.dtype == np.uint8 and m[0, 0] == 117 and m[0, 39] == 255
    assert load_image(tmp_path / "m16.png")[0, 0].tolist() == [117, 117, 117]
    Image.fromarray(gray > 100).save(tmp_path / "one.png")  # mode "1"
    assert set(np.unique(load_mask(tmp_path / "one.png"))) == {0, 255}


def test_colour_images_keep_their_colours_and_drop_alpha(tmp_path):
    # RGBA: the colour channels as stored whatever the alpha (no compositing, no gray).
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., :3] = [[[250, 10, 0], [0, 200, 30], [5, 6, 7]]] * 2
    rgba[..., 3] = [[0, 7, 255]] * 2
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    assert (load_image(tmp_path / "rgba.png") == rgba[..., :3]).all()
    # Palette: each index reads as its palette colour.
    pal = Image.fromarray(np.array([[0, 1, 2]], np.uint8), "P")
    pal.putpalette([0, 0, 255, 255, 0, 0, 0, 128, 0] + [0] * 759)
    pal.save(tmp_path / "pal.png")
    assert load_image(tmp_path / "pal.png").tolist() == [[[0, 0, 255], [255, 0, 0], [0, 128, 0]]]


def test_sixteen_bit_mask_is_rounded_to_v_over_257(tmp_path):
    # 255/65535 is 1/257. 33024/257 = 128.498 -> 128 (background under > 128) but 33025/257 =
    # 128.502 -> 129; 65280/257 = 254.008 -> 254; 128/257 = 0.498 -> 0. A shift by 8 bits
    # would read 129, 129, 255, 0: the first pixel would flip to foreground.
    values = np.array([[33024, 33025, 65280, 128]], np.uint16)
    cv2.imwrite(str(tmp_path / "m16.png"), values)
    assert load_mask(tmp_path / "m16.png").tolist() == [[128, 129, 254, 0]]


def test_float_tiff_probabilities_are_rounded_and_1_means_255(tmp_path):
    # A map whose maximum is exactly 1.0 still holds probabilities: 1.0 * 255 = 255,
    # 0.25 * 255 = 63.75 -> 64 and 0.5 * 255 = 127.5 -> 128 (rounded, not truncated).
    probs = np.array([[0.0, 0.25, 0.5, 1.0]], np.float32)
    Image.fromarray(probs, "F").save(tmp_path / "p.tif")
    assert Image.open(tmp_path / "p.tif").mode == "F"  # the file really is float
    m = load_mask(tmp_path / "p.tif", "prediction", labels_01=False)
    assert m.tolist() == [[0, 64, 128, 255]]


def test_float_tiff_overshooting_1_after_resampling_is_still_probabilities(tmp_path):
    # Bicubic resampling of a probability map gives maxima like 1.0004. Read as 0-255, every
    # pixel would land on 0 or 1 out of 255; as probabilities they clip at 255 (0.5 -> 128).
    # A map whose maximum is clearly above that stays 0-255 (100.4 -> 100).
    Image.fromarray(np.array([[0.0, 0.5, 1.0004]], np.float32), "F").save(tmp_path / "p.tif")
    Image.fromarray(np.array([[0.0, 100.4, 255.0]], np.float32), "F").save(tmp_path / "q.tif")
    assert load_mask(tmp_path / "p.tif", "prediction", labels_01=False).tolist() == [[0, 128, 255]]
    assert load_mask(tmp_path / "q.tif", "prediction", labels_01=False).tolist() == [[0, 100, 255]]
    # The documented bound itself ("a maximum of at most 1.5") is still probabilities.
    Image.fromarray(np.array([[0.0, 0.5, 1.5]], np.float32), "F").save(tmp_path / "b.tif")
    assert load_mask(tmp_path / "b.tif", "prediction", labels_01=False).tolist() == [[0, 128, 255]]


def test_a_nan_pixel_neither_rescales_a_probability_map_nor_counts_as_foreground(tmp_path):
    # One NaN (a 0/0 in someone's export) must not make the maximum undefined, which would
    # read the whole map as 0-255 (0.5 -> 1 of 255): the rest stays probabilities. Casting
    # NaN to uint8 is undefined (numpy warns), so the 0 must come from replacing it first.
    Image.fromarray(np.array([[np.nan, 0.5, 1.0]], np.float32), "F").save(tmp_path / "n.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        pred = load_mask(tmp_path / "n.tif", "prediction", labels_01=False)
    assert pred.tolist() == [[0, 128, 255]]


def test_a_single_level_prediction_keeps_its_values(tmp_path):
    # A prediction whose non-zero pixels are all 100 is a faint map, not a 0/1 label mask:
    # read as 0/255, its thresholded scores (HCE's > 128, COS instances, IoU) would change (the
    # min-max normalised DIS metrics would not). Only GT masks read labels as 255.
    cv2.imwrite(str(tmp_path / "faint.png"), np.array([[0, 100, 100]], np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pred = load_mask(tmp_path / "faint.png", "prediction", labels_01=False)
    assert pred.tolist() == [[0, 100, 100]]


def test_colour_and_transparency_masks_use_the_shape_channel(tmp_path):
    shape = np.zeros((6, 8), np.uint8)
    shape[1:4, 2:6] = 200
    # Green on black, fully opaque: the brightest channel is green, so the shape reads 200.
    # The red channel alone would be empty; counting the opaque alpha would make all 255.
    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[..., 1] = shape
    rgba[..., 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "green.png")
    assert (load_mask(tmp_path / "green.png") == shape).all()
    # A palette PNG whose colours are all black with index 0 transparent: the shape is only in
    # the transparency, so read as plain RGB it would be empty.
    pal = Image.fromarray((shape > 0).astype(np.uint8), "P")
    pal.putpalette([0] * 768)
    pal.save(tmp_path / "pal.png", transparency=0)
    assert (load_mask(tmp_path / "pal.png") == np.where(shape > 0, 255, 0)).all()


def test_only_single_level_masks_up_to_128_are_label_masks(tmp_path):
    # 0/128 (a VOC palette's dark red stored as gray) is a label mask: 128 reads as 255.
    cv2.imwrite(str(tmp_path / "voc.png"), np.array([[0, 128, 128]], np.uint8))
    with pytest.warns(MaskValueWarning, match="0/128 labels"):
        assert load_mask(tmp_path / "voc.png").tolist() == [[0, 255, 255]]
    # Two non-zero levels are a (faint) soft map, read as stored: not as labels, but named
    # as reading empty (no pixel above 128).
    cv2.imwrite(str(tmp_path / "soft.png"), np.array([[0, 50, 100, 100]], np.uint8))
    with pytest.warns(MaskValueWarning, match="soft.png' holds several values") as caught:
        assert load_mask(tmp_path / "soft.png").tolist() == [[0, 50, 100, 100]]
    assert not any("labels" in str(w.message) for w in caught)


def test_a_gray_alpha_mask_reads_its_gray_unless_the_gray_is_uniform(tmp_path):
    # Gray with an opaque alpha: the gray is the mask ("gray: as stored"); counting the alpha
    # as a colour channel would make every pixel 255. Uniform gray: the shape is in alpha.
    gray = np.array([[0, 200, 0]], np.uint8)
    opaque = np.full_like(gray, 255)
    Image.fromarray(np.dstack([gray, opaque]), "LA").save(tmp_path / "gray.png")
    Image.fromarray(np.dstack([opaque, gray]), "LA").save(tmp_path / "alpha.png")
    assert Image.open(tmp_path / "gray.png").mode == "LA"
    assert load_mask(tmp_path / "gray.png").tolist() == [[0, 200, 0]]
    assert load_mask(tmp_path / "alpha.png").tolist() == [[0, 200, 0]]


def test_a_16_bit_0_1_label_mask_reads_as_0_255(tmp_path):
    # An integer 0/1 mask is a label mask whatever its bit depth; scaled as 16-bit data
    # (1 * 255 / 65535 -> 0) it would be empty.
    cv2.imwrite(str(tmp_path / "m.png"), np.array([[0, 1, 1]], np.uint16))
    assert Image.open(tmp_path / "m.png").mode.startswith("I")
    with pytest.warns(MaskValueWarning, match="0/1 labels"):
        assert load_mask(tmp_path / "m.png").tolist() == [[0, 255, 255]]


def test_training_mask_foreground_is_strictly_above_128(tmp_path):
    # PySODMetrics' rule, the same as evaluation's: 128 is background, 129 foreground.
    cv2.imwrite(str(tmp_path / "i.png"), np.full((1, 4, 3), 90, np.uint8))
    cv2.imwrite(str(tmp_path / "m.png"), np.array([[0, 128, 129, 255]], np.uint8))
    _, mask = SegmentationDataset([tmp_path / "i.png"], [tmp_path / "m.png"], 32).load(0)
    assert mask.tolist() == [[0, 0, 1, 1]]


def test_mask_reader_handles_16bit_and_rgb(tmp_path: Path):
    g = np.array([[0, 128, 255]], np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), g.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "b.png"), np.dstack([g, g, g]))
    assert np.array_equal(load_mask(tmp_path / "a.png"), g)
    assert np.array_equal(load_mask(tmp_path / "b.png"), g)


def test_integer_maps_outside_16_bits_are_clipped_not_wrapped():
    # 32-bit integer maps ('I' mode) may hold values outside 0..65535. Clipped first:
    # -5 -> 0 -> 0, 70000 -> 65535 -> 255. Without the clip, uint8 wrap-around would read
    # -5 as (-1275 + 32767) // 65535 = 0 but 70000 as (17850000 + 32767) // 65535 = 272 -> 16.
    # In range, v -> round(v / 257): 32767 / 257 = 127.498 -> 127.
    arr = np.array([[-5, 0, 32767, 65535, 70000, 2**31 - 1]], np.int32)
    assert to_uint8(arr).tolist() == [[0, 0, 127, 255, 255, 255]]


def test_a_multi_page_tiff_is_read_as_its_first_page_with_a_warning(tmp_path: Path) -> None:
    first = np.zeros((6, 8), np.uint8)
    first[1:4, 2:6] = 255
    second = np.full((6, 8), 255, np.uint8)
    path = tmp_path / "pages.tif"
    Image.fromarray(first).save(path, save_all=True, append_images=[Image.fromarray(second)])
    with pytest.warns(MaskValueWarning, match=r"pages.tif' holds 2 pages or frames: only the"):
        mask = load_mask(path)
    np.testing.assert_array_equal(mask, first)
    with pytest.warns(MaskValueWarning, match="image file .* holds 2 pages"):
        image = load_image(path)
    np.testing.assert_array_equal(image[:, :, 0], first)
    single = tmp_path / "one.tif"
    Image.fromarray(first).save(single)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_mask(single)  # one page: no warning


def test_a_float_tiff_image_is_read_as_probabilities_in_three_channels(tmp_path: Path) -> None:
    # Mode "F" holds float32; a maximum of 1 says probabilities: 0.5 -> 0.5 * 255 + 0.5 -> 128.
    path = tmp_path / "float.tif"
    Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32), "F").save(path)
    image = load_image(path)
    assert image.dtype == np.uint8 and image.shape == (1, 3, 3)
    assert image.tolist() == [[[0, 0, 0], [128, 128, 128], [255, 255, 255]]]


def test_a_cmyk_mask_is_read_through_rgb_not_as_four_channels(tmp_path: Path) -> None:
    # CMYK (0, 0, 0, 0) is white and (0, 0, 0, 255) black; the channel maximum of the raw
    # CMYK bytes would read the black pixel as 255 (its K) and the white one as 0.
    cmyk = np.zeros((2, 3, 4), np.uint8)
    cmyk[1, :, 3] = 255
    path = tmp_path / "mask.tif"
    Image.fromarray(cmyk, "CMYK").save(path)
    assert load_mask(path).tolist() == [[255, 255, 255], [0, 0, 0]]


def test_boolean_maps_are_0_or_255() -> None:
    assert to_uint8(np.array([[True, False]])).tolist() == [[255, 0]]


def test_a_folder_to_list_that_is_a_file_or_missing_is_named(tmp_path: Path) -> None:
    from pmgsam.data.io import DataError, DataNotFoundError, list_files

    (tmp_path / "GT").write_text("not a folder")
    with pytest.raises(DataError, match=r"GT mask folder '.*GT' is not a folder"):
        list_files(tmp_path / "GT", (".png",), "GT mask")
    with pytest.raises(DataNotFoundError, match=r"GT mask folder '.*none' does not exist"):
        list_files(tmp_path / "none", (".png",), "GT mask")


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts /proc/self/fd (Linux)")
def test_a_file_that_fails_to_decode_is_closed_at_once(tmp_path: Path) -> None:
    """PIL leaves a file it could not decode open; the error (kept by a --keep-going run, or
    its traceback) must not keep it open too."""
    from pmgsam.data.io import DataError

    whole = tmp_path / "whole.jpg"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(whole)
    broken = tmp_path / "broken.jpg"
    data = whole.read_bytes()
    broken.write_bytes(data[: len(data) // 2])  # the header reads, the pixels are cut short
    before = len(list(Path("/proc/self/fd").iterdir()))
    kept = []
    for read in (load_image, load_mask):
        with pytest.raises(DataError, match="broken.jpg") as info:
            read(broken)
        kept.append(info.value)  # its traceback holds the function's frame and the image
    assert len(list(Path("/proc/self/fd").iterdir())) == before

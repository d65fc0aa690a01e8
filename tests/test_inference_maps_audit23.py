"""What a user relies on in each map the inference path writes, checked against expectations
built here by hand: a stand-in model whose logits are a known function of the pixel position
and the image's colour, so the map of every image is sigmoid(logits) cropped to the valid
region, resized with a plain ``F.interpolate`` (half-pixel centres) and × 255 rounded. The map
has the stored image's size, its stem and a .png extension, the same bytes at any batch size,
and the Pre-Mask map is the model's other output, not a copy of the final one. The
command refuses, before the model loads, a stem shared by two images and any map folder that
is the image folder or overlaps the other map folder."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Dict, Tuple

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import nn

from pmgsam.data.io import DataError
from pmgsam.engine.inference import ImageFolder, Predictor, main
from pmgsam.utils.outputs import OutputError

S = 32
# (H, W) -> the valid region (h, w) after the long side goes to S, each side rounded half up:
# 24×48 -> 16×32 (exact); 12×20 -> 19.2, so 19×32; 40×36 -> 28.8, so 32×29.
SIZES: Dict[str, Tuple[Tuple[int, int], Tuple[int, int]]] = {
    "wide": ((24, 48), (16, 32)),  # enlarged back ×1.5
    "small": ((12, 20), (19, 32)),  # shrunk back: antialiased
    "tall": ((40, 36), (32, 29)),  # enlarged back, not evenly
}
RED = {"wide": 200, "small": 40, "tall": 120}  # each image's own colour moves its map


def final_logits(red: torch.Tensor) -> torch.Tensor:
    """(B, 1, S, S) logits: steep ramps along both axes, shifted by the red channel, so that a
    half-pixel shift or a transposed map moves levels by far more than rounding does."""
    idx = torch.arange(S, dtype=torch.float32)
    ramp = (idx[None, :] - S / 2) / 3 - (idx[:, None] - S / 2) / 5
    return ramp + 6 * (red - 0.5)


def pre_logits(red: torch.Tensor) -> torch.Tensor:
    return -final_logits(red) / 2


class RampModel(nn.Module):
    """What Predictor needs of a PMG-SAM model: ``config.image_size`` and a forward giving
    ``mask`` and ``pre_mask`` logits."""

    def __init__(self) -> None:
        super().__init__()
        self.config = SimpleNamespace(image_size=S)
        self.gain = nn.Parameter(torch.ones(()))

    def forward(self, images: torch.Tensor, check_range: bool = True) -> dict:
        red = images[:, :1].float()
        return {"mask": final_logits(red) * self.gain, "pre_mask": pre_logits(red)}


def expected_map(logits_of, name: str) -> np.ndarray:
    """The 0-255 map of image ``name`` derived without the code under test."""
    (height, width), (h, w) = SIZES[name]
    red = torch.full((1, 1, S, S), RED[name] / 255.0)
    prob = torch.sigmoid(logits_of(red))[:, :, :h, :w]
    shrink = height * width < h * w
    full = F.interpolate(
        prob, size=(height, width), mode="bilinear", align_corners=False, antialias=shrink
    )[0, 0]
    return np.rint(full.clamp(0, 1).numpy() * 255).astype(np.uint8)


def read(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for name, ((height, width), _) in SIZES.items():
        pixels = np.zeros((height, width, 3), np.uint8)
        pixels[..., 0] = RED[name]
        Image.fromarray(pixels).save(folder / f"{name}.png")
    return folder


@pytest.fixture
def predictor() -> Predictor:
    return Predictor(RampModel(), "cpu", amp="none")


def test_each_map_is_the_models_probability_resized_back_by_hand(images, predictor, tmp_path):
    out, pre = tmp_path / "out", tmp_path / "pre"
    dataset = ImageFolder(images, S)
    predictor.predict_dataset(dataset, out, batch_size=3, num_workers=0, progress=False,
                              premask_dir=pre)  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == ["small.png", "tall.png", "wide.png"]
    for name, ((height, width), _) in SIZES.items():
        final, pre_map = read(out / f"{name}.png"), read(pre / f"{name}.png")
        assert final.dtype == np.uint8 and final.shape == (height, width)
        # 1 level: float rounding at a .5 tie. A half-pixel shift, align_corners=True, a
        # transposed map, a crop of the padding or a second sigmoid move many levels.
        assert np.abs(final.astype(int) - expected_map(final_logits, name)).max() <= 1
        assert np.abs(pre_map.astype(int) - expected_map(pre_logits, name)).max() <= 1


def test_batching_gives_the_maps_of_batch_1(images, predictor, tmp_path):
    dataset = ImageFolder(images, S)
    trees = []
    for batch in (1, 2, 3):
        out, pre = tmp_path / f"b{batch}", tmp_path / f"p{batch}"
        predictor.predict_dataset(dataset, out, batch_size=batch, num_workers=0, progress=False,
                                  premask_dir=pre)  # fmt: skip
        maps = [*out.iterdir(), *pre.iterdir()]
        trees.append({f"{p.parent.name[0]}/{p.name}": p.read_bytes() for p in maps})
    assert len(trees[0]) == 6 and trees[0] == trees[1] == trees[2]


def test_predict_image_gives_the_probabilities_at_the_arrays_own_size(predictor):
    pixels = np.zeros((40, 36, 3), np.uint8)
    pixels[..., 0] = RED["tall"]
    prob = predictor.predict_image(pixels)
    assert prob.shape == (40, 36) and prob.dtype == torch.float32
    levels = np.rint(prob.numpy() * 255)
    assert np.abs(levels - expected_map(final_logits, "tall")).max() <= 1


def test_a_photo_with_exif_orientation_gets_the_map_of_its_stored_pixels(predictor, tmp_path):
    # pmgsam reads pixels as stored (as the DIS/COD GT masks are): the map has the stored size,
    # not the turned view's, and the bytes of the same pixels saved without the tag.
    pixels = np.zeros((24, 48, 3), np.uint8)
    pixels[..., 0] = RED["wide"]
    pixels[:, :12, 0] = 0  # asymmetric: a turned or mirrored map would differ
    tagged, plain = tmp_path / "tagged", tmp_path / "plain"
    tagged.mkdir(), plain.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # viewers turn it by 90°
    Image.fromarray(pixels).save(tagged / "photo.png", exif=exif)
    Image.fromarray(pixels).save(plain / "photo.png")
    with Image.open(tagged / "photo.png") as img:
        assert ImageOps.exif_transpose(img).size == (24, 48)  # (W, H) of the view: turned
    for folder in (tagged, plain):
        predictor.predict_dataset(ImageFolder(folder, S), tmp_path / f"out-{folder.name}",
                                  num_workers=0, progress=False)  # fmt: skip
    turned = read(tmp_path / "out-tagged" / "photo.png")
    assert turned.shape == (24, 48)
    assert (tmp_path / "out-tagged" / "photo.png").read_bytes() == (
        tmp_path / "out-plain" / "photo.png"
    ).read_bytes()


def test_map_names_are_each_images_stem_with_png(predictor, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pixels = np.full((10, 14, 3), 90, np.uint8)
    for file_name in ("scan.v2.tif", "UPPER.JPEG", "photo.webp", "plain.bmp"):
        Image.fromarray(pixels).save(folder / file_name)
    predictor.predict_dataset(ImageFolder(folder, S), tmp_path / "out", num_workers=0,
                              progress=False)  # fmt: skip
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["UPPER.png", "photo.png", "plain.png", "scan.v2.png"]
    assert all(read(tmp_path / "out" / n).shape == (10, 14) for n in names)


def _argv(images: Path, out: Path, *extra) -> list:
    # The checkpoint is never read: each refusal comes before the model loads.
    return ["--checkpoint", str(images.parent / "never-read.safetensors"), "--input",
            str(images), "--out", str(out), "--num-workers", "0", *extra]  # fmt: skip


def test_two_images_of_one_stem_are_refused_naming_both(images, tmp_path):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(images / "wide.jpg")
    out = tmp_path / "out"
    with pytest.raises(DataError, match=r"'wide\.jpg' and 'wide\.png'|'wide\.png' and 'wide\.jpg'"):
        main(_argv(images, out))
    assert not out.exists()


@pytest.mark.parametrize("spelling", ["same", "dotdot", "link"])
def test_the_image_folder_itself_never_receives_maps(images, tmp_path, spelling):
    out = {"same": images, "dotdot": images / ".." / images.name, "link": tmp_path / "link"}[
        spelling
    ]
    if spelling == "link":
        out.symlink_to(images, target_is_directory=True)
    before = {p.name: p.read_bytes() for p in images.iterdir()}
    with pytest.raises(OutputError, match="input folder"):
        main(_argv(images, out, "--overwrite"))
    assert {p.name: p.read_bytes() for p in images.iterdir()} == before


@pytest.mark.parametrize("where", ["same", "inside", "around"])
def test_premask_maps_never_share_the_final_maps_folder(images, tmp_path, where):
    # Maps of one name in both would replace each other: refused before the model loads.
    out, pre = {
        "same": (tmp_path / "maps", tmp_path / "maps"),
        "inside": (tmp_path / "maps", tmp_path / "maps" / "pre"),
        "around": (tmp_path / "maps" / "final", tmp_path / "maps"),
    }[where]
    with pytest.raises(OutputError, match=r"--premask-out '.*' (is|overlaps) --out"):
        main(_argv(images, out, "--premask-out", str(pre)))
    assert not (tmp_path / "maps").exists()


def test_premask_maps_never_go_into_the_image_folder(images, tmp_path):
    with pytest.raises(OutputError, match=r"--premask-out '.*' is the input folder"):
        main(_argv(images, tmp_path / "out", "--premask-out", str(images), "--overwrite"))
    assert not (tmp_path / "out").exists()

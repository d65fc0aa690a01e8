"""Resize + pad (eval and prediction) and the inverse mapping back to the original size.

Geometry rule, shared by both directions so that :func:`unpad_and_resize` needs only the original
size and S: an (H, W) image is resized so that its long side is exactly S and its short side is
``round_half_up(short * S / long)`` (at least 1), computed in integers by :func:`resized_hw`; it
is placed at the top-left of an S×S canvas and zero-padded on the bottom/right.

Interpolation: ``INTER_AREA`` when shrinking, ``INTER_LINEAR`` when enlarging, for the image and
for the {0, 1} mask alike (the mask is re-binarised above 0.5 afterwards, which is a local majority
vote, a tie being background, and keeps image and mask aligned to sub-pixel accuracy).

The training augmentation lives in :mod:`pmgsam.data.augmentation`; its public names are still
importable from here (looked up on first use, so prediction's imports stay free of it).
"""

from __future__ import annotations

import importlib
import numbers
from typing import Any, Dict, List, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from pmgsam.utils.finite import describe_non_finite, has_non_finite

SizeLike = Union[torch.Tensor, np.ndarray, Sequence[int]]


def resized_hw(height: int, width: int, image_size: int) -> Tuple[int, int]:
    """Size (h, w) of the valid region after resizing (H, W) so the long side equals S
    (each side rounded half up, at least 1).

    Arguments:
      height (int): original height H in pixels.
      width (int): original width W in pixels.
      image_size (int): the network's input side S in pixels.
    """
    if height <= 0 or width <= 0 or image_size <= 0:
        raise ValueError(f"sizes must be positive, got {(height, width)} and S={image_size}")
    long_side = max(height, width)
    # Integer round-half-up of side * S / long: identical on every platform and in both directions.
    h = max(1, (2 * height * image_size + long_side) // (2 * long_side))
    w = max(1, (2 * width * image_size + long_side) // (2 * long_side))
    return int(h), int(w)


def resize_by_rule(arr: np.ndarray, h: int, w: int) -> np.ndarray:
    """``arr`` (H, W[, C]) resized to (h, w) by the module's interpolation rule: area when
    shrinking, bilinear when enlarging; returned as is at that size already."""
    if arr.shape[0] == h and arr.shape[1] == w:
        return arr
    shrink = h * w < arr.shape[0] * arr.shape[1]
    return cv2.resize(arr, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


# Full scale of each integer image type that resize_and_pad takes (16-bit as load_image reads it).
_IMAGE_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def as_rgb_array(image: np.ndarray) -> Tuple[np.ndarray, float]:
    """``(rgb, full_scale)``: an image array as (H, W, 3) RGB and the value that stands for 1.

    Takes what :func:`~pmgsam.data.io.load_image` makes of a file: gray (H, W) or (H, W, 1) is
    repeated to RGB and the alpha of (H, W, 4) is dropped. uint8 (0-255) and uint16 (0-65535)
    keep their type; floats must lie in [0, 1] and become float32. Other shapes, types (bool,
    signed integers) and float values outside [0, 1] (0-255 floats, logits, NaN or inf: the
    message counts them) raise, since each would reach the model as a silently wrong image.

    Arguments:
        image: the image array, (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA.
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array, got {type(image).__name__}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or 0 in image.shape[:2]:
        raise ValueError(
            "image must be (H, W) or (H, W, 1) gray, (H, W, 3) RGB or (H, W, 4) RGBA with "
            f"H, W >= 1; got shape {image.shape}"
        )
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3]
    if image.dtype in _IMAGE_SCALE:
        return image, _IMAGE_SCALE[image.dtype]
    if not np.issubdtype(image.dtype, np.floating):
        raise TypeError(
            f"image must be uint8 (0-255), uint16 (0-65535) or float (0-1); got {image.dtype}"
        )
    low, high = float(np.min(image)), float(np.max(image))
    if not (np.isfinite(low) and np.isfinite(high)):  # NaN spreads to both
        raise ValueError(
            f"a float image must hold values in [0, 1]; it holds {describe_non_finite(image)}"
        )
    if not (0.0 <= low and high <= 1.0):
        hint = " (divide 0-255 images by 255)" if high > 1.5 else ""
        raise ValueError(f"a float image must hold values in [0, 1], got [{low:.4g}, {high:.4g}]"
                         f"{hint}")  # fmt: skip
    return image.astype(np.float32), 1.0


def resize_and_pad(
    image: np.ndarray, mask: np.ndarray | None, image_size: int
) -> Tuple[torch.Tensor, torch.Tensor | None]:
    """Image (as :func:`as_rgb_array` takes it) and optional (H,W) {0,1} mask -> (3,S,S) in
    [0,1], (1,S,S) in {0,1}. A float mask holding NaN or inf raises."""
    image, full_scale = as_rgb_array(image)
    height, width = image.shape[:2]
    h, w = resized_hw(height, width, image_size)
    img = torch.zeros(3, image_size, image_size, dtype=torch.float32)
    resized = resize_by_rule(np.ascontiguousarray(image), h, w)
    # astype copies: the input may be a read-only view (PIL's buffer) when no resize happened.
    scaled = torch.from_numpy(resized.astype(np.float32)).permute(2, 0, 1)
    img[:, :h, :w] = scaled.div_(full_scale) if full_scale != 1.0 else scaled
    if mask is None:
        return img, None
    if mask.shape[:2] != (height, width):
        raise ValueError(f"mask shape {mask.shape[:2]} != image shape {(height, width)}")
    # NaN would read as background and an inf would spread over its resize neighbours.
    if has_non_finite(mask):
        raise ValueError(f"a mask must hold finite values; it holds {describe_non_finite(mask)}")
    out = torch.zeros(1, image_size, image_size, dtype=torch.float32)
    small = resize_by_rule(mask.astype(np.float32), h, w)
    out[0, :h, :w] = torch.from_numpy((small > 0.5).astype(np.float32))
    return img, out


class EvalTransform:
    """Resize (long side to S) + zero-pad bottom/right; no randomness.

    Arguments:
        image_size: S, the side of the square output.
    """

    def __init__(self, image_size: int) -> None:
        self.image_size = int(image_size)

    def __call__(
        self, image: np.ndarray, mask: np.ndarray | None = None
    ) -> Dict[str, torch.Tensor]:
        """Returns ``image`` (3,S,S), ``orig_size`` int64 [H, W] and, if given, ``mask`` (1,S,S).

        ``image`` is any array :func:`as_rgb_array` takes (uint8 RGB as files are read, gray,
        RGBA, uint16, float in [0, 1]).
        """
        img, msk = resize_and_pad(image, mask, self.image_size)
        out = {"image": img, "orig_size": torch.tensor(image.shape[:2], dtype=torch.int64)}
        if msk is not None:
            out["mask"] = msk
        return out


def _size_pair(orig_size: SizeLike) -> Tuple[int, int]:
    """(H, W) of an ``orig_size`` as the caller gave it; an error shows that value."""
    vals = orig_size.tolist() if isinstance(orig_size, (torch.Tensor, np.ndarray)) else orig_size
    try:
        vals = list(vals)
    except TypeError:
        vals = []
    # 4.5 would be cut to 4 by int(): a map one row short of the image, silently.
    whole = all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) and float(v).is_integer()
        for v in vals
    )
    if len(vals) != 2 or not whole:
        raise ValueError(f"orig_size must be [H, W] (two whole numbers), got {orig_size!r}")
    return int(vals[0]), int(vals[1])


def unpad_and_resize(
    x: torch.Tensor, orig_size: SizeLike, image_size: int
) -> Union[torch.Tensor, List[torch.Tensor]]:
    """Map a (..., S, S) map (probabilities or logits) back to the original (..., H, W).

    The valid region ``[:h, :w]`` (from :func:`resized_hw`) is cropped and resized bilinearly
    (``align_corners=False``, antialiased when shrinking) to (H, W). Leading dimensions are kept.

    Arguments:
      x (torch.Tensor): (..., S, S) maps, padded at the bottom and right as
        :func:`resize_and_pad` pads; non-float inputs are converted to float32.
      orig_size (sequence of int, array or tensor): the original [H, W] in pixels; a (B, 2)
        ``orig_size`` with a (B, ...) ``x`` returns a list of B tensors since the sizes may
        differ.
      image_size (int): the side S of ``x``.
    """
    if x.shape[-1] != image_size or x.shape[-2] != image_size:
        raise ValueError(f"expected a (..., {image_size}, {image_size}) map, got {tuple(x.shape)}")
    # Only its shape is read here: sizes are read (and named in errors) as the caller gave them.
    try:
        dims = np.ndim(orig_size.tolist() if isinstance(orig_size, torch.Tensor) else orig_size)
    except ValueError:  # ragged: no (B, 2) table
        dims = 1
    if dims == 2:
        if len(orig_size) != x.shape[0]:
            raise ValueError(f"{len(orig_size)} sizes for a batch of {x.shape[0]} maps")
        return [unpad_and_resize(x[i], orig_size[i], image_size) for i in range(x.shape[0])]
    height, width = _size_pair(orig_size)
    h, w = resized_hw(height, width, image_size)
    lead = x.shape[:-2]
    crop = x[..., :h, :w]
    if not crop.is_floating_point():
        crop = crop.float()
    flat = crop.reshape(-1, 1, h, w)
    shrink = height * width < h * w
    out = F.interpolate(
        flat, size=(height, width), mode="bilinear", align_corners=False, antialias=shrink
    )
    return out.reshape(*lead, height, width)


# Names that lived here before the training augmentation got its own module: code written
# against ``pmgsam.data.transforms`` keeps working. Private names are not forwarded, so a test
# that patches one here fails instead of patching nothing.
_MOVED_TO_AUGMENTATION = frozenset(
    {
        "TrainTransform",
        "albumentations",
        "build_augmentation",
        "reduced_decode_factor",
        "shrink_mask",
        "smallest_crop_side",
    }
)


def __getattr__(name: str) -> Any:
    if name not in _MOVED_TO_AUGMENTATION:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module("pmgsam.data.augmentation"), name)

"""Resize + pad (eval), albumentations training augmentation, and the inverse mapping.

Training order: random crop at full resolution, resize the crop (long side to S), then flip,
rotation and colour jitter at S, then pad. Augmenting the 2K–4K originals before the resize
cost 70–120 ms per 12 MP image; at S the same operations cost a few milliseconds (flip and
jitter commute with the resize; the rotation is the same rotation of the resized crop).

Geometry rule, shared by both directions so that :func:`unpad_and_resize` needs only the original
size and S: an (H, W) image is resized so that its long side is exactly S and its short side is
``round_half_up(short * S / long)`` (at least 1), computed in integers by :func:`resized_hw`; it
is placed at the top-left of an S×S canvas and zero-padded on the bottom/right.

Interpolation: ``INTER_AREA`` when shrinking, ``INTER_LINEAR`` when enlarging, for the image and
for the {0, 1} mask alike (the mask is re-binarised above 0.5 afterwards, which is a local majority
vote, a tie being background, and keeps image and mask aligned to sub-pixel accuracy).
"""

from __future__ import annotations

import numbers
import os
from types import ModuleType
from typing import TYPE_CHECKING, Dict, Iterator, List, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from pmgsam.utils.finite import describe_non_finite, has_non_finite

from .config import AugmentConfig

if TYPE_CHECKING:
    import albumentations as A

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


def _resize(arr: np.ndarray, h: int, w: int) -> np.ndarray:
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
    resized = _resize(np.ascontiguousarray(image), h, w)
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
    small = _resize(mask.astype(np.float32), h, w)
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


def albumentations() -> ModuleType:
    """albumentations, imported on first use (prediction never needs it: ~1 s of a start),
    without its import-time PyPI query (a 2 s timeout and a warning per process offline)
    unless the environment sets NO_ALBUMENTATIONS_UPDATE; setup.cfg bounds its versions."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import albumentations as A

    return A


def build_augmentation(cfg: AugmentConfig) -> Tuple[A.Compose, A.Compose]:
    """albumentations pipelines: the crop (full size), then flip, rotate and colour jitter.

    The image and mask stay aligned in both; :class:`TrainTransform` resizes between them.
    """
    A = albumentations()
    border = (1.0 - cfg.crop_min_scale) / 2.0
    # Cropping up to `border` from each side keeps at least `crop_min_scale` of each side and
    # lets the crop's aspect ratio vary, unlike a fixed-size RandomCrop.
    crop = A.RandomCropFromBorders(
        crop_left=border,
        crop_right=border,
        crop_top=border,
        crop_bottom=border,
        p=cfg.crop_prob,
    )
    steps = [
        A.HorizontalFlip(p=cfg.hflip_prob),
        A.Rotate(
            limit=(-cfg.rotate_limit, cfg.rotate_limit),
            interpolation=cv2.INTER_LINEAR,
            # The mask arrives area-resized and soft; rotating it like the image and binarising
            # afterwards keeps both on the same sub-pixel geometry.
            mask_interpolation=cv2.INTER_LINEAR,
            border_mode=cv2.BORDER_CONSTANT,
            fill=0,
            fill_mask=0,
            p=cfg.rotate_prob,
        ),
        A.ColorJitter(
            brightness=(max(0.0, 1 - cfg.brightness), 1 + cfg.brightness),
            contrast=(max(0.0, 1 - cfg.contrast), 1 + cfg.contrast),
            saturation=(max(0.0, 1 - cfg.saturation), 1 + cfg.saturation),
            hue=(-cfg.hue, cfg.hue),
            p=cfg.color_jitter_prob,
        ),
    ]
    return A.Compose([crop]), A.Compose(steps)


def smallest_crop_side(side: int, cfg: AugmentConfig) -> int:
    """Fewest pixels of an image side of length ``side`` that the random crop can keep.

    The same integer arithmetic as albumentations' ``RandomCropFromBorders`` (the crop of
    :func:`build_augmentation`): at most ``int(border * side)`` pixels are cut from the start and
    the end lies at or after ``int((1 - border) * side)``.
    """
    if not cfg.enabled or cfg.crop_prob == 0:
        return side
    border = (1.0 - cfg.crop_min_scale) / 2.0
    return max(1, int((1 - border) * side) - int(border * side))


def reduced_decode_factor(long_side: int, image_size: int, cfg: AugmentConfig) -> int:
    """Largest f in {1, 2, 4, 8} whose 1/f decode still never makes a training crop upsampled.

    libjpeg's 1/f decode has long side ``ceil(long_side / f)``; the random crop keeps at least
    :func:`smallest_crop_side` of it along that axis, so the crop's long side is at least that,
    and it is resized to S. Requiring that to be >= S means every crop is still shrunk (or kept)
    on its way to S, so the network sees no image that a full-size decode would have made sharper.
    """
    for factor in (8, 4, 2):
        reduced = -(-long_side // factor)
        if smallest_crop_side(reduced, cfg) >= image_size:
            return factor
    return 1


#: Mask pixels :func:`shrink_mask` turns into levels at a time (1 MB of uint8).
_SHRINK_BAND_PIXELS = 1 << 20


def shrink_mask(mask: np.ndarray, shape: Tuple[int, int], factor: int) -> np.ndarray:
    """(H, W) {0, 1} mask -> float32 (h, w) fractions, aligned with a 1/``factor`` JPEG decode.

    ``factor`` is 2, 4 or 8 (the fractions are exact multiples of 1 / factor^2).

    libjpeg's scaled decode averages ``factor`` x ``factor`` blocks, which ``INTER_AREA`` by
    exactly ``factor`` matches. When a side is not a multiple of ``factor``, the last decoded
    row/column comes from a partial block that the JPEG encoder filled by repeating the edge
    pixels; padding the mask the same way keeps the factor exact (a plain resize to
    ``ceil(H / f)`` would stretch the cells, shifting the last ones by up to (f - 1) / f of a
    decoded pixel towards the bottom/right).
    """
    if factor not in (2, 4, 8):
        raise ValueError(f"shrink factor must be 2, 4 or 8, got {factor}")
    h, w = shape
    pad_bottom, pad_right = h * factor - mask.shape[0], w * factor - mask.shape[1]
    if not (0 <= pad_bottom < factor and 0 <= pad_right < factor):
        raise ValueError(f"mask {mask.shape} is not a 1/{factor} match of {shape}")
    # {0, 64} in uint8: every block sum times 64 / f^2 is an integer for f in {2, 4, 8}, so the
    # fast 8-bit area resize is exact, and 5x faster than float32 on a 4K mask. Exact, so each
    # band of whole blocks shrinks on its own to the same values: a band's levels (and its
    # edge-replicated copy, at the last band or with a partial column) are all this holds beside
    # the result, not two full-size copies (48 MB for a 24 MP mask).
    fractions = np.empty((h, w), np.float32)
    rows = max(1, _SHRINK_BAND_PIXELS // (mask.shape[1] * factor))  # result rows a band
    for top in range(0, h, rows):
        bottom = min(h, top + rows)
        band = mask[top * factor : bottom * factor]
        levels = (band != 0).view(np.uint8)  # the fresh bool array, scaled in place
        levels *= 64
        pad_rows = max(0, bottom * factor - mask.shape[0])
        if pad_rows or pad_right:
            levels = cv2.copyMakeBorder(levels, 0, pad_rows, 0, pad_right, cv2.BORDER_REPLICATE)
        fractions[top:bottom] = cv2.resize(levels, (w, bottom - top), interpolation=cv2.INTER_AREA)
    fractions /= 64.0
    return fractions


class TrainTransform:
    """Random crop, resize (long side to S), flip/rotate/jitter at S, zero-pad (albumentations).

    A call given ``draw`` (training's :class:`~pmgsam.data.datasets.DrawKey`: the run's seed,
    the epoch, the sample's index, its repeat) seeds the albumentations pipelines from it alone,
    so a sample's augmentation is the same whichever DataLoader worker (how many, persistent or
    not, before or after a resume) computes it. Without ``draw`` the seeds come from ``torch``'s
    RNG (``torch.manual_seed`` in the calling process). Every step gets a seed of its own:
    albumentations 2.0.x gives a pipeline's steps all the pipeline's seed, and their coin flips
    then coincide (at the default probabilities, flip, rotation and jitter all or none).
    ``orig_size`` is the size of the crop before resizing (equal to the original size unless a
    crop happened), so that :func:`unpad_and_resize` still locates the valid region; for an
    image decoded at reduced size (``data.reduced_decode``) it is the crop in decoded pixels.
    ``mask`` may be {0, 1} or soft (float32 fractions); it is binarised at 0.5 after the resize.

    Arguments:
        image_size: S, the side of the square output.
        cfg: augmentation settings; ``cfg.enabled = False`` gives the eval transform.
    """

    def __init__(self, image_size: int, cfg: AugmentConfig | None = None) -> None:
        self.image_size = int(image_size)
        self.cfg = cfg if cfg is not None else AugmentConfig()
        self.pipelines = build_augmentation(self.cfg) if self.cfg.enabled else None

    def __call__(
        self, image: np.ndarray, mask: np.ndarray, draw: Sequence[int] | None = None
    ) -> Dict[str, torch.Tensor]:
        """The augmented sample of ``image`` and ``mask``; ``draw``: non-negative integers that
        alone choose the augmentation (the same ``draw``, the same result)."""
        if self.pipelines is None:
            return EvalTransform(self.image_size)(image, mask)
        crop, at_size = self.pipelines
        if draw is None:
            entropy = [int(v) for v in torch.randint(0, 2**31 - 1, (2,))]
        else:
            entropy = [int(v) for v in draw]
        steps = len(crop.transforms) + len(at_size.transforms)
        seeds = iter(np.random.SeedSequence(entropy).generate_state(steps + 2).tolist())
        _seed_each_step(crop, seeds)
        out = crop(image=image, mask=mask)
        image, mask = out["image"], out["mask"]
        crop_hw = image.shape[:2]
        h, w = resized_hw(*crop_hw, self.image_size)
        image = _resize(np.ascontiguousarray(image), h, w)
        # Kept soft (area-resized like the image) until the eval transform binarises it at 0.5.
        # A reduced decode's mask is float32 already: its crop is resized without a copy (no
        # step writes into the mask it is given).
        mask = _resize(mask.astype(np.float32, copy=False), h, w)
        _seed_each_step(at_size, seeds)
        out = at_size(image=image, mask=mask)
        # (h, w) already has its long side at S, so the eval transform only pads.
        sample = EvalTransform(self.image_size)(out["image"], out["mask"])
        sample["orig_size"] = torch.tensor(crop_hw, dtype=torch.int64)
        return sample


def _seed_each_step(pipeline: A.Compose, seeds: Iterator[int]) -> None:
    """Seed ``pipeline`` and then each of its steps with the next of ``seeds``: Compose's own
    ``set_random_seed`` hands every step the same seed, which makes their draws coincide."""
    pipeline.set_random_seed(next(seeds))
    for step in pipeline.transforms:
        step.set_random_seed(next(seeds))


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

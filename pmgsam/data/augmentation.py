"""Training augmentation (albumentations) and the reduced-decode helpers that depend on its crop.

Training order: random crop at full resolution, resize the crop (long side to S), then flip,
rotation and colour jitter at S, then pad. Augmenting the 2K–4K originals before the resize
cost 70–120 ms per 12 MP image; at S the same operations cost a few milliseconds (flip and
jitter commute with the resize; the rotation is the same rotation of the resized crop).

Resizing and padding follow the geometry rule of :mod:`pmgsam.data.transforms`.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import TYPE_CHECKING, Dict, Iterator, Sequence, Tuple

import cv2
import numpy as np
import torch

from .config import AugmentConfig
from .transforms import EvalTransform, resize_by_rule, resized_hw

if TYPE_CHECKING:
    import albumentations as A


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
    crop happened), so that :func:`~pmgsam.data.transforms.unpad_and_resize` still locates the
    valid region; for an image decoded at reduced size (``data.reduced_decode``) it is the crop
    in decoded pixels.
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
        image = resize_by_rule(np.ascontiguousarray(image), h, w)
        # Kept soft (area-resized like the image) until the eval transform binarises it at 0.5.
        # A reduced decode's mask is float32 already: its crop is resized without a copy (no
        # step writes into the mask it is given).
        mask = resize_by_rule(mask.astype(np.float32, copy=False), h, w)
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

"""The image and mask readers of pmgsam.data.io as they were before pil_pixels and the 16-bit
table (commit d96b244): the pixels, dtype and warnings the new readers must reproduce."""

from __future__ import annotations

import numpy as np

from pmgsam.data import io


def _old_to_uint8(arr, high=None):
    """io.to_uint8 before the 16-bit table."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        high = io._finite_range(arr)[1] if high is None else high
        scale = 255.0 if high <= io.FLOAT_PROBABILITY_MAX else 1.0
        arr = np.nan_to_num(arr, nan=0.0, posinf=255.0 / scale, neginf=0.0)
        return np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8)
    arr = np.clip(arr.astype(np.int64), 0, 65535)
    return ((arr * 255 + 32767) // 65535).astype(np.uint8)


def _old_load_image(path):
    """io.load_image before pil_pixels: np.asarray of the (converted) PIL image."""
    img = io._open(path, "image")
    if img.mode in io._SIXTEEN_BIT_MODES or img.mode == "F":
        raw = np.asarray(img)
        high = None
        if img.mode == "F":
            high = io._check_floats(
                raw, path, "image", "save images as 0-1 or 0-255 (not normalised)"
            )
        else:
            io._warn_beyond_scale(raw, path, "image")
            io._warn_dim_16_bit_image(raw, path, io._bit_depth(img, raw))
        gray = _old_to_uint8(raw, high)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def _old_mask_pixels(path, what):
    """The array the old io.load_mask took its values from, with the mode it had."""
    img = io._open(path, what)
    if img.mode == "1":
        return np.asarray(img.convert("L")), "L"
    if img.mode in ("P", "PA"):
        img = img.convert("RGBA" if "transparency" in img.info or img.mode == "PA" else "RGB")
    if img.mode not in ("L", "F", "RGB", "RGBA", "LA") + io._SIXTEEN_BIT_MODES:
        img = img.convert("RGB")
    return np.asarray(img), img.mode


def _old_load_mask(path: object, what: str = "mask", labels_01: bool = True) -> np.ndarray:
    """io.load_mask before pil_pixels and the 16-bit table, verbatim."""
    img = io._open(path, what)
    cut_out = False  # the dim values of a cut-out's photo are no label mask's
    if img.mode == "1":
        return np.asarray(img.convert("L"))
    palette = img.mode in ("P", "PA")
    if palette:
        img = img.convert("RGBA" if "transparency" in img.info or img.mode == "PA" else "RGB")
    if img.mode in ("L", "F") + io._SIXTEEN_BIT_MODES:
        raw = np.asarray(img)
    else:
        if img.mode not in ("RGB", "RGBA", "LA"):
            img = img.convert("RGB")
        arr = np.asarray(img)
        alpha = arr[:, :, -1] if img.mode in ("RGBA", "LA") else None
        colour = arr if alpha is None else arr[:, :, :-1]
        if alpha is not None and alpha.min() < 255 and np.all(colour == colour[:1, :1]):
            raw = alpha
        else:
            raw = colour.max(axis=2)
            if alpha is not None:  # compared with the shape read: a label's 0/v reads 0/255
                shown = (raw > 0) * 255 if io._is_label_mask(raw, labels_01) else raw
                cut_out = io._warn_alpha_disagrees(shown, alpha, path, what)
            if not labels_01 and colour.shape[2] > 1:
                io._warn_colour_prediction(colour, path, what)
    if raw.dtype.kind == "f":
        high = io._check_floats(
            raw, path, what, "logits? apply a sigmoid and save probabilities (0-1) or 0-255"
        )
        return np.ascontiguousarray(_old_to_uint8(raw, high))
    if np.issubdtype(raw.dtype, np.integer):
        top = int(raw.max(initial=0))
        if io._is_label_mask(raw, labels_01):
            io._warn_mask(
                f"{what} file '{path}' holds 0/{top} labels; read as 0/255 (save masks as "
                "0/255 to silence this)",
                path,
            )
            return np.ascontiguousarray((raw > 0).astype(np.uint8) * 255)
        if labels_01 and raw.dtype == np.uint8 and 0 < top <= 128 and not cut_out:
            io._warn_mask(
                f"{what} file '{path}' holds several values from 0 to {top} and none above "
                "128, so it reads as an empty mask (foreground is > 128); if it is a label "
                "mask (0/1 saved as JPEG, or class ids), save it as a 0/255 PNG",
                path,
            )
        if labels_01 and palette and top > 128:
            io._warn_dark_labels_in_boundary(raw, path, what)
        if not labels_01 and raw.dtype == np.uint8 and top == 1 and int(raw.min()) == 0:
            io._warn_mask(
                f"{what} file '{path}' holds only the values 0 and 1 (of 255): thresholds "
                "(HCE's > 128, COS instances' > 0.5, IoU) find it empty, the min-max normalised "
                "DIS metrics read it as 0/255; if it is a 0/1 label map, save it as 0/255 (a "
                "faint probability map, every pixel below 1.5/255, is read the same way)",
                path,
            )
        if raw.dtype != np.uint8 and 0 < top <= 255:
            io._warn_mask(
                f"{what} file '{path}' is {io._bit_depth(img, raw)}-bit but never exceeds "
                f"{top}, so "
                f"it is scaled to "
                f"at most {round(top * 255 / 65535)}/255; if it holds 0-255 values, save it "
                "as 8-bit",
                path,
            )
    io._warn_beyond_scale(raw, path, what)
    return np.ascontiguousarray(_old_to_uint8(raw))

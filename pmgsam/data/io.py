"""Reading images, masks and instance maps (listing their folders: :mod:`pmgsam.data.listing`).

Every reader raises :class:`DataError` naming the file when it cannot be decoded, so a corrupt
file in a 3000-image dataset is found by name instead of surfacing as a PIL traceback inside a
DataLoader worker. Files are only ever read, never rewritten.

Conversion rules (any PIL mode, 8 or 16 bit). :func:`load_mask` is THE reader of GT masks and of
predicted probability maps: training, inference and evaluation all read masks through it.

* images become 8-bit RGB; 16-bit data is scaled by 255/65535 (not clipped), with a
  :class:`MaskValueWarning` naming a 16- or 32-bit image that never exceeds 4095 (8-bit values or
  12-bit data: it reads nearly black); alpha is dropped;
* masks and maps become 8-bit single-channel 0-255:

  - gray: as stored; 16-bit (and 32-bit integer) values are scaled by 255/65535; float maps
    whose largest finite value is at most 1.5 are probabilities, scaled by 255 and clipped (a
    resampled probability map overshoots 1 a little), larger floats are taken as 0-255 already;
    values beyond the scale are clipped to its top, with a :class:`MaskValueWarning` naming
    the file and its maximum when that is beyond what resampling overshoots (a float above
    1.5 × 255, an integer above 65535; cv2, which the official DIS tools read maps with, reads
    no float or 32-bit TIFF at all);
  - colour or palette: the brightest channel, so coloured labels on black (red on black, a VOC
    palette) count as foreground (a prediction that is a colour picture, such as a
    colour-mapped map, gets a :class:`MaskValueWarning` naming the file: its brightest channel
    is no probability; a palette GT mask whose foreground only outlines larger regions of
    dark labels, a VOC class mask whose objects are dark red 128... and whose boundary is 224,
    gets one naming the file); an RGBA/LA file of one colour (grey or not) that is not
    fully opaque uses its alpha channel (masks exported as transparency), while a fully
    opaque one shows its colour (opaque black is an empty mask, not 255); a file of several
    colours is read by its colour, with a :class:`MaskValueWarning` naming it when its alpha
    shows another shape (IoU below 0.5: a cut-out, whose object is its alpha);
  - GT masks stored as labels (an integer mask whose non-zero pixels all hold one value
    ``v <= 128``: 0/1 masks, a VOC palette's dark red 128) read ``v`` as 255, with a
    :class:`MaskValueWarning` naming the file, instead of reading as empty; an 8-bit GT mask
    with several non-zero values, none above 128 (a 0/1 mask saved as JPEG, class ids 0/1/2),
    reads as empty, with a :class:`MaskValueWarning` naming the file;
  - a prediction (``labels_01=False``) holding only 0 and 1 keeps its values, with a
    :class:`MaskValueWarning` naming the file: thresholds find it empty while the min-max
    normalised DIS metrics read it as 0/255, so it is probably a 0/1 label mask;
  - a 16-bit (or 32-bit integer) map that never exceeds 255 is scaled like any 16-bit map (it
    reads as nearly black) with a :class:`MaskValueWarning` naming the file and its depth: it
    probably holds 0-255 values and should be saved as 8-bit;
  - a float map (or float image, :func:`load_image`) whose minimum is below ``-0.5`` and
    below minus half its maximum is read as above, negative values clipped to 0 (nearly
    black), with a :class:`MaskValueWarning` naming the file: it probably holds logits, which
    need a sigmoid before saving. Resampling a map of values >= 0 undershoots far less
    (:data:`FLOAT_LOGIT_DEPTH`), and 0-255 floats are never negative, so neither warns;
  - a float map or image holding NaN or infinities reads NaN and -inf as 0 and +inf as 255
    (the scale comes from its finite values), with a :class:`MaskValueWarning` naming the
    file and how many pixels of each: whatever wrote it failed there;
  - from DataLoader workers (new processes every epoch) these warnings name each file once
    per run, and only the first :data:`NAMED_MASK_FILES` files, the last of them saying that
    later ones are read the same way (:class:`pmgsam.utils.messages.FilesNamedOnce`);

  the binary GT is ``mask > 128`` in training and evaluation alike (PySODMetrics' rule);
* instance maps keep their raw values (palette indices, gray levels or packed RGB) so that each
  distinct non-zero value is one instance.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np
from PIL import Image, UnidentifiedImageError

from pmgsam.utils.finite import describe_non_finite
from pmgsam.utils.io import is_link_loop

# Re-exported: callers and user code import these from here.
from .errors import DataError, DataNotFoundError
from .levels import FLOAT_PROBABILITY_MAX, _finite_range, to_uint8
from .listing import (  # noqa: F401
    IMAGE_EXTENSIONS,
    MASK_EXTENSIONS,
    list_files,
    natural_key,
    other_files,
)
from .mask_warnings import (  # noqa: F401
    NAMED_MASK_FILES,
    MaskValueWarning,
    _warn_alpha_disagrees,
    _warn_colour_prediction,
    _warn_dark_labels_in_boundary,
    _warn_mask,
    worker_warnings_init,
)
from .pil_arrays import pil_pixels

PathLike = Union[str, Path]

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def _missing(path: Path, what: str) -> DataNotFoundError:
    if is_link_loop(path):
        return DataNotFoundError(
            f"{what} file '{path}' is a symbolic link loop (to '{path.readlink()}', which leads "
            "back to it): point it at the real file, or remove it"
        )
    if path.is_symlink():
        target = path.readlink()
        return DataNotFoundError(f"{what} file '{path}' is a broken symbolic link (to '{target}')")
    return DataNotFoundError(f"{what} file '{path}' does not exist")


def _unreadable(path: Path, what: str, err: Exception) -> DataError:
    if isinstance(err, Image.DecompressionBombError):
        # PIL refuses images above 2 x Image.MAX_IMAGE_PIXELS (about 179 million pixels).
        return DataError(
            f"cannot read {what} file '{path}': more pixels than PIL opens "
            f"({err}); downscale it first"
        )
    return DataError(f"cannot read {what} file '{path}': corrupt or unsupported ({err})")


_READ_ERRORS = (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError,
                ValueError)  # fmt: skip


def _open(path: PathLike, what: str) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise _missing(path, what)
    try:
        img = Image.open(path)
    except _READ_ERRORS as err:
        raise _unreadable(path, what, err) from err
    try:
        # Decode now: PIL is lazy and would otherwise fail later, far from the file name.
        img.load()
    except _READ_ERRORS as err:
        # PIL keeps a file it failed to decode open, and the error's traceback keeps the image:
        # a --keep-going run over many broken files would hold each open until the next GC.
        img.close()
        raise _unreadable(path, what, err) from err
    frames = getattr(img, "n_frames", 1)
    # A multi-page TIFF or an animated PNG / WebP. Not a camera's MPO JPEG, whose first frame
    # is the photo itself (the others are previews or the second view of a stereo pair).
    if frames > 1 and img.format != "MPO":
        _warn_mask(f"{what} file '{path}' holds {frames} pages or frames: only the first is read",
                   path)  # fmt: skip
    return img


def read_header(path: PathLike, what: str = "image") -> Tuple[int, int, str, str]:
    """(H, W, format, PIL mode) of an image file, read from its header only."""
    path = Path(path)
    if not path.is_file():
        raise _missing(path, what)
    try:
        with Image.open(path) as img:
            w, h = img.size
            return h, w, str(img.format), img.mode
    except _READ_ERRORS as err:
        raise _unreadable(path, what, err) from err


def read_size(path: PathLike, what: str = "image") -> Tuple[int, int]:
    """(H, W) of an image file, read from its header only."""
    h, w = read_header(path, what)[:2]
    return h, w


# A float map is taken for logits when its minimum is below -FLOAT_LOGIT_DEPTH * max(1, its
# maximum). Bicubic and Lanczos undershoot a mask of values in [0, m] by at most ~0.18 m at its
# edges, lines and dots (only 2-D pixel noise resampled with Lanczos reaches ~0.7 m), while
# logits run about as far below 0 as above it (a model's background is -5 to -20).
FLOAT_LOGIT_DEPTH = 0.5


def _check_floats(arr: np.ndarray, path: PathLike, what: str, hint: str) -> float:
    """A float map's warnings (NaN or inf, logits, beyond 0-255); returns its largest finite
    value (at least 0), to_uint8's ``high``. Without the first, a method that failed on some
    pixels (or all) would score as a faint or empty map without a word."""
    low, high = float(np.min(arr, initial=0.0)), float(np.max(arr, initial=0.0))
    if not (math.isfinite(low) and math.isfinite(high)):
        _warn_mask(
            f"{what} file '{path}' holds {describe_non_finite(arr, 'pixels')}: NaN and -inf "
            "read as 0, +inf as 255; whatever wrote it failed there",
            path,
        )
        low, high = _finite_range(arr)
    _warn_negative_floats(low, high, path, what, hint)
    _warn_beyond_scale(arr, path, what, high)
    return high


def _warn_negative_floats(low: float, high: float, path: PathLike, what: str, hint: str) -> None:
    """Warn when a float map (finite values from ``low`` to ``high``) goes clearly below 0
    (:data:`FLOAT_LOGIT_DEPTH`): to_uint8 clips those values to 0, so most of the map reads as
    black."""
    if low < -FLOAT_LOGIT_DEPTH * max(1.0, high):
        scale = "probabilities" if high <= FLOAT_PROBABILITY_MAX else "0-255 values"
        _warn_mask(
            f"{what} file '{path}' holds float values from {low:.3g} to {high:.3g}: read as "
            f"{scale} with every value below 0 clipped to 0, so it reads nearly black; {hint}",
            path,
        )


def _warn_beyond_scale(
    arr: np.ndarray, path: PathLike, what: str, high: Optional[float] = None
) -> None:
    """Warn when to_uint8 clips values above its scale (a float above 255, an integer above
    65535): no reader says what such a map means, and its bright part becomes one value. A
    float up to FLOAT_PROBABILITY_MAX times 255 is a resampled 0-255 map's overshoot.
    ``high``: the largest (finite) value, if known."""
    floats = arr.dtype.kind == "f"
    if high is None:
        high = _finite_range(arr)[1] if floats else float(np.max(arr, initial=0))
    top, bound = (255, FLOAT_PROBABILITY_MAX * 255) if floats else (65535, 65535)
    if arr.dtype != np.uint8 and high > bound:
        scale = "0-255 values" if top == 255 else "16-bit values (scaled by 255/65535)"
        # +inf has its own warning (_check_floats).
        clipped = np.mean((arr > top) & (arr < np.inf)) if floats else np.mean(arr > top)
        _warn_mask(
            f"{what} file '{path}' holds values up to {high:.6g}: read as {scale} with every "
            f"value above {top} clipped to {top} ({clipped:.1%} of its pixels); "
            "save it as 8 or 16 bits, or as floats in 0-1 or 0-255",
            path,
        )


#: A 16-bit image whose brightest pixel is at most this (12-bit data, or 8-bit values saved
#: as 16 bits) reads at most 16/255 after the 255/65535 scaling: the model sees a black image.
DIM_16_BIT_TOP = 4095


def _bit_depth(img: Image.Image, raw: np.ndarray) -> int:
    """An integer file's bits per value, as its warnings name it: PIL reads 32-bit TIFFs as
    int32, and older Pillows 16-bit PNGs too, while PNG holds at most 16 bits."""
    return 16 if img.format == "PNG" else 8 * raw.dtype.itemsize


def _warn_dim_16_bit_image(raw: np.ndarray, path: PathLike, bits: int) -> None:
    top = int(raw.max(initial=0))
    if 0 < top <= DIM_16_BIT_TOP:
        _warn_mask(
            f"image file '{path}' is {bits}-bit but never exceeds {top} (of 65535), so it reads "
            f"at most {round(top * 255 / 65535)}/255, nearly black; if it holds 0-255 values, "
            "save it as 8-bit, and scale 10- or 12-bit data to 0-65535",
            path,
        )


def load_image(path: PathLike) -> np.ndarray:
    """Read an image as an (H, W, 3) uint8 RGB array (no EXIF rotation, alpha dropped)."""
    img = _open(path, "image")
    if img.mode not in _SIXTEEN_BIT_MODES and img.mode != "F":
        rgb = pil_pixels(img, "RGB")
        img.close()
        return rgb
    raw = pil_pixels(img)  # 16-bit integers, or float32 in mode "F"
    img.close()  # PIL's buffer is not needed beside raw and its 8-bit copies
    high = None
    if img.mode == "F":
        high = _check_floats(raw, path, "image", "save images as 0-1 or 0-255 (not normalised)")
    else:
        _warn_beyond_scale(raw, path, "image")
        _warn_dim_16_bit_image(raw, path, _bit_depth(img, raw))
    gray = to_uint8(raw, high)
    del raw
    return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))


def _is_label_mask(raw: np.ndarray, labels_01: bool) -> bool:
    """Whether ``raw`` is a 0/v label mask (v <= 128) that ``labels_01`` reads as 0/255."""
    if not labels_01 or not np.issubdtype(raw.dtype, np.integer):
        return False
    top = int(raw.max(initial=0))
    return 0 < top <= 128 and bool(np.all((raw == 0) | (raw == top)))


def load_mask(path: PathLike, what: str = "mask", labels_01: bool = True) -> np.ndarray:
    """Read a mask or probability map as an (H, W) uint8 array on the 0-255 scale.

    The rules are in the module doc. ``what`` names the file in messages (``"mask"``,
    ``"prediction"``...). ``labels_01`` reads a label mask (0/1, 0/v with v <= 128) as 0/255
    (with a warning); it is for GT masks, not for predictions, where low values are valid.
    """
    img = _open(path, what)
    cut_out = False  # the dim values of a cut-out's photo are no label mask's
    if img.mode == "1":
        bits = pil_pixels(img, "L")
        img.close()
        return bits
    palette = img.mode in ("P", "PA")
    mode = img.mode
    if palette:
        mode = "RGBA" if "transparency" in img.info or img.mode == "PA" else "RGB"
    elif mode not in ("L", "F", "RGB", "RGBA", "LA") + _SIXTEEN_BIT_MODES:
        mode = "RGB"
    # Converted band by band; PIL's buffer is freed before the full-size checks below.
    pixels = pil_pixels(img, mode)
    img.close()
    if pixels.ndim == 2:
        raw = pixels
    else:
        alpha = pixels[:, :, -1] if mode in ("RGBA", "LA") else None
        colour = pixels if alpha is None else pixels[:, :, :-1]
        # One colour everywhere (red as well as grey) with some transparency: the shape is in
        # alpha. Checked only for files with alpha, where it can matter.
        if alpha is not None and alpha.min() < 255 and np.all(colour == colour[:1, :1]):
            # Masks exported as transparency carry the shape only in alpha. A fully opaque
            # file shows its colour: an empty mask saved as opaque black is empty, not 255.
            raw = alpha
        else:
            raw = colour.max(axis=2)
            if alpha is not None:  # compared with the shape read: a label's 0/v reads 0/255
                shown = (raw > 0) * 255 if _is_label_mask(raw, labels_01) else raw
                cut_out = _warn_alpha_disagrees(shown, alpha, path, what)
            if not labels_01 and colour.shape[2] > 1:
                _warn_colour_prediction(colour, path, what)
    if raw.dtype.kind == "f":
        high = _check_floats(
            raw, path, what, "logits? apply a sigmoid and save probabilities (0-1) or 0-255"
        )
        return np.ascontiguousarray(to_uint8(raw, high))
    if np.issubdtype(raw.dtype, np.integer):
        top = int(raw.max(initial=0))
        if _is_label_mask(raw, labels_01):
            _warn_mask(
                f"{what} file '{path}' holds 0/{top} labels; read as 0/255 (save masks as "
                "0/255 to silence this)",
                path,
            )
            return np.ascontiguousarray((raw > 0).astype(np.uint8) * 255)
        if labels_01 and raw.dtype == np.uint8 and 0 < top <= 128 and not cut_out:
            # Not two-level, so not read as labels: a 0/1 mask saved as JPEG (0-3 after its
            # loss) or class ids (0/1/2). Foreground is > 128, so it reads empty.
            _warn_mask(
                f"{what} file '{path}' holds several values from 0 to {top} and none above "
                "128, so it reads as an empty mask (foreground is > 128); if it is a label "
                "mask (0/1 saved as JPEG, or class ids), save it as a 0/255 PNG",
                path,
            )
        if labels_01 and palette and top > 128:
            _warn_dark_labels_in_boundary(raw, path, what)
        if not labels_01 and raw.dtype == np.uint8 and top == 1 and int(raw.min()) == 0:
            # Thresholds on raw values see nothing in it, while the DIS metrics' min-max
            # normalisation sees a 0/255 map: one file, two readings, and no error either way.
            _warn_mask(
                f"{what} file '{path}' holds only the values 0 and 1 (of 255): thresholds "
                "(HCE's > 128, COS instances' > 0.5, IoU) find it empty, the min-max normalised "
                "DIS metrics read it as 0/255; if it is a 0/1 label map, save it as 0/255 (a "
                "faint probability map, every pixel below 1.5/255, is read the same way)",
                path,
            )
        if raw.dtype != np.uint8 and 0 < top <= 255:
            _warn_mask(
                f"{what} file '{path}' is {_bit_depth(img, raw)}-bit but never exceeds {top}, so "
                f"it is scaled to "
                f"at most {round(top * 255 / 65535)}/255; if it holds 0-255 values, save it "
                "as 8-bit",
                path,
            )
    _warn_beyond_scale(raw, path, what)
    return np.ascontiguousarray(to_uint8(raw))


def binarize(mask: np.ndarray) -> np.ndarray:
    """{0, 1} uint8 mask from an 8-bit mask: foreground is ``> 128``, as in the DIS metrics."""
    return (mask > 128).view(np.uint8)  # bool is one byte of 0 or 1: no second copy


def load_instance_map(path: PathLike) -> np.ndarray:
    """Read an instance PNG as an (H, W) int64 label map; 0 is background."""
    img = _open(path, "instance map")
    if img.mode in ("P", "PA", "L", "1", "I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img.getchannel(0) if img.mode == "PA" else img)
        return arr.astype(np.int64)
    if img.mode in ("LA",):
        return np.asarray(img.getchannel(0)).astype(np.int64)
    rgb = np.asarray(img.convert("RGB")).astype(np.int64)
    return (rgb[:, :, 0] << 16) | (rgb[:, :, 1] << 8) | rgb[:, :, 2]

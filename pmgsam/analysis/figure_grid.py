"""The grid of a qualitative figure: cells letterboxed to one aspect ratio, column headers
wrapped to the cell width in the font they are drawn in, optional row labels, saved at an exact
pixel size (:mod:`pmgsam.analysis.plots`).

The cell size follows the median aspect of the rows' images (:func:`cell_size`); each cell is
letterboxed to it (:func:`fit_cell`) before :func:`draw_grid` draws it, so that a caller can
shrink a cell as soon as it is read instead of holding every full-size image until the grid is
drawn."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .plots import new_figure, save_png

CELL_PX = 320  # resolution of a cell's longer side before matplotlib scales it
HEADER_IN = 0.13
HEADER_PT = 6
HEADER_MARGIN_PT = 2  # kept free between neighbouring column headers
GAP_PX = 6
ROW_LABEL_IN = 0.28


def letterbox(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize ``img`` to fit ``width`` x ``height`` keeping its aspect, padding with white."""
    h, w = img.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width) + img.shape[2:], 255, img.dtype)
    y, x = (height - nh) // 2, (width - nw) // 2
    canvas[y : y + nh, x : x + nw] = small
    return canvas


def cell_size(image_sizes: Sequence[Tuple[int, int]]) -> Tuple[int, int]:
    """(width, height) in pixels of every cell of a grid whose rows show images of these
    (H, W) sizes: their median aspect, the longer side ``CELL_PX``."""
    aspect = float(np.median([h / w for h, w in image_sizes]))
    return (CELL_PX, round(CELL_PX * aspect)) if aspect <= 1 else (round(CELL_PX / aspect), CELL_PX)


def fit_cell(img: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """``img`` letterboxed to a cell of ``size`` (width, height) as :func:`draw_grid` draws it."""
    cw, ch = size
    # A white margin inside each cell separates neighbours without changing the size.
    return cv2.copyMakeBorder(
        letterbox(img, cw - 2 * GAP_PX, ch - 2 * GAP_PX),
        GAP_PX,
        GAP_PX,
        GAP_PX,
        GAP_PX,
        cv2.BORDER_CONSTANT,
        value=(255, 255, 255),
    )


def text_width_pt(text: str, size: float) -> float:
    """Width in points of one line of ``text`` at ``size`` pt in matplotlib's default font."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    return float(TextPath((0, 0), text, prop=FontProperties(size=size)).get_extents().width)


def wrap_to_width(text: str, width_pt: float, size: float) -> str:
    """``text`` broken into lines at most ``width_pt`` wide at ``size`` pt: at spaces; a word
    wider than a line on its own after its hyphens, underscores, slashes and dots (method
    names: ``points-per-side``), and only a part still too wide where the line is full."""
    lines: List[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if text_width_pt(candidate, size) <= width_pt:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        for part in re.findall(r"[^-_/.]*[-_/.]?", word):
            if line and text_width_pt(line + part, size) > width_pt:
                lines.append(line)
                line = ""
            for char in part:  # a part too wide alone is cut where the line is full
                if line and text_width_pt(line + char, size) > width_pt:
                    lines.append(line)
                    line = ""
                line += char
    return "\n".join(lines + [line] if line else lines)


def wrapped_headers(headers: Sequence[str], width_in: float, row_labels: bool = False) -> List[str]:
    """``headers`` wrapped to the cell width of a grid of ``width_in`` inches (less the row
    labels' margin), measured in the font they are drawn in."""
    cell_in = (width_in - (ROW_LABEL_IN if row_labels else 0.0)) / len(headers)
    return [wrap_to_width(h, cell_in * 72 - HEADER_MARGIN_PT, HEADER_PT) for h in headers]


def header_lines(headers: Sequence[str], width_in: float, row_labels: bool = False) -> List[int]:
    """How many lines each of ``headers`` takes in :func:`draw_grid`'s grid."""
    return [h.count("\n") + 1 for h in wrapped_headers(headers, width_in, row_labels)]


def draw_grid(
    rows: Sequence[List[np.ndarray]],
    headers: Sequence[str],
    path: Path,
    width_in: float,
    dpi: int,
    row_labels: Optional[Sequence[str]] = None,
) -> Path:
    """Draw cells of one size (:func:`fit_cell`'s; RGB or grayscale uint8) in a rows x columns
    grid and save a PNG."""
    shapes = sorted({img.shape[:2] for r in rows for img in r})
    if len(shapes) != 1:
        raise ValueError(f"grid cells of several sizes {shapes}: fit them with fit_cell first")
    ch, cw = shapes[0]
    ncols = len(headers)
    label_in = ROW_LABEL_IN if row_labels else 0.0
    cell_in = (width_in - label_in) / ncols
    headers = wrapped_headers(headers, width_in, bool(row_labels))
    header_in = HEADER_IN * max(h.count("\n") + 1 for h in headers)
    height_in = header_in + len(rows) * cell_in * ch / cw
    fig, axes = new_figure((width_in, height_in), layout=None, nrows=len(rows), ncols=ncols)
    fig.subplots_adjust(
        left=label_in / width_in,
        right=1,
        bottom=0,
        top=1 - header_in / height_in,
        wspace=0,
        hspace=0,
    )
    for r, cells in enumerate(rows):
        for c, img in enumerate(cells):
            ax = axes[r, c]
            ax.imshow(img, cmap=None if img.ndim == 3 else "gray", vmin=0, vmax=255, aspect="auto")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if r == 0:
                ax.set_title(headers[c], fontsize=HEADER_PT, pad=2)
        if row_labels:
            axes[r, 0].set_ylabel(row_labels[r], fontsize=5, labelpad=2)
    return save_png(fig, path, dpi)

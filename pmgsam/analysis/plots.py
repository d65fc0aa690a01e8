"""Matplotlib figures of the analyses: Fig. 9 line plots and the Fig. 10 scatter.

Figures are drawn with the Agg backend (no display needed, ``MPLBACKEND`` ignored) at an exact
pixel size: ``size`` is (width, height) in inches, the PNG is ``round(width * dpi) x
round(height * dpi)`` pixels (no tight bounding box, which would change the size). Paper column
widths: one column about 3.5 in, two columns about 7.2 in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence, Tuple, Union

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PathLike = Union[str, os.PathLike]
ONE_COLUMN_IN = 3.5
TWO_COLUMNS_IN = 7.16
DEFAULT_DPI = 300


def _import_matplotlib() -> None:
    """Import matplotlib and draw with Agg whatever ``MPLBACKEND`` says: figures are only
    saved, and an ``MPLBACKEND`` naming no backend (a typo, another machine's setting) would
    make the import itself fail with a traceback."""
    import sys

    if "matplotlib" not in sys.modules:
        saved = os.environ.pop("MPLBACKEND", None)
        try:
            import matplotlib  # noqa: F401
        finally:
            if saved is not None:
                os.environ["MPLBACKEND"] = saved
    import matplotlib

    matplotlib.use("Agg", force=False)


def new_figure(
    size: Tuple[float, float], layout: str | None = "constrained", **subplots: object
) -> Tuple[Figure, np.ndarray]:
    """A figure of ``size`` inches with a grid of axes (always a 2D array)."""
    _import_matplotlib()
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7})
    fig, axes = plt.subplots(figsize=size, squeeze=False, layout=layout, **subplots)
    return fig, axes


def save_png(fig: Figure, path: PathLike, dpi: int = DEFAULT_DPI) -> Path:
    """Write the figure as a PNG of exactly its size times ``dpi`` and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png")
    plt.close(fig)
    return path


def line_panels(
    series: Mapping[str, Sequence[Tuple[float, Mapping[str, float]]]],
    metrics: Sequence[Tuple[str, str]],
    xlabel: str,
    title: str,
    path: PathLike,
    size: Tuple[float, float] = (TWO_COLUMNS_IN, 3.6),
    dpi: int = DEFAULT_DPI,
) -> Path:
    """One panel per metric, one line per series (Fig. 9 layout).

    Arguments:
        series: label -> [(x, {metric key: value})]; points are sorted by x.
        metrics: (key, axis label) of the panels, in order.
        xlabel: x axis label shared by the panels.
        title: figure title.
        path: output PNG.
    """
    metrics = [
        m for m in metrics if any(v.get(m[0]) is not None for p in series.values() for _, v in p)
    ]
    if not metrics:
        raise ValueError(f"{path}: no values to plot")
    cols = min(3, len(metrics))
    rows = int(np.ceil(len(metrics) / cols))
    fig, axes = new_figure(size, nrows=rows, ncols=cols)
    xs_all = sorted({x for pts in series.values() for x, _ in pts})
    for ax, (key, label) in zip(axes.flat, metrics):
        for name, pts in series.items():
            pts = sorted((x, v[key]) for x, v in pts if v.get(key) is not None)
            if pts:
                x, y = zip(*pts)
                ax.plot(x, y, marker="o", markersize=3, linewidth=1, label=name)
        ax.set_xticks(xs_all)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, linewidth=0.5)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    if len(series) > 1:
        axes.flat[0].legend(frameon=False)
    fig.suptitle(title)
    return save_png(fig, path, dpi)


def quality_scatter(
    x: Sequence[float],
    y: Sequence[float],
    path: PathLike,
    x_threshold: float,
    y_threshold: float,
    pearson_r: float,
    size: Tuple[float, float] = (ONE_COLUMN_IN, 3.2),
    dpi: int = DEFAULT_DPI,
) -> Path:
    """Per-image scatter of prior quality vs final quality (Fig. 10).

    The "error corrected" quadrant (x below ``x_threshold``, y above ``y_threshold``) is shaded
    and its count written in it; the Pearson r goes in the title.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    fig, axes = new_figure(size)
    ax = axes[0, 0]
    corrected = (x < x_threshold) & (y > y_threshold)
    ax.axvspan(0, x_threshold, ymin=y_threshold, ymax=1, color="tab:green", alpha=0.12, lw=0)
    # Unclipped: IoU 0 and 1 are common and sit on the axes' edges.
    ax.scatter(x[~corrected], y[~corrected], s=6, alpha=0.6, color="tab:blue", lw=0, clip_on=False)
    ax.scatter(x[corrected], y[corrected], s=6, alpha=0.8, color="tab:green", lw=0, clip_on=False)
    ax.axvline(x_threshold, color="gray", lw=0.6, ls="--")
    ax.axhline(y_threshold, color="gray", lw=0.6, ls="--")
    ax.plot([0, 1], [0, 1], color="lightgray", lw=0.6)
    ax.text(
        x_threshold / 2,
        (1 + y_threshold) / 2,
        f"corrected\n{int(corrected.sum())}/{len(x)}",
        ha="center",
        va="center",
        fontsize=6,
        color="darkgreen",
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("Pre-Mask IoU")
    ax.set_ylabel("Final mask IoU")
    # Undefined (NaN) when either IoU series is constant, as the summary says it.
    r_text = f"{pearson_r:.3f}" if np.isfinite(pearson_r) else "undefined"
    ax.set_title(f"Pearson r = {r_text} (n = {len(x)})")
    return save_png(fig, path, dpi)

"""``figures`` never replaces a file of the user's with any of the three files it writes (the
grid, the failure sheet and its list of images and scores): each is refused before anything is
written, the user's bytes kept."""

from __future__ import annotations

import argparse

import pytest
from test_figure_pixels import _runs, _split

from pmgsam.analysis import figures
from pmgsam.utils.outputs import OutputError

pytestmark = pytest.mark.usefixtures("one_thread")

MINE = b"the user's own file"


@pytest.mark.parametrize("name", ["qualitative_S.png", "failures_S_iou.png", "failures_S_iou.txt"])
def test_each_file_the_figures_would_write_is_refused_over_the_users(
    tmp_path, monkeypatch, name
) -> None:
    images = _split(tmp_path)
    runs = _runs(tmp_path)
    monkeypatch.setattr(figures, "split_images", lambda config, split, overrides: images)
    out = tmp_path / "figs"
    out.mkdir()
    (out / name).write_bytes(MINE)
    args = argparse.Namespace(
        config="unused.yaml", split="S", runs=[str(r) for r in runs], out=str(out),
        images=None, num=1, worst=1, by="iou", width=2.0, dpi=30, overwrite=False,
        quiet=True, resize_pred=False,
    )  # fmt: skip
    with pytest.raises(OutputError, match=rf"already holds 1 file\(s\) .*\({name}\)"):
        figures.figures_report(args, [])
    assert (out / name).read_bytes() == MINE
    assert sorted(p.name for p in out.iterdir()) == [name]  # nothing else written


@pytest.mark.parametrize("inside", ["Ours/pred/S", "Other/pred/S", "im"])
def test_an_out_folder_among_the_maps_or_images_read_is_refused(
    tmp_path, monkeypatch, inside
) -> None:
    # A grid written into a map folder would sit among (and be read as) the run's maps.
    images = _split(tmp_path)
    runs = _runs(tmp_path)
    monkeypatch.setattr(figures, "split_images", lambda config, split, overrides: images)
    out = tmp_path / inside
    before = sorted(p.name for p in out.iterdir())
    args = argparse.Namespace(
        config="unused.yaml", split="S", runs=[str(r) for r in runs], out=str(out),
        images=None, num=1, worst=0, by="iou", width=2.0, dpi=30, overwrite=True,
        quiet=True, resize_pred=False,
    )  # fmt: skip
    with pytest.raises(OutputError, match=rf"--out '{out}' .* your input files"):
        figures.figures_report(args, [])
    assert sorted(p.name for p in out.iterdir()) == before

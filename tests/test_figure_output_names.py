"""``figures`` never replaces a file of the user's with any of the three files it writes (the
grid, the failure sheet and its list of images and scores): each is refused before anything is
written, the user's bytes kept."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_figure_pixels import _runs, _split

from pmgsam.analysis import figures
from pmgsam.analysis.inputs import SplitImages
from pmgsam.utils.outputs import OutputError
from tests.cli_cases import figures_args

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
    args = figures_args(runs, out)
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
    args = figures_args(runs, out, worst=0, overwrite=True)
    with pytest.raises(OutputError, match=rf"--out '{out}' .* your input files"):
        figures.figures_report(args, [])
    assert sorted(p.name for p in out.iterdir()) == before


def test_a_combined_set_and_a_split_named_like_it_write_different_files(
    tmp_path, monkeypatch
) -> None:
    # Joined by '_', the set A+B and a split called A_B would share qualitative_A_B.png, the
    # second figure silently replacing the first (a re-run replaces its own files).
    one = _split(tmp_path)
    runs = _runs(tmp_path)
    for run in runs:
        for part in ("A", "B", "A_B"):
            (run / "pred" / part).mkdir()
            for png in (run / "pred" / "S").iterdir():
                (run / "pred" / part / png.name).write_bytes(png.read_bytes())
    combined = SplitImages(
        names=[f"{p}/{s}" for p in "AB" for s in one.stems],
        parts=[p for p in "AB" for _ in one.stems],
        stems=one.stems * 2,
        image_paths=one.image_paths * 2,
        mask_paths=one.mask_paths * 2,
    )
    sets = {"A+B": combined, "A_B": replace(one, parts=["A_B"] * len(one.stems))}
    monkeypatch.setattr(figures, "split_images", lambda config, split, overrides: sets[split])
    out = tmp_path / "figs"
    written = []
    for split in ("A+B", "A_B"):
        args = figures_args(runs, out, split=split, worst=0)
        written += figures.figures_report(args, [])
    assert [p.name for p in written] == ["qualitative_A+B.png", "qualitative_A_B.png"]
    assert all(p.is_file() for p in written)

"""``evaluate.py --baseline`` refuses out-of-range timing, generator and E-SAM settings up front,
with one error line naming the option: ``--speed-iters -1`` used to skip the timing silently
(as 0 does), ``--speed-warmup -1`` to warm up not at all, an empty point grid or a threshold no
IoU reaches to write empty maps for the whole split, as if the model had found nothing."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any, List

import pytest

import evaluate
from pmgsam.baselines.cli import ESAM_RANGES
from pmgsam.baselines.settings import EsamSettings
from pmgsam.utils.cli import exit_status

DEMO = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
BENCH = ["--config", DEMO, "--checkpoint", "c", "--dataset", "dis5k", "--splits", "DIS-TE1"]


def refused(argv: List[Any], option: str, capsys) -> str:
    """Exit status 2 and one error line naming ``option``, no traceback; returns the line."""
    assert exit_status(evaluate.main, argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(line) == 1 and option in line[0], err
    return line[0]


@pytest.mark.parametrize(
    "baseline, option, value, words",
    [
        ("sam-box", "--speed-iters", "-1", "at least 0"),
        ("sam-box", "--speed-warmup", "-2", "at least 0"),
        ("sam-auto", "--points-per-side", "0", "at least 1"),
        ("sam-auto", "--points-per-batch", "0", "at least 1"),
        ("sam-auto", "--pred-iou-thresh", "1.5", "[0, 1]"),
        ("sam2-auto", "--stability-score-thresh", "nan", "finite"),
        ("sam2-auto", "--box-nms-thresh", "-0.1", "[0, 1]"),
        ("sam-auto", "--crop-n-layers", "-1", "at least 0"),
        ("sam-auto", "--min-mask-region-area", "-1", "at least 0"),
        ("esam", "--esam-points-per-side", "0", "at least 1"),
        ("esam", "--esam-gallery-points-per-side", "-1", "at least 0"),
        ("esam", "--esam-object-nms", "1.2", "[0, 1]"),
        ("esam", "--esam-min-entity-area", "-0.001", "[0, 1]"),
        ("esam", "--esam-slic-compactness", "0", "above 0"),
        ("esam", "--esam-max-repair-prompts", "-3", "at least 0"),
    ],  # fmt: skip
)
def test_out_of_range_settings_are_refused(
    tmp_path: Path, monkeypatch, capsys, baseline: str, option: str, value: str, words: str
) -> None:
    monkeypatch.chdir(tmp_path)
    line = refused(["--baseline", baseline, *BENCH, option, value], option, capsys)
    assert words in line
    assert not any(tmp_path.iterdir())  # refused before anything was written


def test_zero_where_it_means_none_is_taken_and_every_setting_keeps_its_type() -> None:
    parser = evaluate.build_parser()
    zeros = ["--speed-iters", "0", "--speed-warmup", "0", "--esam-gallery-points-per-side", "0"]
    zeros += ["--esam-max-repair-prompts", "0"]
    args = parser.parse_args(["--baseline", "esam", *zeros])
    assert (args.speed_iters, args.speed_warmup, args.esam_gallery_points_per_side) == (0, 0, 0)
    # A counted setting must stay an int (a float grid side breaks the generator), a fraction a
    # float: a new integer E-SAM setting needs its own range.
    given = parser.parse_args(["--baseline", "esam", "--esam-points-per-side", "8",
                               "--esam-object-nms", "1"])  # fmt: skip
    assert type(given.esam_points_per_side) is int and type(given.esam_object_nms) is float
    for f in fields(EsamSettings):
        assert isinstance(f.default, float) or f.name in ESAM_RANGES, f.name
        assert type(getattr(args, f"esam_{f.name}")) is type(f.default), f.name


def test_refusals_point_at_what_to_give_instead(capsys) -> None:
    # A side below the step: the example is the smallest side that runs, not 0.
    line = refused(["--baseline", "esam", *BENCH, "--model-image-size", "8"], "--model-", capsys)
    assert "(e.g. 16), got 8" in line
    # E-SAM takes generator settings under its own names.
    line = refused(["--baseline", "esam", *BENCH, "--points-per-side", "8"], "--points-", capsys)
    assert line.endswith("only apply to sam-auto / sam2-auto (esam takes --esam-* settings)")

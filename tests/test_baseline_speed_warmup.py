"""``evaluate.py --baseline ... --speed-iters 0 --speed-warmup N``: with no timed pass no
warm-up runs either, so a warm-up asked for there used to be taken and ignored; it is refused
naming both options, before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

import evaluate
from pmgsam.baselines.cli import check_arguments
from pmgsam.utils.cli import exit_status

DEMO = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
BENCH = ["--baseline", "sam-box", "--config", str(DEMO), "--checkpoint", "c"]
BENCH += ["--dataset", "dis5k", "--splits", "DIS-TE1"]


def test_a_warmup_without_timed_passes_is_refused_naming_both(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = [*BENCH, "--speed-iters", "0", "--speed-warmup", "5"]
    assert exit_status(evaluate.main, argv) == 2
    err = capsys.readouterr().err
    (line,) = [ln for ln in err.splitlines() if "error:" in ln]
    assert "--speed-warmup 5" in line and "--speed-iters 0" in line
    assert "Traceback" not in err and not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "timing",
    [
        ["--speed-iters", "0"],  # the default warm-up: not asked for
        ["--speed-iters", "0", "--speed-warmup", "0"],  # no pass of any kind
        ["--speed-iters", "2", "--speed-warmup", "5"],
    ],
)
def test_consistent_timing_options_pass(timing) -> None:
    parser = evaluate.build_parser()
    args = parser.parse_args([*BENCH, *timing])
    check_arguments(parser, args)  # a usage error would exit

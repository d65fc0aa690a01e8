"""--speed-warmup audit: only --speed-iters 0 (no timed pass, so no warm-up runs) refuses a
warm-up; one timed pass still runs its warm-up first, so 1 and a warm-up are consistent."""

from __future__ import annotations

from pathlib import Path

import pytest

import evaluate
from pmgsam.baselines.cli import check_arguments

DEMO = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
BENCH = ["--baseline", "sam-box", "--config", str(DEMO), "--checkpoint", "c"]
BENCH += ["--dataset", "dis5k", "--splits", "DIS-TE1"]


@pytest.mark.parametrize("warmup", ["1", "5"])
def test_one_timed_pass_takes_a_warmup(warmup) -> None:
    parser = evaluate.build_parser()
    args = parser.parse_args([*BENCH, "--speed-iters", "1", "--speed-warmup", warmup])
    check_arguments(parser, args)  # a usage error would exit
    assert (args.speed_iters, args.speed_warmup) == (1, int(warmup))


def test_a_warmup_of_one_without_timed_passes_is_refused(capsys) -> None:
    parser = evaluate.build_parser()
    args = parser.parse_args([*BENCH, "--speed-iters", "0", "--speed-warmup", "1"])
    with pytest.raises(SystemExit) as exit_:
        check_arguments(parser, args)
    assert exit_.value.code == 2
    assert "--speed-warmup 1 with --speed-iters 0" in capsys.readouterr().err

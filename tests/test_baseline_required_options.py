"""``evaluate.py --baseline`` names only the options it is missing: --dataset and --splits default
to the config's (as in benchmark mode), so a command without --config lacks --config alone."""

from __future__ import annotations

import pytest

import evaluate
from pmgsam.baselines import cli as baselines_cli
from tests.cli_cases import cli, evaluate_main, one_error_line


@pytest.mark.parametrize(
    "given, missing",
    [
        (["--checkpoint", "c.pth"], "--config required"),
        (
            ["--checkpoint", "c.pth", "--dataset", "dis5k", "--splits", "DIS-TE1"],
            "--config required",
        ),
        ([], "--config and --checkpoint required"),
    ],
)
def test_only_the_options_not_given_nor_filled_from_the_config_are_named(
    tmp_path, monkeypatch, capsys, given, missing
):
    # It said "--config --dataset --splits required with --baseline" for the first two.
    monkeypatch.chdir(tmp_path)
    code, err = cli(evaluate_main, ["--baseline", "sam-box", *given], capsys)
    line = one_error_line(err)
    assert code == 2 and f"error: {missing} with --baseline (--dataset and --splits default" in line
    assert not list(tmp_path.iterdir())  # no run folder started


def test_a_caller_that_fills_no_dataset_nor_splits_is_told_so(capsys):
    # evaluate.py fills them from --config before the checks; a caller that does not would
    # otherwise reach the --splits checks with None.
    parser = evaluate.build_parser()
    args = parser.parse_args(["--baseline", "sam-box", "--config", "c.yaml", "--checkpoint", "c"])
    with pytest.raises(SystemExit):
        baselines_cli.check_arguments(parser, args)
    assert "--dataset and --splits required with --baseline" in capsys.readouterr().err

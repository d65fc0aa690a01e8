"""evaluate.py's scoring and benchmark modes name every argument they need that is missing, and
refuse config overrides without the --config they would change, before anything is read or
written."""

from __future__ import annotations

from pathlib import Path
from typing import List

import pytest

DEMO = str(Path(__file__).resolve().parents[1] / "configs" / "demo.yaml")


def usage_error(argv: List[str], monkeypatch, capsys) -> str:
    """The last stderr line of ``evaluate.main(argv)``, which must be a usage error (exit 2)
    reached before any mode runs."""
    import evaluate
    from pmgsam.evaluation import benchmark

    for mode in ("score_dis", "score_cos"):
        monkeypatch.setattr(evaluate, mode, lambda args: pytest.fail("scored anyway"))
    monkeypatch.setattr(benchmark, "run_benchmark", lambda args: pytest.fail("ran anyway"))
    with pytest.raises(SystemExit) as exit_:
        evaluate.main(argv)
    assert exit_.value.code == 2
    return capsys.readouterr().err.splitlines()[-1]


@pytest.mark.parametrize(
    "argv, missing",
    [
        (["--gt-dir", "g"], "--pred-dir and --out are"),
        (["--pred-dir", "", "--gt-dir", "g", "--out", "o"], "--pred-dir is"),  # empty: not given
        (["--task", "cos", "--pred-dir", "p", "--out", "o"], "--gt-json is"),
        (["--config", DEMO, "--splits", "DIS-TE1"], "--checkpoint is"),  # benchmark mode
    ],
)
def test_a_scoring_mode_names_each_missing_argument(argv, missing, monkeypatch, capsys) -> None:
    line = usage_error(argv, monkeypatch, capsys)
    assert line.endswith(f"error: {missing} required in this mode")


def test_overrides_without_a_config_are_refused(monkeypatch, capsys) -> None:
    argv = ["--pred-dir", "p", "--gt-dir", "g", "--out", "o", "data.root=x"]
    line = usage_error(argv, monkeypatch, capsys)
    assert line.endswith(
        "error: unexpected arguments: data.root=x (key=value overrides need --config)"
    )


def test_a_checkpoint_without_config_asks_for_the_config(monkeypatch, capsys) -> None:
    # It used to be refused as an option DIS scoring ignores, naming no --config.
    line = usage_error(["--checkpoint", "runs/x", "--splits", "DIS-VD"], monkeypatch, capsys)
    assert "--checkpoint is scored in benchmark mode, which also needs --config" in line
    # Beside --pred-dir it is the scoring mode's stray option, as before.
    line = usage_error(["--pred-dir", "p", "--checkpoint", "c"], monkeypatch, capsys)
    assert line.endswith("error: --checkpoint is not used by DIS scoring and would be ignored")

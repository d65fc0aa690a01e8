"""``pmgsam.ablate``'s scoring options (``--device``, ``--batch-size``, ``--workers``,
``--no-hce``) set how ``--evaluate`` predicts and scores: given without it they used to be
ignored without a word (``--train --device cuda`` trained on the config's ``train.device``).
Nothing is trained here: the refusal comes before the grid is read."""

from __future__ import annotations

from pathlib import Path

import pytest

import pmgsam.ablate as ablate
from pmgsam.utils.config import ConfigError


@pytest.mark.parametrize(
    "option",
    [["--device", "cuda"], ["--batch-size", "4"], ["--workers", "2"], ["--no-hce"]],
)
def test_a_scoring_option_without_evaluate_is_refused(tmp_path: Path, capsys, option) -> None:
    args = ["--grid", str(tmp_path / "grid"), "--output-dir", str(tmp_path / "out"), "--train"]
    with pytest.raises(SystemExit) as exit_info:
        ablate.main(args + option)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"{option[0]} only apply to --evaluate" in err
    assert ("train.device" in err) == (option[0] == "--device")
    assert not (tmp_path / "out").exists()


def test_defaults_given_or_evaluate_asked_pass_on_to_the_grid(tmp_path: Path) -> None:
    # The grid folder is missing: reaching its error shows the options were let through.
    args = ["--grid", str(tmp_path / "grid"), "--output-dir", str(tmp_path / "out")]
    for extra in (["--train", "--device", "auto", "--workers", "1"], ["--evaluate", "--no-hce"]):
        with pytest.raises(ConfigError, match="has no grid.yaml"):
            ablate.main(args + extra)

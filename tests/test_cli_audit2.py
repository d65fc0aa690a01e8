"""CommandParser's refusal of an empty NonEmpty value on option shapes no command has yet (a
short and a long spelling, nargs="*", a positional shown by its metavar), and NonEmpty's name
in argparse's "invalid <type> value" errors: the option as usage shows it, the type's own."""

from __future__ import annotations

import pytest

from pmgsam.utils.cli import CommandParser, NonEmpty


def _refusal(argv, capsys) -> str:
    parser = CommandParser(prog="cmd")
    parser.add_argument("--out", "-o", type=NonEmpty("an output folder"))
    parser.add_argument("--runs", nargs="*", type=NonEmpty("a run folder"))
    parser.add_argument("source", metavar="SOURCE", nargs="?", type=NonEmpty("a folder"))
    parser.add_argument("--size", type=NonEmpty("a size", int))
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(argv)
    assert exit_.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "argv, line",
    [
        (["-o", ""], "--out is empty: give an output folder, or leave --out out"),
        (["--runs", "a", " "], "a value of --runs is blank (' '): give a run folder for each"),
        ([""], "SOURCE is empty: give a folder"),
        (["--size", "x"], "argument --size: invalid int value: 'x'"),
    ],
)
def test_the_refusal_names_the_option_as_usage_shows_it(argv, line, capsys) -> None:
    assert _refusal(argv, capsys).endswith(line)

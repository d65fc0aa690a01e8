"""An empty or blank value of an option naming a path, split, method or model (``--out "$OUT"``
with OUT unset) is a usage error naming the option, in every command: it was read as not given,
or as '.', the current folder (``python -m pmgsam.report "" --out ""`` read and wrote there)."""

from __future__ import annotations

import argparse
from typing import Iterator, List, Tuple

import pytest
from cli_cases import cli, command_parsers, one_error_line

from pmgsam.utils import cli as cli_types

# Types whose values are numbers or devices, not names: they refuse '' in their own words.
NOT_NAMES = {
    int,
    cli_types.positive_int,
    cli_types.non_negative_int,
    cli_types.positive_float,
    cli_types.probability,
    cli_types.device_name,
}
# key=value config overrides: '' is refused when the config loads ("not of the form
# key=value"), and `key=` sets an empty value, which may be legal.
OVERRIDES = "overrides"


def _takes_a_name(action: argparse.Action) -> bool:
    if action.nargs == 0 or action.choices is not None or action.dest == OVERRIDES:
        return False
    if isinstance(action, argparse._HelpAction) or action.type in NOT_NAMES:
        return False
    return getattr(action.type, "__name__", "") != "_size_option"  # synthetic's WxH


def _name_options() -> Iterator[Tuple[argparse.ArgumentParser, argparse.Action]]:
    for parser in command_parsers():
        for action in parser._actions:
            if _takes_a_name(action):
                yield parser, action


CASES = list(_name_options())


def _label(case: Tuple[argparse.ArgumentParser, argparse.Action]) -> str:
    parser, action = case
    return f"{parser.prog}:{(action.option_strings or [action.dest])[0]}"


def _argv(parser: argparse.ArgumentParser, tested: argparse.Action, value: str) -> List[str]:
    """A command line with ``value`` for ``tested`` and a valid value for every other required
    option and argument (a choice, or '1', which every other type reads)."""
    argv: List[str] = []
    for action in parser._actions:
        if action is tested:
            given = value
        elif action.required and action.dest != OVERRIDES:
            given = str(next(iter(action.choices))) if action.choices else "1"
        else:
            continue
        argv += [*action.option_strings[:1], given]
    return argv


def test_every_command_has_options_naming_things() -> None:
    # The sweep below must not pass by finding nothing (a changed command_parsers).
    progs = {parser.prog for parser, _ in CASES}
    assert len(CASES) >= 50
    assert {"train.py", "evaluate.py", "python -m pmgsam.report"} <= progs
    assert "python -m pmgsam.analysis figures" in progs


@pytest.mark.parametrize("value, state", [("", "is empty"), ("  ", "is blank ('  ')")])
@pytest.mark.parametrize("case", CASES, ids=_label)
def test_an_empty_name_is_refused_naming_the_option(case, value, state, capsys) -> None:
    parser, action = case
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(_argv(parser, action, value))
    assert exit_.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    name = (action.option_strings or [action.dest])[0]
    assert line.startswith(f"{parser.prog}: error: "), line
    if action.nargs in ("+", "*"):
        assert f"a value of {name} {state}: give " in line
    elif action.required or not action.option_strings:
        assert line.endswith(f"{name} {state}: give {action.type.what}"), line
    elif action.type.needed_in:  # some modes need it (test_evaluate_needed_options.py)
        assert line.endswith(f"it), or leave {name} out in other modes"), line
    else:
        assert line.endswith(f"{name} {state}: give {action.type.what}, or leave {name} out")


def test_overrides_are_left_to_the_config_loader() -> None:
    # An empty value may be legal (`key=` sets ''): only the loader knows the key's type.
    import train

    args = train.build_parser().parse_args(["--config", "c.yaml", "data.root=", ""])
    assert args.overrides == ["data.root=", ""]


def test_an_empty_report_run_and_out_write_nothing_in_the_current_folder(
    tmp_path, monkeypatch, capsys
) -> None:
    from pmgsam import report

    monkeypatch.chdir(tmp_path)
    code, err = cli(report.main, ["", "--out", ""], capsys)
    assert code == 2
    assert "a value of runs is empty: give a run folder" in one_error_line(err)
    assert list(tmp_path.iterdir()) == []

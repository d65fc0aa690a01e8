"""The ``pmgsam.efficiency`` package itself: its lazily imported names each resolve to the
function of the module that defines it, and the usage synopsis in its docstring (the command's
reference in the API docs) names every option the command takes, and no other."""

from __future__ import annotations

import importlib
import re

import pmgsam.efficiency as package
from pmgsam.efficiency.cli import build_parser


def test_the_usage_synopsis_names_every_option_of_the_parser() -> None:
    synopsis = package.__doc__.split("\n\n")[1]
    assert synopsis.lstrip().startswith("python -m pmgsam.efficiency")
    written = set(re.findall(r"--[a-z][a-z0-9-]*", synopsis))
    options = {
        option
        for action in build_parser()._actions
        for option in action.option_strings
        if option.startswith("--") and option not in ("--help", "--batch-size")
    }
    assert options - written == set(), "options the synopsis leaves out"
    assert written - options == set(), "options the synopsis names but the parser lacks"
    # --device defaults to auto, which the synopsis must offer too.
    assert "--device auto|cpu|cuda" in synopsis


# The names the package exports (its docstring names their modules), by home module: a name
# missing here or resolved from the wrong module is an AttributeError for a caller.
PUBLIC = {
    "report": ["RECORD_KEYS", "efficiency_report", "format_report", "git_commit", "make_record",
               "write_records"],
    "flops": ["count_flops", "count_parameters"],
    "timing": ["measure_amg", "measure_speed", "measure_training"],
    "cli": ["main"],
}  # fmt: skip


def test_every_public_name_resolves_to_its_home_modules_object() -> None:
    assert sorted(package.__all__) == sorted(n for names in PUBLIC.values() for n in names)
    for home, names in PUBLIC.items():
        module = importlib.import_module(f"pmgsam.efficiency.{home}")
        for name in names:
            assert getattr(package, name) is vars(module)[name], (home, name)

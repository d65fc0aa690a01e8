"""The messages README.md's troubleshooting table quotes are messages the code still emits.

Each backtick span in the table's first column is cut at its placeholders (``...``, ``N``,
``<split>``, ``[optional part]``, ``(s)``); every remaining piece must lie in one string literal
of the package, ``train.py`` or ``evaluate.py`` (an f-string's fixed text, implicit
concatenations joined, as the parser sees them). A message whose quoted words are filled in from
variables (``--device=cuda``) is listed in :data:`TEMPLATES` with the code text it stands for.
No command runs; the sources are parsed, not imported.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Dict, List

import pytest

ROOT = Path(__file__).resolve().parents[1]
HOLE = "\x00"  # where an f-string inserts a value
PLACEHOLDER = re.compile(r"\.\.\.|<[^>]+>|\[[^\]]*\]|\b[NMLC]\b|\(s\)")
SHORTEST = 6  # pieces shorter than this ('--out', 'or') say nothing about a message

# Quoted spans whose words the code fills in from variables: the code text ('{}' = a value).
TEMPLATES: Dict[str, str] = {
    # {where} the input {kind} '{source}': where is 'is' or 'lies inside', kind 'folder' or 'file'
    "--out ... is the input folder": "{} the input {} '",
    "lies inside the input folder": "{} the input {} '",
    "is the input file": "{} the input {} '",
    "is not a safe checkpoint": "is not a safe {}: it holds pickled Python objects",
    "--device=cuda": "{}={} but CUDA is not available here",
    # the blank value is shown as its repr
    "is blank (' ')": "is blank ({})",
    "train.device=cuda but CUDA is not available": "{}={} but CUDA is not available here",
    "... holds 0/1 labels; read as 0/255": "' holds 0/{} labels; read as 0/255",
    # the counts come from pmgsam.utils.finite.describe_non_finite
    "... holds NaN in N of its M pixels: NaN and -inf read as 0, +inf as 255": (
        "' holds {}: NaN and -inf read as 0, +inf as 255"
    ),
}


def code_strings() -> List[str]:
    """Every string literal of the package, train.py and evaluate.py; an f-string's inserted
    values are :data:`HOLE`."""
    strings: List[str] = []
    for path in [*sorted(ROOT.glob("pmgsam/**/*.py")), ROOT / "train.py", ROOT / "evaluate.py"]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.JoinedStr):
                parts = node.values
                strings.append(
                    "".join(p.value if isinstance(p, ast.Constant) else HOLE for p in parts)
                )
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                strings.append(node.value)
    return strings


def troubleshooting_spans(markdown: str) -> List[str]:
    """The backtick spans of the first column of the table under '## Troubleshooting'."""
    section = markdown.split("\n## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]  # no header
    return [span for row in rows for span in re.findall(r"`([^`]+)`", row.split(" | ")[0])]


def unmatched_messages(spans: List[str], strings: List[str]) -> List[str]:
    """``'<span>: <piece>'`` for each piece of a quoted message that no code string holds."""
    missing: List[str] = []
    for span in spans:
        if span in TEMPLATES:
            pieces = [TEMPLATES[span].replace("{}", HOLE)]
        else:
            pieces = [p.strip(" '") for p in PLACEHOLDER.split(span)]
        for piece in pieces:
            if len(piece) >= SHORTEST and not any(piece in s for s in strings):
                missing.append(f"{span}: {piece}".replace(HOLE, "{}"))
    return missing


@pytest.fixture(scope="module")
def strings() -> List[str]:
    return code_strings()


def test_every_troubleshooting_message_is_emitted_by_the_code(strings) -> None:
    spans = troubleshooting_spans((ROOT / "README.md").read_text())
    assert len(spans) >= 20  # the table was found and read
    assert unmatched_messages(spans, strings) == []


def test_the_check_catches_reworded_messages(strings) -> None:
    # Hand-made drift: a reworded message, a template the code lost, and two that still hold.
    table = (
        "\n## Troubleshooting\n\n| symptom | what to do |\n|---|---|\n"
        "| `run folder ... is in use by another training process (pid N)` | wait |\n"
        "| `run folder ... is locked by another training process` | wait |\n"
        "| `lies inside the input folder` / `N widgets cannot be frobbed` | move |\n"
        "\n## Development\n"
    )
    spans = troubleshooting_spans(table)
    assert spans == [
        "run folder ... is in use by another training process (pid N)",
        "run folder ... is locked by another training process",
        "lies inside the input folder",
        "N widgets cannot be frobbed",
    ]
    assert unmatched_messages(spans, strings) == [
        "run folder ... is locked by another training process: "
        "is locked by another training process",
        "N widgets cannot be frobbed: widgets cannot be frobbed",
    ]
    assert unmatched_messages(["lies inside the input folder"], ["the input file"]) == [
        "lies inside the input folder: {} the input {} '"
    ]

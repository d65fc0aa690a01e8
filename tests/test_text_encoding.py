"""Every text file pmgsam reads or writes is UTF-8, whatever the locale.

Without ``encoding=``, Python opens text files in the locale's encoding (cp1252 on Windows,
ASCII or Latin-1 on some clusters): a table naming maxFβ, a log line naming U²-Net or a COCO
file with non-ASCII names then fails to write or read there. The sources are read, not run:
any text-mode ``open``, ``Path.open``, ``read_text`` or ``write_text`` without an
``encoding=`` is named here.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, List

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pmgsam", "train.py", "evaluate.py", "scripts", "benchmarks")
# open() of these modules takes no text encoding (file descriptors, images, archives).
NOT_TEXT_OPENERS = {"os", "Image", "gzip", "tarfile", "zipfile", "io", "h5py"}


def _mode(call: ast.Call, position: int) -> str:
    for keyword in call.keywords:
        if keyword.arg == "mode":
            return keyword.value.value if isinstance(keyword.value, ast.Constant) else "?"
    if len(call.args) > position:
        arg = call.args[position]
        return arg.value if isinstance(arg, ast.Constant) else "?"
    return "r"


def _unencoded_text_calls(tree: ast.AST) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or any(k.arg == "encoding" for k in node.keywords):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("read_text", "write_text"):
            yield node
        elif isinstance(func, ast.Name) and func.id == "open":
            if "b" not in _mode(node, 1):
                yield node
        elif isinstance(func, ast.Attribute) and func.attr == "open":
            owner = func.value
            if isinstance(owner, ast.Name) and owner.id in NOT_TEXT_OPENERS:
                continue
            if "b" not in _mode(node, 0):
                yield node


def _python_files() -> List[Path]:
    files: List[Path] = []
    for name in SOURCES:
        path = ROOT / name
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return files


def test_every_text_file_is_opened_as_utf8() -> None:
    found = []
    for path in _python_files():
        source = path.read_text(encoding="utf-8")
        for call in _unencoded_text_calls(ast.parse(source)):
            where = path.relative_to(ROOT)
            found.append(f"{where}:{call.lineno}: {ast.get_source_segment(source, call)}")
    assert not found, "text files opened in the locale's encoding:\n" + "\n".join(found)


def test_the_check_finds_what_it_looks_for() -> None:
    # The scan itself: each of these forms is found, and binary or encoded ones are not.
    source = (
        "p.read_text()\np.write_text(s)\nopen(f)\nopen(f, 'a')\np.open('w', newline='')\n"
        "p.read_text(encoding='utf-8')\nopen(f, 'rb')\np.open(mode='wb')\nos.open(f, 0)\n"
        "Image.open(f)\nopen(f, 'w', encoding='utf-8')\n"
    )
    lines = sorted(call.lineno for call in _unencoded_text_calls(ast.parse(source)))
    assert lines == [1, 2, 3, 4, 5]

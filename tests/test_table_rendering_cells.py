"""Which cell a value lands in, and which is marked best, in the three renderings of a table."""

from __future__ import annotations

import re

from pmgsam.evaluation.table_rendering import Column, Table, to_markdown

F3 = "{:.3f}".format
COLS = (Column("a", "A↑", r"A$\uparrow$", True, F3), Column("b", "B↓", r"B$\downarrow$", False, F3))


def _md_rows(text: str) -> list:
    """Markdown table rows as cell lists, split as GitHub does: at every unescaped '|'."""
    rows = [line for line in text.splitlines() if line.startswith("|")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", r)[1:-1]] for r in rows]


def test_a_pipe_in_a_method_name_keeps_its_values_in_their_columns() -> None:
    rows = [("run|v2", {("", "a"): 0.5, ("", "b"): 0.25}), ("r2", {("", "a"): 0.4, ("", "b"): 0.3})]
    md = _md_rows(to_markdown(Table("T", [("", COLS)], rows, [])))
    header, _, first, second = md
    assert header == ["Method", "A↑", "B↓"]
    assert first == [r"run\|v2", "**0.500**", "**0.250**"]
    assert second == ["r2", "0.400", "0.300"]

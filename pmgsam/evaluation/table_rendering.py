"""How a benchmark table looks: the :class:`Table` model and its Markdown, CSV and LaTeX text.

:mod:`pmgsam.evaluation.tables` fills tables in the paper's layout; this module decides the cell
texts (each column's best value in bold) and writes them out in the three formats.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Sequence, Union

from pmgsam.utils.io import write_text_atomic


@dataclass(frozen=True)
class Column:
    """One metric column.

    Arguments:
        key: key in the run JSON section.
        md: Markdown/CSV header (with the arrow).
        tex: LaTeX header (with the arrow).
        higher_better: True for ↑ (bold the maximum), False for ↓ (bold the minimum).
        fmt: formats a value for display; the best is decided on the displayed values.
        bold_best: mark the best value (off for descriptive columns such as trainable params).
    """

    key: str
    md: str
    tex: str
    higher_better: bool
    fmt: Callable[[float], str]
    bold_best: bool = True


@dataclass
class Table:
    """A rendered-independent table: groups of metric columns, one row per method.

    Arguments:
        title: caption.
        groups: (group title, columns) pairs; a group is a subset / dataset ("" for none).
        rows: (method, {(group title, column key): value or None}) pairs.
        notes: lines printed under the table (protocols, pooling).
        unranked: groups whose best values are not marked (rows not comparable there).
        unranked_rows: methods never marked best nor counted when marking it (an ORACLE
            upper bound, which chooses its mask with the GT; a baseline prompted with GT boxes).
        unranked_columns: column keys whose best values are not marked in any group (per-image
            costs measured under different conditions).
    """

    title: str
    groups: List[tuple]
    rows: List[tuple]
    notes: List[str]
    unranked: Sequence[str] = ()
    unranked_rows: Sequence[str] = ()
    unranked_columns: Sequence[str] = ()

    def cell_texts(self) -> List[List[tuple]]:
        """Per row, per column: (text, is_best).

        Best is decided on the shown texts among the ranked rows' values of a column, as
        papers bold them: every tied best value is best (even when all the rows tie), and a
        lone value is not (bold would claim a comparison that was never made)."""
        out: List[List[tuple]] = [[] for _ in self.rows]
        for gname, cols in self.groups:
            for col in cols:
                shown = []
                for _, vals in self.rows:
                    v = vals.get((gname, col.key))
                    ok = v is not None and not (isinstance(v, float) and math.isnan(v))
                    shown.append(col.fmt(v) if ok else None)
                ranked = [m not in self.unranked_rows for m, _ in self.rows]
                best = None
                # Descriptive columns (bold_best False) may hold text, e.g. a COS protocol.
                comparable = gname not in self.unranked and col.key not in self.unranked_columns
                if col.bold_best and comparable:
                    nums = [float(s) for s, r in zip(shown, ranked) if s is not None and r]
                    if len(nums) >= 2:  # a lone value has nothing to beat
                        best = max(nums) if col.higher_better else min(nums)
                for i, s in enumerate(shown):
                    is_best = ranked[i] and best is not None and s is not None and float(s) == best
                    out[i].append(("–" if s is None else s, is_best))
        return out


def _md_cell(s: str) -> str:
    # A bare "|" in a method name (a run folder's name) would end its cell and shift every
    # value of the row one column to the right.
    return s.replace("|", r"\|")


def to_markdown(table: Table) -> str:
    """GitHub Markdown; multi-group tables are split into one table per group."""
    cells = table.cell_texts()
    out = [f"## {table.title}", ""]
    start = 0
    for gname, cols in table.groups:
        if gname:
            out += [f"### {gname}", ""]
        out.append("| Method | " + " | ".join(c.md for c in cols) + " |")
        # Numbers align right; a text column (a row's COS protocol) left.
        out.append("|---|" + "|".join("---" if c.fmt is str else "---:" for c in cols) + "|")
        for (method, _), row in zip(table.rows, cells):
            texts = [
                f"**{t}**" if best else _md_cell(t) for t, best in row[start : start + len(cols)]
            ]
            out.append(f"| {_md_cell(method)} | " + " | ".join(texts) + " |")
        out.append("")
        start += len(cols)
    out += [f"_{n}_" for n in table.notes]
    return "\n".join(out).rstrip() + "\n"


def to_csv(table: Table) -> str:
    """One row per method, one column per (group, metric); best values are not marked."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = ["method"] + [f"{g} {c.md}".strip() for g, cols in table.groups for c in cols]
    writer.writerow(header)
    for (method, _), row in zip(table.rows, table.cell_texts()):
        writer.writerow([method] + ["" if t == "–" else t for t, _ in row])
    return buf.getvalue()


# LaTeX's special characters in text (titles, method names, notes), replaced in one pass so that
# the braces of \textbackslash{} are not escaped again.
TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "_": r"\_",
    "#": r"\#",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _tex_escape(s: str) -> str:
    return "".join(TEX_SPECIAL.get(c, c) for c in s)


def to_latex(table: Table) -> str:
    """booktabs tabular with a group header row (\\multicolumn) and bold best values."""
    ncols = sum(len(c) for _, c in table.groups)
    lines = [r"\begin{table*}[t]", r"\centering", rf"\caption{{{_tex_escape(table.title)}}}"]
    lines.append(r"\resizebox{\textwidth}{!}{%")
    lines.append(r"\begin{tabular}{l" + "c" * ncols + "}")
    lines.append(r"\toprule")
    if any(g for g, _ in table.groups):
        heads, rules, col = [""], [], 2
        for g, cols in table.groups:
            heads.append(rf"\multicolumn{{{len(cols)}}}{{c}}{{{_tex_escape(g)}}}")
            rules.append(rf"\cmidrule(lr){{{col}-{col + len(cols) - 1}}}")
            col += len(cols)
        lines.append(" & ".join(heads) + r" \\")
        lines.append(" ".join(rules))
    lines.append(
        " & ".join(["Method"] + [c.tex for _, cols in table.groups for c in cols]) + r" \\"
    )
    lines.append(r"\midrule")
    for (method, _), row in zip(table.rows, table.cell_texts()):
        texts = [
            rf"\textbf{{{t}}}" if best else ("--" if t == "–" else _tex_escape(t))
            for t, best in row
        ]
        lines.append(" & ".join([_tex_escape(method)] + texts) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}"]
    lines += [rf"\\[2pt]{{\footnotesize {_tex_escape(n)}}}" for n in table.notes]
    lines += [r"\end{table*}"]
    return "\n".join(lines) + "\n"


def write_table(table: Table, out_dir: Union[str, Path], name: str) -> List[Path]:
    """Write ``<name>.md``, ``<name>.csv`` and ``<name>.tex`` into ``out_dir``; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for ext, render in (("md", to_markdown), ("csv", to_csv), ("tex", to_latex)):
        written.append(write_text_atomic(out / f"{name}.{ext}", render(table)))
    return written

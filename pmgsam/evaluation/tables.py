"""Benchmark tables (Markdown, CSV, LaTeX) from run files, in the paper's layout.

Run layout: one directory per evaluated method, ``results/<run>/run.json``::

    {
      "method": "PMG-SAM",
      "dis": {"DIS-VD": {"maxFm": .., "wFmeasure": .., "MAE": .., "Smeasure": .., "meanEm": ..,
                         "HCE": .., "num_images": .., "curves": {"fm": [256], "em": [256]}},
              "DIS-TE1": {...}, ...},
      "cos": {"COD10K": {"AP": .., "AP50": .., "AP75": .., "protocol": "all"}, "NC4K": {...}},
      "efficiency": {"params_total_M": .., "params_trainable_M": .., "flops_G": .., "fps": ..,
                     "peak_memory_MB": ..},
      "meta": {...}
    }

Every section and key is optional; :func:`write_run_json` merges into an existing file so DIS, COS
and efficiency results can be added by separate commands. The DIS summaries are what
``evaluate.py`` writes (``curves`` optional). "Overall (TE1-4)" is taken from a ``DIS-TE1-4``
entry when present, else pooled from DIS-TE1..4 (all four needed): per-image means weighted by
``num_images``, and maxF from the pooled F curve (so it equals one evaluation over all 2000
images), which needs ``curves``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Sequence, Union

import numpy as np

from pmgsam.data.io import DataNotFoundError
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.utils.io import atomic_path

PathLike = Union[str, os.PathLike]
DIS_SUBSETS = ("DIS-VD", "DIS-TE1", "DIS-TE2", "DIS-TE3", "DIS-TE4", "DIS-TE1-4")
TE_PARTS = ("DIS-TE1", "DIS-TE2", "DIS-TE3", "DIS-TE4")
SUBSET_TITLES = {"DIS-TE1-4": "Overall (TE1-4)"}
COS_DATASETS = ("COD10K", "NC4K")
# Config dataset name -> its column in run.json / the COS table.
COS_NAMES = {"cod10k": "COD10K", "nc4k": "NC4K"}
PROTOCOL_NOTES = {
    "all": "all predicted instances (standard COCO)",
    "matched": "Hungarian-matched predictions only (paper protocol)",
}


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


def _f3(v: float) -> str:
    return f"{v:.3f}"


def _f1(v: float) -> str:
    return f"{v:.1f}"


def _f2(v: float) -> str:
    return f"{v:.2f}"


def _pct(v: float) -> str:
    return f"{100 * v:.1f}"


def _int(v: float) -> str:
    return f"{v:.0f}"


DIS_COLUMNS = (
    Column("maxFm", "maxFβ↑", r"$F_\beta^{max}\uparrow$", True, _f3),
    Column("wFmeasure", "wFβ↑", r"$F_\beta^{\omega}\uparrow$", True, _f3),
    Column("MAE", "MAE↓", r"$\mathcal{M}\downarrow$", False, _f3),
    Column("Smeasure", "Sα↑", r"$S_\alpha\uparrow$", True, _f3),
    Column("meanEm", "mEφ↑", r"$E_\phi^{m}\uparrow$", True, _f3),
    Column("HCE", "HCE↓", r"$HCE_\gamma\downarrow$", False, _int),
)
COS_COLUMNS = (
    Column("AP", "AP↑", r"AP$\uparrow$", True, _pct),
    Column("AP50", "AP50↑", r"AP$_{50}\uparrow$", True, _pct),
    Column("AP75", "AP75↑", r"AP$_{75}\uparrow$", True, _pct),
)
EFF_COLUMNS = (
    Column("params_total_M", "Params (M)↓", r"Params (M)$\downarrow$", False, _f1),
    Column("params_trainable_M", "Trainable (M)", "Trainable (M)", False, _f1, bold_best=False),
    Column("flops_G", "FLOPs (G)↓", r"FLOPs (G)$\downarrow$", False, _f1),
    Column("fps", "FPS↑", r"FPS$\uparrow$", True, _f2),
    Column("peak_memory_MB", "Peak memory (MB)↓", r"Memory (MB)$\downarrow$", False, _int),
)


@dataclass
class Table:
    """A rendered-independent table: groups of metric columns, one row per method.

    Arguments:
        title: caption.
        groups: (group title, columns) pairs; a group is a subset / dataset ("" for none).
        rows: (method, {(group title, column key): value or None}) pairs.
        notes: lines printed under the table (protocols, pooling).
    """

    title: str
    groups: List[tuple]
    rows: List[tuple]
    notes: List[str]

    def cell_texts(self) -> List[List[tuple]]:
        """Per row, per column: (text, is_best)."""
        out: List[List[tuple]] = [[] for _ in self.rows]
        for gname, cols in self.groups:
            for col in cols:
                shown = []
                for _, vals in self.rows:
                    v = vals.get((gname, col.key))
                    ok = v is not None and not (isinstance(v, float) and math.isnan(v))
                    shown.append(col.fmt(v) if ok else None)
                nums = [float(s) for s in shown if s is not None]
                best = None
                if col.bold_best and len(nums) >= 2:  # a lone value has nothing to beat
                    best = max(nums) if col.higher_better else min(nums)
                for i, s in enumerate(shown):
                    out[i].append(("–" if s is None else s, s is not None and float(s) == best))
        return out


def write_run_json(
    run_dir: PathLike,
    method: str,
    dis: Mapping[str, Mapping] | None = None,
    cos: Mapping[str, Mapping] | None = None,
    efficiency: Mapping[str, float] | None = None,
    meta: Mapping[str, object] | None = None,
) -> Path:
    """Create or update ``<run_dir>/run.json``; sections given here replace same-named entries."""
    path = Path(run_dir) / "run.json"
    data: Dict[str, object] = json.loads(path.read_text()) if path.exists() else {}
    data["method"] = method
    for name, section in (("dis", dis), ("cos", cos), ("meta", meta)):
        if section:
            merged = dict(data.get(name) or {})
            merged.update({k: dict(v) if isinstance(v, Mapping) else v for k, v in section.items()})
            data[name] = merged
    if efficiency:
        data["efficiency"] = {**(data.get("efficiency") or {}), **dict(efficiency)}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")
    return path


def efficiency_from_report(report: Mapping[str, object]) -> Dict[str, float | None]:
    """Flatten a ``pmgsam.efficiency`` report (params / flops_per_image / speed) for run.json."""
    params = report.get("params") or {}
    flops = report.get("flops_per_image") or {}
    speed = report.get("speed") or {}
    scale = {"params_total_M": 1e6, "params_trainable_M": 1e6, "flops_G": 1e9}
    raw = {
        "params_total_M": params.get("total"),
        "params_trainable_M": params.get("trainable"),
        "flops_G": flops.get("total"),
        "fps": speed.get("images_per_s"),
        "peak_memory_MB": speed.get("peak_memory_mb"),
    }
    return {k: (None if v is None else float(v) / scale.get(k, 1.0)) for k, v in raw.items()}


RESULT_SECTIONS = ("dis", "cos", "efficiency")


def load_runs(paths: Sequence[PathLike]) -> List[Dict[str, object]]:
    """Read run.json files (a path may be the run directory or the file itself).

    Raises naming the file: :class:`DataNotFoundError` when it is missing,
    :class:`EvaluationInputError` when it is not JSON, not an object, or holds no results (no
    non-empty ``dis``, ``cos`` or ``efficiency`` section).
    """
    runs = []
    for p in paths:
        p = Path(p)
        f = p / "run.json" if p.is_dir() else p
        if not f.is_file():
            raise DataNotFoundError(f"no run.json in '{p}'")
        try:
            data = json.loads(f.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise EvaluationInputError(f"cannot read run file '{f}': {err}") from err
        if not isinstance(data, dict):
            raise EvaluationInputError(
                f"run file '{f}' holds a JSON {type(data).__name__}, not an object"
            )
        bad = [k for k in RESULT_SECTIONS if k in data and not isinstance(data[k], dict)]
        if bad:
            raise EvaluationInputError(f"run file '{f}': section(s) {bad} must be objects")
        if not any(data.get(k) for k in RESULT_SECTIONS):
            raise EvaluationInputError(
                f"run file '{f}' holds no results (no 'dis', 'cos' or 'efficiency' entries)"
            )
        data.setdefault("method", p.name if p.is_dir() else p.parent.name)
        runs.append(data)
    return runs


def pool_te(dis: Mapping[str, Mapping], names: Sequence[str] = TE_PARTS) -> Dict[str, float] | None:
    """Metrics pooled from subsets ``names`` (default DIS-TE1..4; None if one is missing)."""
    parts = [dis.get(k) for k in names]
    if any(p is None or not p.get("num_images") for p in parts):
        return None
    n = np.array([p["num_images"] for p in parts], dtype=np.float64)
    out: Dict[str, float] = {"num_images": int(n.sum())}
    for key in ("wFmeasure", "MAE", "Smeasure", "meanEm", "HCE"):
        vals = [p.get(key) for p in parts]
        if all(v is not None for v in vals):
            out[key] = float(np.dot(n, vals) / n.sum())
    curves = [(p.get("curves") or {}).get("fm") for p in parts]
    if all(c is not None for c in curves):
        out["maxFm"] = float((n[:, None] * np.array(curves)).sum(0).max() / n.sum())
    return out


def dis_table(runs: Sequence[Mapping], subsets: Sequence[str] | None = None) -> Table:
    """Rows = methods; groups = DIS-VD, DIS-TE1..4, Overall (TE1-4); six metrics each.

    ``subsets`` picks other groups: names of ``run.json`` DIS entries, where a missing
    ``A+B`` entry (a combined set) is pooled from its parts like DIS-TE1-4.
    """
    subsets = tuple(subsets or DIS_SUBSETS)
    rows = []
    for run in runs:
        dis = dict(run.get("dis") or {})
        if "DIS-TE1-4" not in dis:
            pooled = pool_te(dis)
            if pooled is not None:
                dis["DIS-TE1-4"] = pooled
        for name in subsets:
            if name not in dis and "+" in name:
                dis[name] = pool_te(dis, name.split("+"))
        vals = {
            (SUBSET_TITLES.get(s, s), c.key): (dis.get(s) or {}).get(c.key)
            for s in subsets
            for c in DIS_COLUMNS
        }
        rows.append((run["method"], vals))
    # Subsets no run was scored on (e.g. a demo scoring DIS-VD and DIS-TE1) are left out.
    scored = [
        s
        for s in subsets
        if any(
            v.get((SUBSET_TITLES.get(s, s), c.key)) is not None
            for _, v in rows
            for c in DIS_COLUMNS
        )
    ]
    groups = [(SUBSET_TITLES.get(s, s), DIS_COLUMNS) for s in scored or subsets]
    notes = [
        "F, wF, MAE, S, E as PySODMetrics (F/E curves averaged over images); HCE as the official "
        "DIS tool (raw > 128, relax 5, epsilon 2). Overall (TE1-4) pools all TE1-4 images.",
    ]
    return Table("DIS5K", groups, rows, notes)


def cos_table(runs: Sequence[Mapping]) -> Table:
    datasets = list(COS_DATASETS) + sorted(
        {d for r in runs for d in (r.get("cos") or {}) if d not in COS_DATASETS}
    )
    rows, protocols = [], {}
    for run in runs:
        cos = run.get("cos") or {}
        vals = {(d, c.key): (cos.get(d) or {}).get(c.key) for d in datasets for c in COS_COLUMNS}
        rows.append((run["method"], vals))
        for d in datasets:
            if d in cos:
                protocols.setdefault(cos[d].get("protocol", "all"), []).append(
                    f"{run['method']}/{d}"
                )
    notes = ["AP in %, COCO mask AP (pycocotools, class-agnostic)."]
    for proto, where in sorted(protocols.items()):
        desc = PROTOCOL_NOTES.get(proto, proto)
        notes.append(f"Protocol '{proto}' = {desc}: {', '.join(where)}.")
    return Table("COS instance segmentation", [(d, COS_COLUMNS) for d in datasets], rows, notes)


def efficiency_table(runs: Sequence[Mapping]) -> Table:
    rows = []
    for run in runs:
        eff = run.get("efficiency") or {}
        rows.append((run["method"], {("", c.key): eff.get(c.key) for c in EFF_COLUMNS}))
    return Table("Efficiency", [("", EFF_COLUMNS)], rows, [])


def to_markdown(table: Table) -> str:
    """GitHub Markdown; multi-group tables are split into one table per group."""
    cells = table.cell_texts()
    out = [f"## {table.title}", ""]
    start = 0
    for gname, cols in table.groups:
        if gname:
            out += [f"### {gname}", ""]
        out.append("| Method | " + " | ".join(c.md for c in cols) + " |")
        out.append("|---|" + "|".join("---:" for _ in cols) + "|")
        for (method, _), row in zip(table.rows, cells):
            texts = [f"**{t}**" if best else t for t, best in row[start : start + len(cols)]]
            out.append(f"| {method} | " + " | ".join(texts) + " |")
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


def _tex_escape(s: str) -> str:
    for a, b in (
        ("\\", r"\textbackslash{}"),
        ("&", r"\&"),
        ("%", r"\%"),
        ("_", r"\_"),
        ("#", r"\#"),
    ):
        s = s.replace(a, b)
    return s


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
        texts = [rf"\textbf{{{t}}}" if best else ("--" if t == "–" else t) for t, best in row]
        lines.append(" & ".join([_tex_escape(method)] + texts) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}"]
    lines += [rf"\\[2pt]{{\footnotesize {_tex_escape(n)}}}" for n in table.notes]
    lines += [r"\end{table*}"]
    return "\n".join(lines) + "\n"


def build_tables(
    runs: Sequence[Mapping], dis_subsets: Sequence[str] | None = None
) -> Dict[str, Table]:
    """The tables that have at least one value: ``dis``, ``cos``, ``efficiency``.

    ``dis_subsets`` chooses the DIS groups (see :func:`dis_table`).
    """
    tables = {
        "dis": dis_table(runs, dis_subsets),
        "cos": cos_table(runs),
        "efficiency": efficiency_table(runs),
    }
    return {
        k: t for k, t in tables.items() if any(v is not None for _, r in t.rows for v in r.values())
    }


def write_tables(
    runs: Sequence[Mapping], out_dir: PathLike, dis_subsets: Sequence[str] | None = None
) -> List[Path]:
    """Write ``<name>.md``, ``<name>.csv`` and ``<name>.tex`` per table; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in build_tables(runs, dis_subsets).items():
        for ext, render in (("md", to_markdown), ("csv", to_csv), ("tex", to_latex)):
            p = out / f"{name}.{ext}"
            p.write_text(render(table), encoding="utf-8")
            written.append(p)
    return written

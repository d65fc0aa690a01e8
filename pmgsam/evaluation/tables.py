"""The paper's benchmark tables (DIS5K, COS instances, efficiency), built from run files.

A run is a parsed ``run.json`` (layout and IO in :mod:`pmgsam.evaluation.run_json`); each table
has one row per run (:func:`build_tables`: per run with a value in it). "Overall (TE1-4)" is
taken from a ``DIS-TE1-4`` entry when present, else pooled from DIS-TE1..4 (all four needed):
per-image means weighted by ``num_images``, and maxF from the pooled F curve (so it equals one
evaluation over all 2000 images), which needs ``curves``. A column whose rows record different
ground truth is refused (:mod:`pmgsam.evaluation.table_gt`). Rendering lives in
:mod:`pmgsam.evaluation.table_rendering`; its names and the run.json ones are importable from
here too, where the scripts have always imported them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Mapping, Sequence

import numpy as np

from pmgsam.data.dis5k_splits import ALL_TE_NAME, DIS5K_TEST_SPLITS, TE_PARTS
from pmgsam.evaluation.cos_label_sources import label_source_notes
from pmgsam.evaluation.run_json import (
    PathLike,
)
from pmgsam.evaluation.run_merge import merged_row_notes, same_source
from pmgsam.evaluation.table_gt import (
    GT_KEY,
    pooled_record,
    refuse_mixed_ground_truth,
    unrecorded_notes,
)
from pmgsam.evaluation.table_notes import (
    finetune_subset_notes,
    gt_box_notes,
    gt_box_rows,
    mixed_protocols,
    no_best_notes,
    subset_notes,
    unequal_image_counts,
)
from pmgsam.evaluation.table_rendering import (
    Column,
    Table,
    write_table,
)

DIS_SUBSETS = (*DIS5K_TEST_SPLITS, ALL_TE_NAME)
SUBSET_TITLES = {ALL_TE_NAME: "Overall (TE1-4)"}
COS_DATASETS = ("COD10K", "NC4K")
# Config dataset name -> its column in run.json / the COS table.
COS_NAMES = {"cod10k": "COD10K", "nc4k": "NC4K"}


def cos_column(dataset: str, split: str) -> str:
    """The COS table column of ``dataset``'s ``split``: the dataset's name for its test split
    (the paper's columns), ``"<name> <split>"`` for any other, so it never passes for one."""
    return COS_NAMES[dataset] + ("" if split.lower() == "test" else f" {split}")


def cos_entry(dataset: str, split: str) -> str:
    """The run.json ``cos`` entry (the COS table column) of ``split``: COD10K's and NC4K's
    column (:func:`cos_column`), a folder dataset's split name."""
    return cos_column(dataset, split) if dataset in COS_NAMES else split


PROTOCOL_NOTES = {
    "all": "all predicted instances (standard COCO)",
    "matched": "Hungarian-matched predictions only (paper protocol)",
}
# A COS score without a "protocol": pmgsam has named it in every score it wrote (evaluate.py,
# baselines, overlap analysis) since COS scoring exists, so such an entry was written elsewhere
# and its protocol cannot be told; it is comparable to neither.
PROTOCOL_UNKNOWN = "not recorded"


_f1, _f2, _f3, _int = "{:.1f}".format, "{:.2f}".format, "{:.3f}".format, "{:.0f}".format


IMAGE_COUNTS_DIFFER = "scored on different numbers of images"


def _pct(v: float) -> str:
    return f"{100 * v:.1f}"


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
# Shown in a COS group whose rows were scored with different protocols (no best marked there).
PROTOCOL_COLUMN = Column("protocol", "Protocol", "Protocol", True, str, bold_best=False)
EFF_COLUMNS = (
    Column("params_total_M", "Params (M)↓", r"Params (M)$\downarrow$", False, _f1),
    Column("params_trainable_M", "Trainable (M)", "Trainable (M)", False, _f1, bold_best=False),
    Column("flops_G", "FLOPs (G)↓", r"FLOPs (G)$\downarrow$", False, _f1),
    Column("fps", "FPS↑", r"FPS$\uparrow$", True, _f2),
    Column("peak_memory_MB", "Peak memory (MB)↓", r"Memory (MB)$\downarrow$", False, _int),
)


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
    gt = pooled_record(parts)  # checked as the set's own entry would be
    if gt is not None:
        out[GT_KEY] = gt
    return out


def dis_table(runs: Sequence[Mapping], subsets: Sequence[str] | None = None) -> Table:
    """Rows = methods; groups = DIS-VD, DIS-TE1..4, Overall (TE1-4) and the runs' ``A+B`` sets;
    six metrics each.

    ``subsets`` picks other groups: names of ``run.json`` DIS entries, where a missing
    ``A+B`` entry (a combined set) is pooled from its parts like DIS-TE1-4.
    """
    if not subsets:  # the paper's groups, then any A+B sets, then other datasets' splits
        names = {name for run in runs for name in (run.get("dis") or {})}
        joined = sorted(n for n in names if "+" in n)
        others = sorted(names - set(DIS_SUBSETS) - set(joined))  # e.g. a folder dataset's
        subsets = DIS_SUBSETS + tuple(joined) + tuple(others)
    rows, resolved, unpooled = [], [], []
    for run in runs:
        dis = dict(run.get("dis") or {})
        # A row merged from several runs (run_merge) pools only the parts one run gave.
        for name in dict.fromkeys((ALL_TE_NAME, *subsets)):
            parts = TE_PARTS if name == ALL_TE_NAME else name.split("+")
            if name in dis or len(parts) < 2:
                continue
            pooled = pool_te(dis, parts)
            if pooled is not None and not same_source(run, "dis", parts):
                unpooled.append((str(run["method"]), SUBSET_TITLES.get(name, name)))
            else:
                dis[name] = pooled
        vals = {
            (SUBSET_TITLES.get(s, s), c.key): (dis.get(s) or {}).get(c.key)
            for s in subsets
            for c in DIS_COLUMNS
        }
        rows.append((run["method"], vals))
        resolved.append({SUBSET_TITLES.get(s, s): dis.get(s) for s in subsets})
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
    methods = [str(m) for m, _ in rows]
    refuse_mixed_ground_truth("dis", methods, resolved, [t for t, _ in groups])
    note = (
        "F, wF, MAE, S, E as PySODMetrics (F/E curves averaged over images); HCE as the official "
        "DIS tool (raw > 128, relax 5, epsilon 2)."
    )
    titles = [t for t, _ in groups]
    if SUBSET_TITLES[ALL_TE_NAME] in titles:
        note += " Overall (TE1-4) pools all TE1-4 images."
    note += "".join(f" {t} pools the images of its parts." for t in titles if "+" in t)
    # A pooled group is a subset too when any of its parts is.
    parts = {p for s in scored for p in (TE_PARTS if s == ALL_TE_NAME else s.split("+"))}
    notes = [note, *subset_notes(runs, "dis", [*scored, *parts])]
    notes += merged_row_notes(runs, "dis", [*scored, *parts])
    shown = [f"{method}/{group}" for method, group in unpooled if group in titles]
    if shown:
        notes.append(f"Not pooled, its parts come from different runs: {', '.join(shown)}.")
    unranked = unequal_image_counts(resolved, titles)
    notes += no_best_notes(unranked, IMAGE_COUNTS_DIFFER)
    notes += unrecorded_notes(methods, resolved, titles)
    oracles = [str(r["method"]) for r in runs if (r.get("meta") or {}).get("reduce_is_oracle")]
    if oracles:
        notes.append(
            f"ORACLE upper bound, not ranked (its mask chosen with the GT): {', '.join(oracles)}."
        )
    boxed = gt_box_rows(runs)
    notes += gt_box_notes(boxed)
    notes += finetune_subset_notes(runs)
    dis5k = all(p in DIS_SUBSETS for s in scored for p in s.split("+"))
    title = "DIS5K" if dis5k else "DIS metrics"
    return Table(title, groups, rows, notes, list(unranked), oracles + boxed)


def cos_protocol(scores: object) -> str:
    """The COS protocol a score was made with (:data:`PROTOCOL_UNKNOWN` when it names none)."""
    proto = scores.get("protocol") if isinstance(scores, Mapping) else None
    return PROTOCOL_UNKNOWN if proto is None else str(proto)


def cos_table(runs: Sequence[Mapping]) -> Table:
    """AP, AP50 and AP75 of every run's ``cos`` scores, one column group per dataset scored.

    Notes name each COS protocol with its rows, scores made on part of a split, the
    overlapping-instance subsets and, where rows differ in it, the source of their GT instances
    (:mod:`~pmgsam.evaluation.cos_label_sources`); no best is marked in a group whose rows saw
    different image counts, were scored with different protocols (the latter get a Protocol
    column) or against different kinds of instance labels.
    """
    scored = {d for r in runs for d in (r.get("cos") or {})}
    # Datasets no run was scored on are left out (all shown when none has a value).
    datasets = [d for d in COS_DATASETS if d in scored or not scored]
    datasets += sorted(scored - set(COS_DATASETS))
    rows, protocols = [], {}
    row_protocols: List[Dict[str, str]] = []  # per row, {dataset: its protocol}
    for run in runs:
        cos = run.get("cos") or {}
        vals = {(d, c.key): (cos.get(d) or {}).get(c.key) for d in datasets for c in COS_COLUMNS}
        rows.append((run["method"], vals))
        row_protocols.append({d: cos_protocol(cos[d]) for d in datasets if d in cos})
        for d in datasets:
            if d in cos:
                protocols.setdefault(row_protocols[-1][d], []).append(f"{run['method']}/{d}")
    scores = [run.get("cos") or {} for run in runs]
    refuse_mixed_ground_truth("cos", [str(m) for m, _ in rows], scores, datasets)
    notes = ["AP in %, COCO mask AP (pycocotools, class-agnostic)."]
    for proto, where in sorted(protocols.items()):
        desc = PROTOCOL_NOTES.get(proto, proto)
        head = (
            "Protocol not recorded" if proto == PROTOCOL_UNKNOWN else f"Protocol '{proto}' = {desc}"
        )
        notes.append(f"{head}: {', '.join(where)}.")
    notes += subset_notes(runs, "cos", datasets)
    notes += merged_row_notes(runs, "cos", datasets)
    for d in datasets:  # the overlapping-instance subsets (pmgsam.analysis overlap)
        entry = next((r["cos"][d] for r in runs if d in (r.get("cos") or {})), {})
        if isinstance(entry, Mapping) and entry.get("share") is not None:
            notes.append(
                f"{d}: the images whose GT instances overlap (rule '{entry.get('rule')}'), "
                f"{100 * float(entry['share']):.1f} % of the set."
            )
    unequal = unequal_image_counts(scores, datasets)
    notes += no_best_notes(unequal, IMAGE_COUNTS_DIFFER)
    notes += unrecorded_notes([str(m) for m, _ in rows], scores, datasets)
    mixed = mixed_protocols([m for m, _ in rows], row_protocols, datasets)
    notes += no_best_notes(mixed, "scored with different COS protocols")
    for (_, vals), protos in zip(rows, row_protocols):  # each row's protocol, where they differ
        vals.update({(d, PROTOCOL_COLUMN.key): protos.get(d) for d in mixed})
    groups = [(d, COS_COLUMNS + ((PROTOCOL_COLUMN,) if d in mixed else ())) for d in datasets]
    label_notes, mixed_labels = label_source_notes(runs, datasets)
    notes += label_notes
    unranked = [d for d in datasets if d in unequal or d in mixed or d in mixed_labels]
    boxed = gt_box_rows(runs)
    notes += gt_box_notes(boxed)
    notes += finetune_subset_notes(runs)
    return Table("COS instance segmentation", groups, rows, notes, unranked, boxed)


#: Efficiency columns that depend on how a row was measured (input size, device, a CPU's thread
#: count, dtype and the speed options of ``timed_on``): no best among rows measured under different
#: conditions. Parameter counts are always ranked.
PER_IMAGE_COSTS = ("flops_G", "fps", "peak_memory_MB")


def efficiency_table(runs: Sequence[Mapping]) -> Table:
    """Parameters, FLOPs, speed and memory of every run's ``efficiency`` entry; FLOPs, speed
    and memory get no best when the rows were timed under different conditions
    (``timed_on``: :func:`~pmgsam.evaluation.run_efficiency.timing_conditions`, a CPU's thread count
    included), the parameter counts always do. A run with none of these figures (one
    that was scored but never measured) has no row: a note names it."""
    rows, timed, unmeasured = [], {}, []
    for run in runs:
        eff = run.get("efficiency") or {}
        vals = {("", c.key): eff.get(c.key) for c in EFF_COLUMNS}
        if all(v is None for v in vals.values()):  # a row of dashes only
            unmeasured.append(str(run["method"]))
            continue
        rows.append((run["method"], vals))
        if eff.get("fps") is not None or eff.get("peak_memory_MB") is not None:
            timed[run["method"]] = str(eff.get("timed_on") or "not recorded")
    notes: List[str] = []
    unranked: Sequence[str] = ()
    conditions = set(timed.values())
    if len(conditions) > 1:  # a row can be fastest only on a smaller input or a faster device
        unranked = PER_IMAGE_COSTS
        where = "; ".join(f"{m}: {t}" for m, t in timed.items())
        notes.append(
            "No best marked for FLOPs, FPS and memory: the rows were timed under different "
            f"conditions ({where})."
        )
    elif conditions and conditions != {"not recorded"}:
        notes.append(f"Timed on {conditions.pop()}.")
    notes += merged_row_notes([r for r in runs if str(r["method"]) not in unmeasured], "efficiency")
    if unmeasured and rows:
        notes.append(
            "Not measured, so not in this table: "
            f"{', '.join(unmeasured)} (python -m pmgsam.efficiency --run-dir RUN adds a PMG-SAM "
            "run's figures)."
        )
    return Table("Efficiency", [("", EFF_COLUMNS)], rows, notes, unranked_columns=unranked)


def _scored_rows(make: Callable[..., Table], runs: Sequence[Mapping], where: str, *args) -> Table:
    """``make(runs, *args)`` of only the runs with a value in it, and a note naming the others
    (each table makes one row per run, in order); unchanged when no row has a value."""
    table = make(runs, *args)
    scored = [any(v is not None for v in vals.values()) for _, vals in table.rows]
    if all(scored) or not any(scored):
        return table
    table = make([run for run, keep in zip(runs, scored) if keep], *args)
    left_out = ", ".join(str(run["method"]) for run, keep in zip(runs, scored) if not keep)
    table.notes.append(f"Not scored {where}, so not in this table: {left_out}.")
    return table


def build_tables(
    runs: Sequence[Mapping], dis_subsets: Sequence[str] | None = None
) -> Dict[str, Table]:
    """The tables that have at least one value: ``dis``, ``cos``, ``efficiency``.

    ``dis_subsets`` chooses the DIS groups (see :func:`dis_table`). A run with no value in the
    DIS or the COS table (one scored on the other task only, E-SAM's COD10K run say) has no row
    there, where its dashes would pass for a method that failed: a note names it. (The
    ablation table keeps its unscored rows: its rows are the paper's, each note says why.)
    """
    tables = {
        "dis": _scored_rows(dis_table, runs, "on these DIS sets", dis_subsets),
        "cos": _scored_rows(cos_table, runs, "on COS"),
        "efficiency": efficiency_table(runs),
    }
    return {
        k: t for k, t in tables.items() if any(v is not None for _, r in t.rows for v in r.values())
    }


def write_tables(
    runs: Sequence[Mapping], out_dir: PathLike, dis_subsets: Sequence[str] | None = None
) -> List[Path]:
    """Write ``<name>.md``, ``<name>.csv`` and ``<name>.tex`` per table; return the paths."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    written: List[Path] = []
    for name, table in build_tables(runs, dis_subsets).items():
        written += write_table(table, out_dir, name)
    return written

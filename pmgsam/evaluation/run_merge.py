"""Runs of one method name become one table row, when no column is given by two of them.

The paper's PMG-SAM row takes its DIS columns from the DIS5K-trained checkpoint and its COS
columns from the COD10K- and NC4K-fine-tuned ones: three ``evaluate.py`` runs, one row.
:func:`merge_same_method` joins such runs. What a run gives, by section (:func:`given_columns`):

* ``dis``: each split entry, and ``DIS-TE1-4`` (Overall) when its DIS-TE1..4 pool into it; a
  combined ``A+B`` group the DIS table shows (one asked for with ``--splits``, else one any
  run has) likewise. An entry is one run's whole (its
  metrics, image count and curves belong together), so two runs giving one split overlap even
  when their metrics differ;
* ``cos``: each dataset column (``COD10K``, ``NC4K``, ``COD10K Train``...);
* ``efficiency``: each figure key (``params_total_M``, ``fps``, ``timed_on``...).

Two runs giving one of these are refused, naming both and the overlap. So are runs the tables
treat differently as a row (an ORACLE or GT-box baseline beside one that is not, a SAM
fine-tuned with ``--limit`` beside one fine-tuned otherwise, or two baselines' models). A
merged run keeps, under :data:`MERGED_FROM`, which run gave which entries (with its
checkpoint), so the tables can say so and never pool a group from parts of different runs
(:func:`same_source`).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence

from pmgsam.baselines.settings import finetune_limit
from pmgsam.data.dis5k_splits import ALL_TE_NAME, TE_PARTS
from pmgsam.evaluation.run_json import RESULT_SECTIONS
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.utils.command_names import command_name

#: Key of a merged run: one ``{"run", "model", section: [entry names]}`` per source run.
MERGED_FROM = "merged_from"
_SECTION_WORDS = {"dis": "DIS split", "cos": "COS column", "efficiency": "efficiency figure"}


def _pools(dis: Mapping[str, Any], parts: Sequence[str]) -> bool:
    return all(isinstance(dis.get(p), Mapping) and dis[p].get("num_images") for p in parts)


def given_columns(run: Mapping[str, Any], subsets: Sequence[str] = ()) -> Dict[str, List[str]]:
    """{section: the entries ``run`` gives there} (module docstring); ``subsets`` are the DIS
    groups asked for, whose ``A+B`` ones a run gives by pooling its parts."""
    out = {s: list(run.get(s) or {}) for s in RESULT_SECTIONS}
    dis = run.get("dis") or {}
    pooled = [(ALL_TE_NAME, TE_PARTS)] + [(s, s.split("+")) for s in subsets if "+" in s]
    out["dis"] += [name for name, parts in pooled if name not in dis and _pools(dis, parts)]
    return out


def _row_kind(run: Mapping[str, Any]) -> Dict[str, object]:
    """What the tables read of a run's ``meta`` for its whole row: never mixed within one."""
    meta = run.get("meta") if isinstance(run.get("meta"), Mapping) else {}
    return {
        "ORACLE": bool(meta.get("reduce_is_oracle")),
        "GT-box prompted": meta.get("mode") == "box" or "box_prompt" in meta,
        "baseline": meta.get("baseline"),
        "fine-tuning --limit": finetune_limit(meta.get("finetune")),
    }


def model_of(run: Mapping[str, Any]) -> str | None:
    """The model a run records: its checkpoint as given, else its config (an ablation run's)."""
    meta = run.get("meta") if isinstance(run.get("meta"), Mapping) else {}
    if meta.get("checkpoint"):
        return f"checkpoint '{meta['checkpoint']}'"
    return f"config '{meta['config']}'" if meta.get("config") else None


def _refuse_overlap(labels: Sequence[str], cols: Sequence[Dict[str, List[str]]], name: str) -> None:
    for i in range(len(cols)):
        for j in range(i):
            shared = [
                f"{_SECTION_WORDS[section]} {entry}"
                for section in RESULT_SECTIONS
                for entry in cols[j][section]
                if entry in cols[i][section]
            ]
            if shared:
                raise EvaluationInputError(
                    f"runs '{labels[j]}' and '{labels[i]}' both have the method name {name!r} "
                    f"and both give {', '.join(shared)}: one row cannot show both; rename one "
                    f'(its run.json "method", or {command_name("evaluate")} --method when '
                    "re-scoring it), or leave one out"
                )


def _refuse_other_kinds(labels: Sequence[str], runs: Sequence[Mapping], name: str) -> None:
    first = _row_kind(runs[0])
    for label, run in zip(labels[1:], runs[1:]):
        kind = _row_kind(run)
        differ = [k for k in first if kind[k] != first[k]]
        if differ:
            shown = "; ".join(f"{k}: {first[k]} vs {kind[k]}" for k in differ)
            raise EvaluationInputError(
                f"runs '{labels[0]}' and '{label}' both have the method name {name!r} but are "
                f"not rows of one kind ({shown}): one row cannot be both; rename one"
            )


def merge_same_method(
    labels: Sequence[str], runs: Sequence[Mapping[str, Any]], subsets: Sequence[str] = ()
) -> List[Dict[str, Any]]:
    """``runs`` (named ``labels`` in messages and notes) with those of one method name merged
    into one, at the first one's place; refuses overlapping ones (module docstring).
    ``subsets``: the DIS groups asked for (``--splits``), empty for the DIS table's own."""
    if not subsets:  # without --splits the DIS table shows every A+B group a run has
        subsets = sorted({n for r in runs for n in (r.get("dis") or {}) if "+" in n})
    groups: Dict[str, List[int]] = {}
    for i, run in enumerate(runs):
        groups.setdefault(str(run["method"]), []).append(i)
    out: List[Dict[str, Any]] = []
    for name, idx in groups.items():
        if len(idx) == 1:
            out.append(dict(runs[idx[0]]))
            continue
        some = [runs[i] for i in idx]
        names = [labels[i] for i in idx]
        cols = [given_columns(r, subsets) for r in some]
        _refuse_overlap(names, cols, name)
        _refuse_other_kinds(names, some, name)
        merged: Dict[str, Any] = {"method": name, "meta": dict(some[0].get("meta") or {})}
        for section in RESULT_SECTIONS:
            entries = {k: v for r in some for k, v in (r.get(section) or {}).items()}
            if entries:
                merged[section] = entries
        merged[MERGED_FROM] = [
            {"run": label, "model": model_of(r), **c} for label, r, c in zip(names, some, cols)
        ]
        out.append(merged)
    return out


def same_source(run: Mapping[str, Any], section: str, names: Sequence[str]) -> bool:
    """Whether ``names`` of ``section`` come from one run (always, for a run not merged): a
    group pooled from parts of different runs would mix their models."""
    sources = run.get(MERGED_FROM) or []
    given = {i for i, s in enumerate(sources) for n in names if n in s.get(section, [])}
    return len(given) <= 1


def merged_row_notes(
    runs: Sequence[Mapping[str, Any]], section: str, shown: Sequence[str] | None = None
) -> List[str]:
    """One note per merged row with entries of ``section`` shown in this table: which run (and
    model) gave which of them. ``shown``: the entries the table shows (None: all)."""
    notes = []
    for run in runs:
        sources = run.get(MERGED_FROM)
        if not sources:
            continue
        parts = []
        for src in sources:
            entries = [e for e in src.get(section, []) if shown is None or e in shown]
            if entries:
                model = f" ({src['model']})" if src.get("model") else ""
                parts.append(f"{', '.join(entries)} from '{src['run']}'{model}")
        if parts:
            notes.append(
                f"{run['method']} is one row of {len(sources)} runs of that name; here "
                f"{'; '.join(parts)}."
            )
    return notes

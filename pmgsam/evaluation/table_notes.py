"""The notes under the benchmark tables that say why a row or a group is not ranked, or what
a row's numbers are not: GT-box-prompted rows, fine-tunes on a subset, scores made on part of a
split, groups whose rows saw different image counts or COS protocols."""

from __future__ import annotations

from typing import Dict, List, Mapping, Sequence

from pmgsam.baselines.settings import finetune_limit


def gt_box_rows(runs: Sequence[Mapping]) -> List[str]:
    """The methods of the runs prompted with GT boxes (``--baseline sam-box`` / ``sam2-box``):
    shown, but never marked best nor counted when marking it, as the GT tells them where each
    object is, which the automatic rows must find themselves."""
    metas = [(r, r.get("meta") or {}) for r in runs]
    return [str(r["method"]) for r, m in metas if m.get("mode") == "box" or "box_prompt" in m]


def gt_box_notes(methods: Sequence[str]) -> List[str]:
    """The note naming the GT-box-prompted rows left unranked (none when there are none)."""
    if not methods:
        return []
    return [
        f"Prompted with GT boxes, not ranked (the GT locates each object): {', '.join(methods)}."
    ]


def finetune_subset_notes(runs: Sequence[Mapping]) -> List[str]:
    """The note naming the rows of a SAM fine-tuned on only the first images of its splits
    (``finetune_sam --limit``, a quick look), with how many it trained and validated on: a row
    renamed with ``--method`` would otherwise pass for the fine-tuned baseline."""
    parts = []
    for run in runs:
        tuned = (run.get("meta") or {}).get("finetune")
        limit = finetune_limit(tuned)
        if limit is not None:
            data = tuned["data"]
            counts = f"{data.get('train_images')} training, {data.get('val_images')} validation"
            parts.append(f"{run['method']} (--limit {limit}: {counts} images)")
    if not parts:
        return []
    return [f"Fine-tuned on a subset, NOT the fine-tuned baseline: {'; '.join(parts)}."]


def mixed_protocols(
    methods: Sequence[str], protocols: Sequence[Mapping[str, str]], groups: Sequence[str]
) -> Dict[str, List[str]]:
    """{group: ``method: protocol`` per scored row} for the shown COS groups whose rows were
    scored with different protocols: no best is marked there, since ``matched`` (only the
    Hungarian-matched predictions submitted) reads higher than standard COCO's ``all`` on the
    same maps. ``protocols``: per row, {group: its protocol}."""
    out: Dict[str, List[str]] = {}
    for group in groups:
        seen = [(m, p[group]) for m, p in zip(methods, protocols) if group in p]
        if len({p for _, p in seen}) > 1:
            out[group] = [f"{m}: {p}" for m, p in seen]
    return out


def subset_notes(runs: Sequence[Mapping], section: str, shown: Sequence[str]) -> List[str]:
    """A note naming every shown score made on only part of its split (baselines' ``--limit``),
    which the row alone would pass off as the whole split's."""
    parts = [
        f"{run['method']}/{name} {scores['subset']}"
        for run in runs
        for name, scores in (run.get(section) or {}).items()
        if name in shown and isinstance(scores, Mapping) and scores.get("subset")
    ]
    return [f"NOT the whole split: {'; '.join(parts)}."] if parts else []


def unequal_image_counts(
    scores: Sequence[Mapping[str, object]], groups: Sequence[str]
) -> Dict[str, List[int]]:
    """{group: its rows' image counts} for the shown groups whose scored rows did not all see the
    same number of images (e.g. a baseline run with ``--limit``): no best is marked there, since
    a row can be best only on easier or fewer images. ``scores``: per row, {group: its scores},
    pooled groups already pooled as the table shows them."""
    out: Dict[str, List[int]] = {}
    for group in groups:
        counts = []
        for row in scores:
            entry = row.get(group)
            if isinstance(entry, Mapping) and entry.get("num_images") is not None:
                counts.append(int(entry["num_images"]))
        if len(set(counts)) > 1:
            out[group] = counts
    return out


def no_best_notes(groups: Mapping[str, Sequence[object]], why: str) -> List[str]:
    """One note per group left unranked, saying ``why`` and listing what differed."""
    return [
        f"No best marked in {title}: its rows were {why} ({', '.join(map(str, items))})."
        for title, items in groups.items()
    ]

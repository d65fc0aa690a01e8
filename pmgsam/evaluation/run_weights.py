"""One run folder, one version of the weights: the scores of a benchmark run folder are all of
the weights file its run.json records by SHA-256.

:func:`~pmgsam.evaluation.run_json.check_same_model` compares weights paths, which a run still
training keeps while it replaces the file behind them: scoring DIS-TE1 and DIS-TE2 into a folder,
then DIS-TE3 and DIS-TE4 after the best checkpoint changed, would merge two models into one table
row (its Overall column pooling both) under one path. So the digest of the weights about to be
scored is compared with the recorded one, for the entries this call does not replace.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Set

from pmgsam.evaluation.combined import combined_name, is_combined
from pmgsam.evaluation.run_json import read_run_file
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.evaluation.tables import COS_NAMES, cos_column
from pmgsam.utils.messages import preview

SCORE_SECTIONS = ("dis", "cos")


def scored_entries(dataset: str, splits: Iterable[str]) -> Set[str]:
    """The run.json entries benchmark mode writes for ``splits`` of ``dataset``: a DIS5K
    combined split under its :func:`combined_name`, a COS split under its table column, any
    other split under its name."""
    entries = set()
    for split in splits:
        if dataset == "dis5k" and is_combined(split):
            entries.add(combined_name(split))
        elif dataset in COS_NAMES:
            entries.add(cos_column(dataset, split))
        else:
            entries.add(split)
    return entries


def check_same_weights(run_dir: Path, sha256: str, entries: Iterable[str]) -> None:
    """Refuse to score weights of digest ``sha256`` into ``run_dir`` when its run.json records
    other weights (``meta.weights_sha256``) and holds scores that the ``entries`` about to be
    written leave in place. A run.json without a digest (older, or written by hand) is not
    compared."""
    path = Path(run_dir) / "run.json"
    data = read_run_file(path)
    meta = data.get("meta")
    recorded = meta.get("weights_sha256") if isinstance(meta, dict) else None
    if not recorded or recorded == sha256:
        return
    replaced = set(entries)
    kept = [
        name
        for section in SCORE_SECTIONS
        if isinstance(data.get(section), dict)
        for name in data[section]
        if name not in replaced
    ]
    if not kept:
        return
    cos = data.get("cos") if isinstance(data.get("cos"), dict) else {}
    # The overlap analysis's subset AP records its rule: no split, so --splits cannot score it.
    subsets = [n for n in kept if isinstance(cos.get(n), dict) and "rule" in cos[n]]
    ways = ["score those splits too in this call (--splits)"] if len(subsets) < len(kept) else []
    ways += ["choose another --output-dir", f"delete '{path}' to start this folder anew"]
    also = (
        f" ({preview([repr(k) for k in subsets], 5)}: the overlap analysis's subset AP, no "
        "split: run that analysis again after scoring)"
        if subsets
        else ""
    )
    raise EvaluationInputError(
        f"--output-dir '{run_dir}' holds scores ({preview([repr(k) for k in kept], 5)}) of "
        f"the weights with SHA-256 {recorded[:12]}…, but '{meta.get('checkpoint')}' now "
        f"holds other weights ({sha256[:12]}…: a run still training replaced them?): "
        "adding these scores would make one table row of two models. "
        f"{_sentence(', '.join(ways[:-1]))}, or {ways[-1]}{also}"
    )


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]

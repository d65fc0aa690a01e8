"""One table row, one copy of each dataset: the scores a run.json row holds of DIS5K, COD10K or
NC4K were all read from one data root.

run.json merges: a benchmark or baseline command over some splits replaces their entries and
keeps the others (:func:`~pmgsam.evaluation.run_json.write_run_json`). Scoring DIS-TE2..4 with
``data.root=/data/DIS5K`` and then DIS-TE1 with ``--data-root`` a cleaned copy into the same
``--output-dir`` made one row of two datasets, and its Overall (TE1-4) pooled them: the table
checks a column's ground truth across rows (:mod:`~pmgsam.evaluation.table_gt`), not that a
row's columns are of one dataset. So every entry such a command writes records under
:data:`DATA_KEY` the dataset and the data root it was read from (:func:`record_ground_truth`),
and a command adding entries to a row is refused before anything is predicted when entries it
keeps were read from another root of the same dataset (:func:`check_same_data`), naming both.

The data (or the project) may have moved since: a root that is the same folder by another path
(a symbolic link, a mount) is the same data; so is one where a split scored in both has the same
ground truth fingerprint (a copy). A recorded root that no longer exists may have moved, or
another dataset may have taken its place: one split the row holds tells, its GT masks under the
new root fingerprinted (the one of fewest images; only then, ~0.1 s per 500 masks) and compared
with its record; where the new root has none of the row's splits (or, COS, where none is scored
again: its GT would be built from the instance labels) nothing is compared. A ``folder``
dataset is not compared: its root *is* the dataset, each of its splits a column of its own,
never pooled. An entry without the record (an older pmgsam's) is not compared.

Folder-scored rows (``evaluate.py --pred-dir ... --run DIR --split NAME``) have no data root:
their ``meta.scored_maps`` records each entry's ``--gt-dir``, and for DIS5K's test splits (the
ones Overall pools) the folder holding the split's folder is taken as its root
(:func:`check_same_gt_root`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional

from pmgsam.data.dis5k_splits import DIS5K_TEST_SPLITS
from pmgsam.evaluation.map_pairs import EvaluationInputError
from pmgsam.evaluation.run_json import read_run_file
from pmgsam.evaluation.table_gt import benchmark_records, recorded

#: The key of a benchmark or baseline run.json entry recording where its data was read.
DATA_KEY = "data_root"
SECTIONS = ("dis", "cos")


def data_record(dataset: str, root: Any) -> Dict[str, str]:
    """The :data:`DATA_KEY` record of entries of ``dataset`` read from ``root``: the dataset,
    the root as given and resolved (what later commands compare)."""
    return {"dataset": dataset, "root": str(root), "resolved": str(Path(root).resolve())}


def record_ground_truth(
    dataset: str,
    splits: Iterable[str],
    datasets: Mapping[str, Any],
    cos_gt: Mapping[str, Any],
    dis: Mapping[str, Dict[str, Any]],
    cos: Mapping[str, Dict[str, Any]],
    root: Any,
) -> None:
    """:func:`~pmgsam.evaluation.table_gt.benchmark_records` (what GT each entry was scored
    against), and the :data:`DATA_KEY` record of ``root`` in every entry scored."""
    benchmark_records(dataset, splits, datasets, cos_gt, dis, cos)
    for entries in (dis, cos):
        for entry in entries.values():
            entry[DATA_KEY] = data_record(dataset, root)


def _same_folder(then: str, now: str) -> bool:
    """Whether the root recorded ``then``, which still exists, is ``now``'s folder: the same
    path, or the same folder by another path (a symbolic link, a mount)."""
    if then == now:
        return True
    try:
        return os.path.samefile(then, now)
    except OSError:
        return False


def _fingerprint(entry: object) -> Optional[str]:
    """The GT fingerprint an entry recorded, None when it has none."""
    record = recorded(entry)
    return str(record["fingerprint"]) if record else None


def _masks_fingerprint(folders: Iterable[Path]) -> Optional[str]:
    """The :func:`~pmgsam.evaluation.table_gt.mask_record` fingerprint of the GT masks in
    ``folders`` together; None when one cannot be listed (no such split there)."""
    from pmgsam.data.io import DataError
    from pmgsam.evaluation.map_pairs import list_images
    from pmgsam.evaluation.table_gt import mask_record

    try:
        masks = [p for folder in folders for p in list_images(folder, "GT mask").values()]
        return str(mask_record(masks)["fingerprint"])
    except (DataError, EvaluationInputError, OSError):
        return None


def _gone_root_differs(
    now: Any,
    kept: Mapping[str, Mapping[str, Any]],
    folders_of: Callable[[Path, str], Optional[List[Path]]],
) -> Optional[str]:
    """The name of an entry of ``kept`` (by name, read from a root that is gone) whose GT
    masks under ``now`` (``folders_of(now, name)``: its mask folders, None when it has none
    there) are not the ones it recorded; None when the first entry found there (the fewest
    images first: one split is fingerprinted) has its GT, or none is there (nothing to
    compare: the data moved, as far as anything tells)."""

    def size(name: str) -> int:
        try:
            return int((recorded(kept[name]) or {}).get("images") or 0)
        except (TypeError, ValueError):
            return 0

    for name in sorted((n for n in kept if recorded(kept[n])), key=size):
        folders = folders_of(Path(now), name)
        if not folders or not all(Path(f).is_dir() for f in folders):
            continue
        fingerprint = _masks_fingerprint(folders)
        if fingerprint is None:
            continue
        return None if fingerprint == _fingerprint(kept[name]) else name
    return None


def _dis5k_folders(root: Path, name: str) -> Optional[List[Path]]:
    """The GT mask folders of the DIS5K entry ``name`` under ``root`` (each part's for a set
    of splits), None for an entry of a carved split (its images are listed elsewhere)."""
    from pmgsam.data.dis5k_splits import ALL_TE_NAME, TE_PARTS
    from pmgsam.evaluation.combined import split_parts

    parts = TE_PARTS if name == ALL_TE_NAME else split_parts(name)
    if any(":" in part for part in parts):
        return None
    return [root / part / "gt" for part in parts]


def _fingerprints_now(
    dataset: str,
    splits: Iterable[str],
    datasets: Mapping[str, Any],
    cos_gt: Mapping[str, Any],
    names: Iterable[str],
) -> Dict[str, Optional[str]]:
    """The GT masks' (COS: COCO GT's) fingerprint, by entry name, of the entries ``names`` this
    command scores, read from its data: what they would record once scored."""
    from pmgsam.evaluation.run_weights import scored_entries

    wanted = set(names)
    chosen = [s for s in splits if scored_entries(dataset, [s]) & wanted]
    dis: Dict[str, Dict[str, Any]] = {n: {} for n in wanted}  # no HCE: masks only
    cos: Dict[str, Dict[str, Any]] = {n: {} for n in wanted}
    benchmark_records(dataset, chosen, datasets, cos_gt, dis, cos)
    out = {}
    for name in wanted:
        record = recorded(dis[name]) or recorded(cos[name])
        out[name] = str(record["fingerprint"]) if record else None
    return out


def check_same_data(
    run_dir: Any,
    dataset: str,
    splits: Iterable[str],
    root: Any,
    datasets: Mapping[str, Any],
    cos_gt: Mapping[str, Any],
    option: str = "--output-dir",
    way_out: Optional[str] = None,
) -> None:
    """Refuse to add the scores of ``splits`` of ``dataset`` read from ``root`` to
    ``run_dir``'s run.json when entries of it this command keeps were read from another root
    of that dataset (:data:`DATA_KEY`), another folder, unless an entry this command scores
    again has the same ground truth fingerprint now as recorded from that root (a copy of the
    same data) or, the root gone, the GT under ``root`` of one DIS5K split kept has
    (:func:`_gone_root_differs`; none there: nothing compared). ``datasets``: the built
    datasets by split (and part), ``cos_gt``: a COS split's COCO GT. ``way_out``: what the
    message advises instead of benchmark mode's options."""
    from pmgsam.evaluation.run_weights import scored_entries

    if dataset == "folder":
        return
    run = read_run_file(Path(run_dir) / "run.json")
    now = str(Path(root).resolve())
    scored = scored_entries(dataset, list(splits))
    kept: Dict[str, Dict[str, Any]] = {}  # other root -> entries kept from it, by name
    redone: Dict[str, Dict[str, Any]] = {}  # entries scored again, by their recorded root
    for section in SECTIONS:
        entries = run.get(section) if isinstance(run.get(section), dict) else {}
        for name, entry in entries.items():
            place = entry.get(DATA_KEY) if isinstance(entry, Mapping) else None
            if not isinstance(place, Mapping) or place.get("dataset") != dataset:
                continue  # an older pmgsam's entry, another dataset's
            then = str(place.get("resolved") or place.get("root") or "")
            if not then or (Path(then).exists() and _same_folder(then, now)):
                continue
            (redone if name in scored else kept).setdefault(then, {})[name] = entry
    if not kept:
        return
    default = (
        "Score those splits too in this call, from one data root (--splits, --data-root), "
        f"choose another {option}, or delete '{Path(run_dir) / 'run.json'}' to start the row anew"
    )
    fingerprints = None
    for then, names in kept.items():
        again = {n: e for n, e in redone.get(then, {}).items() if recorded(e)}
        if again:
            fingerprints = fingerprints or _fingerprints_now(
                dataset, splits, datasets, cos_gt, [n for r in redone.values() for n in r]
            )
            if any(_fingerprint(e) == fingerprints.get(n) for n, e in again.items()):
                continue  # the same ground truth under both roots: a copy of the data
        gone = not Path(then).exists()
        if gone and not again:
            # Moved, or another dataset put in its place: one split the row holds tells.
            # COS columns' GT would have to be built from the instance labels: not compared.
            differs = _gone_root_differs(now, names, _dis5k_folders) if dataset == "dis5k" else None
            if differs is None:
                continue
            raise EvaluationInputError(
                f"{option} '{run_dir}' holds {dataset} scores ({', '.join(sorted(names))}) read "
                f"from data root '{then}', which is gone, and the {differs} ground truth under "
                f"'{now}', which this command reads {dataset} from, is not the one they were "
                "scored against: one table row would hold two versions of the dataset (Overall "
                f"(TE1-4) pooling both). {way_out or default}"
            )
        raise EvaluationInputError(
            f"{option} '{run_dir}' holds {dataset} scores ({', '.join(sorted(names))}) read from "
            f"data root '{then}'{' (gone since)' if gone else ''}, and this command reads "
            f"{dataset} from '{now}': one table row would hold two copies of the dataset "
            f"(Overall (TE1-4) pooling both). {way_out or default}"
        )


def gt_root(split: str, gt: Any) -> Optional[str]:
    """The data root of a DIS5K test split's ``--gt-dir`` ``gt``: the folder holding the folder
    named for the split (``/data/DIS5K`` of ``/data/DIS5K/DIS-TE1/gt``); None for another
    split, or a path with no folder of its name."""
    if split not in DIS5K_TEST_SPLITS:
        return None
    path = Path(gt).resolve()
    for folder in (path, *path.parents):
        if folder.name == split:
            return str(folder.parent)
    return None


def check_same_gt_root(run_dir: Any, section: str, entry: str, gt: Any, out: Any = None) -> None:
    """Refuse to add a folder-scored DIS5K test split ``entry`` whose ``--gt-dir`` ``gt`` lies
    under another data root (:func:`gt_root`) than the other DIS5K test splits of the row
    (``meta.scored_maps``), by the rules of :func:`check_same_data`: the same folder by another
    path is the same data, and so is a root where ``entry``, scored again, has the ground truth
    fingerprint it recorded (a copy), or, the other root gone, where one split the row holds
    does (:func:`_gone_root_differs`). ``out``: the file the scores were written to, which
    keeps them."""
    now = gt_root(entry, gt) if section == "dis" else None
    if now is None:
        return
    run = read_run_file(Path(run_dir) / "run.json")
    meta = run.get("meta") if isinstance(run.get("meta"), dict) else {}
    sources = meta.get("scored_maps") if isinstance(meta.get("scored_maps"), dict) else {}
    dis = run.get("dis") if isinstance(run.get("dis"), dict) else {}
    others: Dict[str, Dict[str, Any]] = {}  # other root -> its entries, by name
    for name in dis:
        source = sources.get(f"dis/{name}")
        then = gt_root(name, source.get("gt")) if isinstance(source, Mapping) else None
        if name == entry or then is None or (Path(then).exists() and _same_folder(then, now)):
            continue
        others.setdefault(then, {})[name] = dis[name]

    def folders_of(root: Path, name: str) -> List[Path]:
        # Where the entry's --gt-dir would lie under ``root``, had its data moved there.
        then_gt = Path(sources[f"dis/{name}"]["gt"]).resolve()
        return [root / then_gt.relative_to(gt_root(name, then_gt))]  # type: ignore[arg-type]

    for then, names in others.items():
        old = sources.get(f"dis/{entry}")
        again = gt_root(entry, old.get("gt")) if isinstance(old, Mapping) else None
        gone = not Path(then).exists()
        if again == then and recorded(dis.get(entry)):
            # Scoring read them: named there if they cannot be listed again.
            if _masks_fingerprint([Path(gt)]) == _fingerprint(dis[entry]):
                continue
        elif gone and _gone_root_differs(now, names, folders_of) is None:
            continue  # moved (as far as one split the row holds tells), or nothing to compare
        raise EvaluationInputError(
            f"--run '{run_dir}' holds DIS5K scores ({', '.join(sorted(names))}) against GT under "
            f"'{then}'{' (gone since, and its GT under the new folder is other)' if gone else ''}"
            f", and --gt-dir '{gt}' lies under '{now}': one table row would hold two "
            "copies of DIS5K (Overall (TE1-4) pooling both). Score those splits again against "
            "GT of one DIS5K folder, or choose another --run"
            + (f" (the scores are kept in '{out}')" if out else "")
        )

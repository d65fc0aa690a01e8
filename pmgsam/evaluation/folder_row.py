"""A table row for maps scored as a folder (another method's published maps).

``evaluate.py --pred-dir ... --run DIR --split NAME [--method ROW]`` adds the scores it wrote to
``--out`` into ``DIR/run.json``: a DIS scoring under ``dis[NAME]`` (a DIS5K split's name, e.g.
``DIS-TE1``, so that it lines up with benchmark runs' columns and pools into Overall (TE1-4)),
a COS scoring under ``cos[NAME]`` (the COS table's column: ``COD10K``, ``NC4K``). Scoring each
split into the same DIR builds the method's row; ``python -m pmgsam.report`` then tables it
beside benchmark and baseline runs. ``meta.scored_maps`` records, per entry, the maps and GT
it was scored from.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Mapping

from pmgsam.evaluation.map_pairs import EvaluationInputError
from pmgsam.evaluation.run_json import read_run_file, write_run_json

#: run.json ``meta`` keys of a run that predicted its maps with a model (benchmark, baseline,
#: ablation): folder scores must not be merged into such a run.
MODEL_META = ("checkpoint", "checkpoint_resolved", "baseline", "weights_sha256")


def refuse_model_run(run_dir: str) -> None:
    """Refuse a ``--run`` folder whose run.json is a model's run (it holds that model's scores
    or efficiency figures, which another method's would replace or join as one row), and a
    ``--run`` that is a file (a run.json given for its folder), before anything is scored."""
    run = Path(run_dir)
    if run.exists() and not run.is_dir():
        # Its run.json would be looked for inside it: a model's row given as its run.json
        # passed unseen, and the row was written only after scoring, as a traceback.
        if run.name == "run.json":
            refuse_model_run(str(run.parent))
        where = f" (e.g. '{run.parent}')" if run.name == "run.json" else ""
        raise EvaluationInputError(
            f"--run '{run_dir}' is a file: --run names the row's folder, where run.json is "
            f"written{where}"
        )
    data = read_run_file(run / "run.json")
    meta = data.get("meta") if isinstance(data.get("meta"), Mapping) else {}
    found = [k for k in MODEL_META if meta.get(k)]
    if not found and data.get("efficiency"):
        # pmgsam.efficiency --run-dir records a model's figures with no meta: another
        # method's scores would share a row with them.
        found = ["efficiency"]
        meta = {"efficiency": "python -m pmgsam.efficiency"}
    if found:
        made_by = f"{found[0]} '{meta[found[0]]}'"
        raise EvaluationInputError(
            f"--run '{run_dir}' is the run of a model ({made_by}, row "
            f"'{data.get('method')}'): scores of a folder of maps go into a run folder of "
            "their own (e.g. results/<method>), one per method"
        )


def add_to_run(args: argparse.Namespace, section: str, scores: Mapping[str, Any]) -> Path:
    """Write ``scores`` into ``args.run``'s run.json as ``section[args.split]`` (the row named
    ``args.method``, else the row's name so far, else the folder's), recording the maps and the
    GT scored; returns the run.json path."""
    gt = args.gt_dir if section == "dis" else args.gt_json
    source = {"pred_dir": str(Path(args.pred_dir).resolve()), "gt": str(Path(gt).resolve())}
    # Merged into the recorded scored_maps under write_run_json's lock: read here, the record
    # of another split scored into the row at the same time would be lost.
    return write_run_json(
        args.run,
        args.method,
        **{section: {args.split: dict(scores)}},
        meta_entries={"scored_maps": {f"{section}/{args.split}": source}},
    )

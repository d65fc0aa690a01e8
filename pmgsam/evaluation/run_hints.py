"""What to give instead, when a folder given as a run holds no run.json
(:func:`~pmgsam.evaluation.run_json.load_runs` names it in its error)."""

from __future__ import annotations

from pathlib import Path

from pmgsam.engine.saved_config import CONFIG_FILE, RUN_CHECKPOINTS, RUN_LOG, is_run_config
from pmgsam.utils.command_names import command_name
from pmgsam.utils.io import folder_above


def missing_run_hint(p: Path) -> str:
    """``": <hint>"`` for a path given as a run that holds no run.json ("" for none): a
    training run (its scores are elsewhere, or not yet made), a folder of run folders, or a
    folder inside a run folder. A training run is told as everywhere else
    (:func:`~pmgsam.engine.saved_config.is_run_config`: its train.log beside config.yaml and
    checkpoints/); a folder of checkpoints with a hand-made config.yaml is not one."""
    score = (
        f"({command_name('evaluate')} --config CFG --checkpoint {p} --output-dir RESULTS) and "
        "give RESULTS"
    )
    if p.is_dir() and is_run_config(p / CONFIG_FILE):
        # The folder train.py wrote: it has weights, not scores.
        if (p.resolve().parent / "run.json").is_file():  # pmgsam.ablate's NAME/train
            parent = folder_above(p)  # '.' given: the variant folder, not '.' again
            return f": it is the training run of '{parent}', holding its scores: give that"
        return f": it is a training run; score its checkpoint first {score}"
    if p.is_dir() and (p / RUN_CHECKPOINTS).is_dir() and (p / CONFIG_FILE).is_file():
        return (
            f": it holds {RUN_CHECKPOINTS}/ and {CONFIG_FILE} (without the {RUN_LOG} of a "
            f"training run), not scores; score its weights first {score}"
        )
    if p.is_dir():
        return _runs_inside_hint(p) or _run_above_hint(p)
    return ""


def _run_above_hint(folder: Path) -> str:
    """For a folder inside a run folder (its ``metrics/``, ``pred/<split>``): name the run."""
    for above in list(folder.resolve().parents)[:2]:
        if (above / "run.json").is_file():
            return f": it lies inside the run folder '{above}': give that"
    return ""


def _runs_inside_hint(folder: Path) -> str:
    """For a folder without run.json that holds run folders (``pmgsam.ablate``'s
    ``--output-dir``: one per variant): name them, as what to give instead."""
    from pmgsam.utils.messages import preview

    try:
        inside = sorted(c.name for c in folder.iterdir() if (c / "run.json").is_file())
    except OSError:  # unreadable: the "no run.json" error stands alone
        return ""
    if not inside:
        return ""
    table = (
        " (or read its ablation table, ablation.md)" if (folder / "ablation.md").is_file() else ""
    )
    return (
        f": it holds {len(inside)} run folder(s) ({preview(inside, 5)}): give those, e.g. "
        f"'{folder / inside[0]}'{table}"
    )

"""A folder dataset's baseline row scored a split at a time: a split with instance labels makes
maps whose producer records ``instances`` (so maps made without them are not resumed), one
without labels does not. That flag changes no map nor DIS score, so it must not make the row
refuse its own splits' scores as "made with other settings"; a real change still does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pmgsam.baselines.row_merge import MADE_WITH, made_with, refuse_other_settings
from pmgsam.evaluation.map_pairs import EvaluationInputError

SETTINGS = {"baseline": "sam-auto", "model_type": "vit_b", "generator": {}, "reduce": "union"}


def _producer(**settings) -> dict:
    return {"weights_sha256": "a" * 64, "image_size": 1024, "settings": {**SETTINGS, **settings}}


def _row(run_dir: Path, made: dict) -> None:
    run_dir.mkdir()
    row = {"method": "SAM", "dis": {"val": {"maxFm": 0.5}}, "meta": {MADE_WITH: made}}
    (run_dir / "run.json").write_text(json.dumps(row))


@pytest.mark.parametrize("then_instances", [False, True])
def test_splits_with_and_without_instance_labels_share_a_row(
    tmp_path: Path, then_instances: bool
) -> None:
    run_dir = tmp_path / "row"
    then = _producer(instances=True) if then_instances else _producer()
    # Recorded as made_with records it now, and as the previous pmgsam did (flag kept).
    _row(run_dir, dict(then) if then_instances else made_with(then))
    now = _producer() if then_instances else _producer(instances=True)
    refuse_other_settings(run_dir, made_with(now), ["test"])
    with pytest.raises(EvaluationInputError, match="reduce 'union' then, 'largest' now"):
        refuse_other_settings(run_dir, made_with({**now, "settings": {
            **now["settings"], "reduce": "largest"}}), ["test"])  # fmt: skip

"""The hidden records file of a baseline's maps (``.pmgsam-baseline-records.jsonl``) is strict
JSON, also when an instance's score (the model's predicted IoU) is NaN or infinite: Python's json
wrote those as the bare tokens ``NaN`` and ``Infinity``, which jq and other languages refuse. A
resumed run reads them back as the floats they were, from new files and from older ones."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from mask_cases import coco_annotation, coco_dict
from test_baseline_resumed_instances import PRODUCER
from test_baseline_runner import BoxStandIn, H, Stand, W, rect

from pmgsam.baselines.resume import RECORDS, append_record, read_records, write_records
from pmgsam.baselines.row_scores import NonFiniteScoreWarning
from pmgsam.baselines.runner import run_baseline

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def strict_lines(path: Path) -> list:
    """Each line of ``path`` parsed as strict JSON (NaN, Infinity and -Infinity refused)."""

    def refuse(constant: str) -> float:
        raise AssertionError(f"{path.name} holds {constant}, which is not JSON")

    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


def test_non_finite_scores_are_strict_json_and_a_resumed_run_scores_them_alike(
    tmp_path: Path,
) -> None:
    anns = [coco_annotation(1, 3, rect(6, 9, 8, 12)), coco_annotation(2, 7, rect(2, 4, 2, 5))]
    coco = coco_dict((H, W), anns, {"a.jpg": 3, "c.jpg": 7})
    data = Stand(tmp_path / "data", {"a": rect(6, 9, 8, 12), "c": rect(2, 4, 2, 5)}, coco)
    baseline = BoxStandIn(levels=(0.9,), scores=(math.inf,))
    scores = iter([(math.inf,), (math.nan,)])

    def predict(image, boxes=None, _predict=baseline.predict):
        baseline.scores = next(scores)
        return _predict(image, boxes)

    baseline.predict = predict
    out = tmp_path / "run"
    kwargs = dict(cos=True, progress=False, producer=PRODUCER, timing=False)
    with pytest.warns(NonFiniteScoreWarning):
        first = run_baseline(baseline, data, out, "T", **kwargs)
    records = strict_lines(out / "pred" / "T" / RECORDS)
    assert [[i["score"] for i in r["instances"]] for r in records] == [["Infinity"], ["NaN"]]
    # Resumed: nothing is predicted again (the stand-in has no scores left to give), and the
    # kept scores are the floats they were: ranked last and named as such once more.
    with pytest.warns(NonFiniteScoreWarning) as caught:
        resumed = run_baseline(baseline, data, out, "T", skip_existing=True, **kwargs)
    (text,) = [str(w.message) for w in caught if w.category is NonFiniteScoreWarning]
    assert "a.jpg instance 0 (inf)" in text and "c.jpg instance 0 (nan)" in text
    assert resumed["cos"]["stats"] == first["cos"]["stats"]
    assert resumed["cos"]["non_finite_scores"] == 2
    assert [[i["score"] for i in r["instances"]] for r in strict_lines(out / "pred" / "T" / RECORDS)
            ] == [["Infinity"], ["NaN"]]  # fmt: skip


def test_records_round_trip_every_non_finite_score(tmp_path: Path) -> None:
    values = [math.nan, math.inf, -math.inf, 0.5]
    instances = [{"image_id": 1, "category_id": 1, "score": v} for v in values]
    record = {"name": "a.png", "source": ["a"], "counts": {}, "prompted": True}
    append_record(tmp_path, dict(record, instances=instances))
    write_records(tmp_path, {"a.png": dict(record, instances=instances)})  # as a resume keeps it
    append_record(tmp_path, dict(record, name="b.png", source=["b"], instances=instances))
    strict_lines(tmp_path / RECORDS)
    found = read_records(tmp_path, ["a.png", "b.png"], {"a.png": ["a"], "b.png": ["b"]})
    for name in ("a.png", "b.png"):
        got = [i["score"] for i in found[name]["instances"]]
        assert math.isnan(got[0]) and got[1:] == [math.inf, -math.inf, 0.5]


def test_records_an_older_pmgsam_wrote_with_bare_nan_still_read_back(tmp_path: Path) -> None:
    old = [
        '{"name": "a.png", "source": ["a"], "counts": {}, "prompted": true, '
        '"instances": [{"image_id": 1, "score": NaN}, {"image_id": 1, "score": -Infinity}]}',
        '{"name": "b.png", "source": ["b"], "counts": {}, "prompted": true, '
        '"instances": [{"image_id": 2, "score": "not a number"}]}',  # no score: predicted again
    ]
    (tmp_path / RECORDS).write_text("\n".join(old) + "\n")
    found = read_records(tmp_path, ["a.png", "b.png"], {"a.png": ["a"], "b.png": ["b"]})
    assert list(found) == ["a.png"]
    scores = [i["score"] for i in found["a.png"]["instances"]]
    assert math.isnan(scores[0]) and scores[1] == -math.inf

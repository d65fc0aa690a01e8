"""A ``pmgsam.ablate`` variant's run.json entry records the ground truth it was scored against
(:mod:`pmgsam.evaluation.table_gt`), as benchmark mode records a set of splits: a variant
folder given to ``python -m pmgsam.report`` sits in the ``Overall (TE1-4)`` column beside
benchmark runs, which must refuse a benchmark run of other masks there. Kept scores (not
scored again) gain the record too; kept scores of an older pmgsam, which recorded none (a user
upgrading in the middle of a grid), are scored again from their kept maps: the data digest
compares names and sizes only, and the GT found now may not be the one they were scored
against."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import cv2
import pytest
from test_ablate_run_record import PARTS, _copy, _stamps, scored  # noqa: F401 (the module's fixture)

from pmgsam import ablate
from pmgsam.evaluation.run_json import write_run_json
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.report import main as report


def _masks_fingerprint(root: Path) -> str:
    """By hand: the sum mod 2**256 of SHA-256(stem, NUL, bytes) of every GT mask of TE1-4."""
    total = 0
    for part in PARTS:
        for mask in (root / part / "gt").iterdir():
            digest = hashlib.sha256(mask.stem.encode() + b"\0" + mask.read_bytes()).digest()
            total += int.from_bytes(digest, "big")
    return f"{total % 2**256:064x}"


def _entry(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())["dis"]["DIS-TE1-4"]


def test_a_variant_records_its_ground_truth_and_report_checks_it(
    scored,  # noqa: F811
    tmp_path,
    dis5k_root,
) -> None:
    out = _copy(scored, tmp_path)
    run = out / "k1"
    record = _entry(run)["ground_truth"]
    expected = _masks_fingerprint(dis5k_root)
    images = sum(len(list((dis5k_root / p / "gt").iterdir())) for p in PARTS)
    assert (record["fingerprint"], record["images"]) == (expected, images)
    assert "skeletons" not in record  # scored --no-hce: no HCE, no skeletons recorded

    # A benchmark run of the same masks shares the column; one of other masks is refused.
    scores = {k: v for k, v in _entry(run).items() if k != "ground_truth"}
    same, other = tmp_path / "same", tmp_path / "other"
    write_run_json(same, "Bench", dis={"DIS-TE1-4": {**scores, "ground_truth": record}})
    assert report([str(run), str(same), "--out", str(tmp_path / "t1")]) == 0
    cleaned = {**record, "fingerprint": f"{int(expected, 16) ^ 1:064x}", "source": "/clean"}
    write_run_json(other, "Cleaned", dis={"DIS-TE1-4": {**scores, "ground_truth": cleaned}})
    with pytest.raises(EvaluationInputError, match=r"column 'Overall \(TE1-4\)'.*different"):
        report([str(run), str(other), "--out", str(tmp_path / "t2")])

    # Scores kept on a later call (not scored again) are written with the record too.
    data = json.loads((run / "run.json").read_text())
    del data["dis"]["DIS-TE1-4"]["ground_truth"]
    (run / "run.json").write_text(json.dumps(data))
    kept = (run / "metrics" / "DIS-TE1-4.json").stat().st_mtime_ns
    args = ["--grid", scored["grid"], "--output-dir", out, "--only", "k1", "--device", "cpu"]
    assert ablate.main([str(a) for a in args] + ["--quiet", "--no-hce", "--evaluate"]
                       + scored["overrides"]) == 0  # fmt: skip
    assert (run / "metrics" / "DIS-TE1-4.json").stat().st_mtime_ns == kept
    assert _entry(run)["ground_truth"]["fingerprint"] == expected


def _uncompressed_copy(grid, tmp_path: Path, dis5k_root: Path):
    """The scored grid and the DIS5K data copied, one DIS-TE2 mask re-saved as an uncompressed
    PNG and its inverse, of the same file size, beside it as ``redrawn.png``: (grid folder, data
    root, that mask, ablate's argv evaluating variant k1 on the copy)."""
    out = _copy(grid, tmp_path)
    root = Path(shutil.copytree(dis5k_root, tmp_path / "DIS5K"))
    mask = next((root / "DIS-TE2" / "gt").iterdir())
    pixels = cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE)
    for path, values in ((mask, pixels), (tmp_path / "redrawn.png", 255 - pixels)):
        cv2.imwrite(str(path), values, [cv2.IMWRITE_PNG_COMPRESSION, 0])
    assert (tmp_path / "redrawn.png").stat().st_size == mask.stat().st_size
    overrides = [*grid["overrides"], f"data.root={root}"]
    args = ["--grid", grid["grid"], "--output-dir", out, "--only", "k1", "--device", "cpu"]
    argv = [str(a) for a in args] + ["--quiet", "--no-hce", "--evaluate"] + overrides
    return out, root, mask, argv


def test_kept_scores_of_a_mask_redrawn_in_place_are_scored_again(
    scored,  # noqa: F811
    tmp_path,
    dis5k_root,
    caplog,
    small_branches,
) -> None:
    # The data digest compares names and sizes: a mask redrawn at the same file size (an
    # uncompressed PNG of the same shape) passes it, and the kept scores were of the old mask.
    out, root, mask, argv = _uncompressed_copy(scored, tmp_path, dis5k_root)
    assert ablate.main(argv) == 0  # re-saved uncompressed: other sizes, predicted and scored
    scores = out / "k1" / "metrics" / "DIS-TE1-4.json"
    stamp = scores.stat().st_mtime_ns
    assert ablate.main(argv) == 0  # unchanged since: kept
    assert scores.stat().st_mtime_ns == stamp
    shutil.copyfile(tmp_path / "redrawn.png", mask)  # same name and size, other pixels
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pmgsam.ablate"):
        assert ablate.main(argv) == 0
    assert "its GT masks changed since it was scored" in caplog.text
    assert scores.stat().st_mtime_ns != stamp
    expected = _masks_fingerprint(root)
    assert json.loads(scores.read_text())["ground_truth"]["fingerprint"] == expected
    assert _entry(out / "k1")["ground_truth"]["fingerprint"] == expected


def test_older_kept_scores_without_a_gt_record_are_scored_again_from_kept_maps(
    scored,  # noqa: F811
    tmp_path,
    dis5k_root,
    caplog,
    small_branches,
) -> None:
    out, root, mask, argv = _uncompressed_copy(scored, tmp_path, dis5k_root)
    assert ablate.main(argv) == 0  # re-saved uncompressed (other sizes): scored with them
    run = out / "k1"
    scores_file = run / "metrics" / "DIS-TE1-4.json"
    # As pmgsam before the record wrote them (b9d6656): scored_with, no ground_truth; the
    # run.json entry without it too.
    older = json.loads(scores_file.read_text())
    del older["ground_truth"]
    scores_file.write_text(json.dumps(older, indent=2) + "\n")
    data = json.loads((run / "run.json").read_text())
    del data["dis"]["DIS-TE1-4"]["ground_truth"]
    (run / "run.json").write_text(json.dumps(data))
    shutil.copyfile(tmp_path / "redrawn.png", mask)  # same name and size, inverted pixels
    maps = _stamps(run)

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pmgsam.ablate"):
        assert ablate.main(argv) == 0
    assert "scoring again: its scores do not record the ground truth" in caplog.text
    assert _stamps(run) == maps  # the kept maps scored, none predicted
    now = json.loads(scores_file.read_text())
    # Scored against the inverted mask: the old MAE was of the mask before it.
    assert now["MAE"] != older["MAE"]
    expected = _masks_fingerprint(root)
    assert now["ground_truth"]["fingerprint"] == expected
    entry = json.loads((run / "run.json").read_text())["dis"]["DIS-TE1-4"]
    assert (entry["ground_truth"]["fingerprint"], entry["MAE"]) == (expected, now["MAE"])


def test_older_kept_scores_with_hce_are_kept_unrecorded_by_a_no_hce_call(
    scored,  # noqa: F811
    tmp_path,
    caplog,
) -> None:
    # Scoring them again with --no-hce would replace scores holding HCE by scores without it.
    out = _copy(scored, tmp_path)
    run = out / "k1"
    scores_file = run / "metrics" / "DIS-TE1-4.json"
    older = json.loads(scores_file.read_text())
    del older["ground_truth"]
    older["HCE"], older["scored_with"]["hce"] = 12.5, True  # as an older call with HCE wrote
    scores_file.write_text(json.dumps(older, indent=2) + "\n")
    stamp = scores_file.stat().st_mtime_ns
    args = ["--grid", scored["grid"], "--output-dir", out, "--only", "k1", "--device", "cpu"]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pmgsam.ablate"):
        assert ablate.main([str(a) for a in args] + ["--quiet", "--no-hce", "--evaluate"]
                           + scored["overrides"]) == 0  # fmt: skip
    assert "kept without that record" in caplog.text
    assert scores_file.stat().st_mtime_ns == stamp
    entry = _entry(run)
    assert entry["HCE"] == 12.5 and "ground_truth" not in entry

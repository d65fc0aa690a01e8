"""What a ``pmgsam.ablate`` variant folder records for the commands that read scored runs:
run.json names the best weights (path and SHA-256) as evaluate.py's does, and its map folders
record the weights that made them, so ``pmgsam.analysis premask`` predicts a variant's Pre-Mask
maps with its own weights and refuses others'; a variant folder of an older pmgsam.ablate is
refused with what to run. One variant of a tiny grid is trained and scored once for the module.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Dict, List

import pytest
from ablate_cases import write_grid
from small_branches import use_small_branches
from test_ablate import ONE_CPU_EPOCH, TINY

from pmgsam import ablate
from pmgsam.analysis.__main__ import main as analysis
from pmgsam.data.io import DataNotFoundError
from pmgsam.evaluation.run_json import check_same_model
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.utils.outputs import MANIFEST, read_manifest

BASE = Path(__file__).resolve().parents[1] / "configs" / "pmgsam_dis5k.yaml"
GRID = """
splits: DIS-TE
table:
  title: "Two variants"
  rows:
    - {config: k1, label: "(K1) One SRB"}
    - {config: full, label: "Full"}
"""
# A demo-sized model (test_ablate.py's) trained for one epoch on the CPU.
OVERRIDES = [*TINY, *ONE_CPU_EPOCH]
PARTS = ("DIS-TE1", "DIS-TE2", "DIS-TE3", "DIS-TE4")
BEST = Path("checkpoints", "best", "model.safetensors")


# The trained variant of :func:`scored` by data root, kept for the test process: the modules
# that import the fixture (test_ablate_ground_truth.py, ...) would each train and score the same
# k1 again otherwise.
_SCORED: Dict[str, Dict[str, object]] = {}


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory, dis5k_root: Path) -> Dict[str, object]:
    """The grid's k1 trained and scored (``--train --evaluate``) once per test process: the
    grid, output folder and overrides, and ``other``: a weights file of other bytes than k1's
    best (only hashed, never loaded); tests copy the output folder before changing it."""
    if str(dis5k_root) not in _SCORED:
        _SCORED[str(dis5k_root)] = _train_and_score(tmp_path_factory, dis5k_root)
    return _SCORED[str(dis5k_root)]


def _train_and_score(
    tmp_path_factory: pytest.TempPathFactory, dis5k_root: Path
) -> Dict[str, object]:
    base = tmp_path_factory.mktemp("ablate_record")
    grid = write_grid(
        base / "grid",
        GRID,
        {"k1": f"base: {BASE}\nmodel:\n  drfm_blocks: 1\n", "full": f"base: {BASE}\n"},
    )
    overrides = OVERRIDES + [f"data.root={dis5k_root}", f"data.split_dir={base / 'splits'}"]
    with pytest.MonkeyPatch.context() as mp:  # conftest's small_branches, for the module
        use_small_branches(mp)
        args = ["--grid", str(grid), "--output-dir", str(base / "out"), "--only", "k1"]
        args += ["--device", "cpu"]
        assert ablate.main(args + ["--quiet", "--no-hce", "--train", "--evaluate"] + overrides) == 0
    other = base / "other.safetensors"
    other.write_bytes((base / "out" / "k1" / "train" / BEST).read_bytes() + b" ")
    return {"grid": grid, "out": base / "out", "overrides": overrides, "other": other}


def _copy(scored: Dict[str, object], tmp_path: Path) -> Path:
    return Path(shutil.copytree(scored["out"], tmp_path / "out"))


def _premask(scored: Dict[str, object], run: Path, *options: str) -> List[str]:
    args = ["premask", "--run", str(run), "--config", str(scored["grid"] / "k1.yaml")]
    args += ["--split", "DIS-TE", "--quiet", "--device", "cpu", *options]
    return analysis(args + scored["overrides"])


def _stamps(run: Path) -> Dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in run.glob("pred/*/*.png")}


def test_a_variant_records_its_best_weights_as_evaluate_py_does(scored) -> None:
    run = scored["out"] / "k1"
    best = run / "train" / BEST
    sha256 = hashlib.sha256(best.read_bytes()).hexdigest()
    meta = json.loads((run / "run.json").read_text())["meta"]
    assert meta["checkpoint"] == str(best)
    assert meta["checkpoint_resolved"] == str(best.resolve())
    assert meta["weights_sha256"] == sha256
    assert meta["ablates"] == ["model.drfm_blocks"]  # what it had before, kept
    # Each map folder records the weights that made its maps, as evaluate.py's folders do.
    for part in PARTS:
        producer = read_manifest(run / "pred" / part)["producer"]
        assert producer["weights_sha256"] == sha256
    # evaluate.py may add scores of the variant's weights, given as its training run folder
    # or as the file, and of no other checkpoint.
    check_same_model(run, run / "train")
    check_same_model(run, best)
    with pytest.raises(EvaluationInputError, match="holds the results of checkpoint"):
        check_same_model(run, scored["other"])


def test_premask_predicts_a_variant_with_its_own_weights_only(
    scored, tmp_path, small_branches
) -> None:
    out = _copy(scored, tmp_path)
    run = out / "k1"
    sha256 = json.loads((run / "run.json").read_text())["meta"]["weights_sha256"]
    # No Pre-Mask maps yet: predicted with run.json's weights (it was refused: "score it
    # again first" with evaluate.py, which is not how a variant is scored).
    assert _premask(scored, run) == 0
    for part in PARTS:
        assert read_manifest(run / "premask" / part)["producer"]["weights_sha256"] == sha256
    assert (run / "analysis" / "premask_DIS-TE1-4" / "table5.md").is_file()
    maps = _stamps(run)
    with pytest.raises(EvaluationInputError, match="is not the weights --run"):
        _premask(scored, run, "--predict", "--checkpoint", str(scored["other"]))
    assert _stamps(run) == maps
    # Its maps all there now: read as its weights' (their manifests say so), not predicted.
    assert _premask(scored, run, "--checkpoint", str(run / "train")) == 0
    assert _stamps(run) == maps


def as_older_variant(run: Path) -> None:
    """Make ``run`` a variant as an older pmgsam.ablate left it: no weights in its run.json,
    no manifests by its maps."""
    record = json.loads((run / "run.json").read_text())
    for key in ("checkpoint", "checkpoint_resolved", "weights_sha256"):
        del record["meta"][key]
    (run / "run.json").write_text(json.dumps(record))
    for part in PARTS:
        (run / "pred" / part / MANIFEST).unlink()


def test_an_older_variant_is_refused_saying_to_run_ablate_again(
    scored, tmp_path, small_branches
) -> None:
    out = _copy(scored, tmp_path)
    run = out / "k1"
    as_older_variant(run)
    again = r"run python -m pmgsam\.ablate --grid GRID --output-dir .* --evaluate again"
    with pytest.raises(DataNotFoundError, match=f"older than its record.*{again}"):
        _premask(scored, run)
    maps = _stamps(run)
    for weights in (run / "train", scored["other"]):  # its own are not known to be them
        with pytest.raises(EvaluationInputError, match=again):
            _premask(scored, run, "--predict", "--checkpoint", str(weights))
    assert _stamps(run) == maps and not (run / "premask").exists()
    # What the message says: the scores stand, so nothing is scored again; run.json is filled.
    scores = (run / "metrics" / "DIS-TE1-4.json").stat().st_mtime_ns
    args = ["--grid", scored["grid"], "--output-dir", out, "--only", "k1", "--device", "cpu"]
    assert ablate.main([str(a) for a in args] + ["--quiet", "--no-hce", "--evaluate"]
                       + scored["overrides"]) == 0  # fmt: skip
    assert (run / "metrics" / "DIS-TE1-4.json").stat().st_mtime_ns == scores
    assert json.loads((run / "run.json").read_text())["meta"]["weights_sha256"]
    # Its maps, still without manifests, are replaced by its own weights' (not refused as
    # files pmgsam did not write).
    assert _premask(scored, run) == 0
    assert read_manifest(run / "pred" / "DIS-TE1")["producer"] is not None


def test_report_names_the_variant_folders_of_an_ablation_folder(scored, capsys) -> None:
    from pmgsam.report import main as report

    out = scored["out"]
    with pytest.raises(DataNotFoundError, match=r"holds 1 run folder\(s\) \(k1\): give those"):
        report([str(out), "--out", str(out / "tables")])
    with pytest.raises(DataNotFoundError, match=f"training run of '{out / 'k1'}'"):
        report([str(out / "k1" / "train"), "--out", str(out / "tables")])
    assert not (out / "tables").exists()


def test_scores_without_settings_name_evaluate_py_as_a_cause() -> None:
    from pmgsam.ablation.settings import rescore_reason

    why, predict = rescore_reason(None, {})
    assert "or by evaluate.py" in why and predict

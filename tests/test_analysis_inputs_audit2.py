"""The weights checks of pmgsam.analysis.inputs, called directly (weights files are any bytes:
only their SHA-256 is compared): an older ablation variant without its maps, an empty metrics/
folder, an older run.json read through its resolved checkpoint path or naming a folder without
weights, and a map manifest that does not say its folder is unmixed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pmgsam.analysis.inputs import check_maps_made_by, check_predicts_scored_model, score_again
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.utils.outputs import MANIFEST_FORMAT, write_manifest


def _weights(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("ablates", [["model.drfm_blocks"], []])  # [] : the grid's full model
def test_an_older_variant_without_maps_is_refused_other_weights(tmp_path, ablates) -> None:
    # Its run.json and metrics describe the variant's weights, which it does not record: with
    # its maps deleted, --checkpoint must still not put another model's maps beside them.
    run = tmp_path / "ablation" / "k1"
    (run / "metrics").mkdir(parents=True)
    other = _weights(tmp_path / "other.safetensors", b"other")
    meta = {"config": "k1.yaml", "ablates": ablates}
    with pytest.raises(EvaluationInputError, match=r"a variant scored by a pmgsam.ablate older"):
        check_predicts_scored_model(run, meta, str(other), given=True, has_maps=False)


def test_what_to_run_again_names_the_grid_folder_or_the_checkpoint(tmp_path) -> None:
    run = tmp_path / "ablation" / "k1"
    variant = score_again(run, {"ablates": []}, "ignored")
    assert f"--output-dir {run.parent} --evaluate again" in variant
    assert f"records its weights in '{run / 'run.json'}'" in variant
    scored = score_again(run, {}, "runs/x/model.safetensors")
    assert f"--checkpoint runs/x/model.safetensors --output-dir {run})" in scored


def test_an_empty_metrics_folder_is_no_score(tmp_path) -> None:
    # A folder premask predicted into, with an empty metrics/ (made, never written): nothing
    # scored there, so any weights may predict into it.
    run = tmp_path / "run"
    (run / "metrics").mkdir(parents=True)
    weights = _weights(tmp_path / "w.safetensors", b"w")
    check_predicts_scored_model(run, {}, str(weights), given=True, has_maps=True)
    (run / "metrics" / "DIS-TE1.json").write_text("{}")
    with pytest.raises(EvaluationInputError, match=r"holds scored maps \(see its metrics/\)"):
        check_predicts_scored_model(run, {}, str(weights), given=True, has_maps=True)


def test_an_older_run_json_is_compared_through_its_resolved_checkpoint(
    tmp_path, monkeypatch
) -> None:
    # evaluate.py run from tmp_path recorded "w.safetensors" and its resolved path (no SHA-256):
    # read from elsewhere, the relative path names nothing, the resolved one the same file.
    weights = _weights(tmp_path / "w.safetensors", b"weights")
    meta = {"checkpoint": "w.safetensors", "checkpoint_resolved": str(weights)}
    monkeypatch.chdir(tmp_path / "..")
    check_predicts_scored_model(tmp_path / "run", meta, str(weights), given=True)
    other = _weights(tmp_path / "other.safetensors", b"other")
    sha, given = (hashlib.sha256(b).hexdigest()[:12] for b in (b"weights", b"other"))
    with pytest.raises(EvaluationInputError) as err:
        check_predicts_scored_model(tmp_path / "run", meta, str(other), given=True)
    assert f"other.safetensors' (SHA-256 {given}) is not the weights" in str(err.value)
    assert f"compared as that file is now), SHA-256 {sha}" in str(err.value)


def test_a_recorded_checkpoint_folder_without_weights_is_named(tmp_path) -> None:
    (tmp_path / "gone").mkdir()  # a training run whose checkpoints were deleted
    meta = {"checkpoint": str(tmp_path / "gone")}
    weights = _weights(tmp_path / "w.safetensors", b"w")
    with pytest.raises(EvaluationInputError, match=r"that file cannot be read now \(no PMG-SAM"):
        check_predicts_scored_model(tmp_path / "run", meta, str(weights), given=True)


def _maps(folder: Path, sha: str, **record) -> Path:
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(b"")
    producer = {"weights_sha256": sha}
    record.update(format=MANIFEST_FORMAT, producer=producer, files=["a.png"])
    write_manifest(folder, record)
    return folder


def test_a_manifest_that_does_not_say_unmixed_is_not_taken_as_one_models(tmp_path) -> None:
    weights = _weights(tmp_path / "w.safetensors", b"w")
    sha = hashlib.sha256(b"w").hexdigest()
    check_maps_made_by(str(weights), {_maps(tmp_path / "clean", sha, mixed=False): ["a"]})
    # No "mixed" key (a manifest from before it, or hand-written): it may be mixed.
    unsaid = _maps(tmp_path / "unsaid", sha)
    with pytest.raises(EvaluationInputError, match=r"unsaid' may also hold maps of another"):
        check_maps_made_by(str(weights), {unsaid: ["a"]})


def test_a_map_replaced_since_pmgsam_wrote_it_is_not_vouched_for(tmp_path) -> None:
    import os

    from pmgsam.utils.outputs import settle_output_dir

    weights = _weights(tmp_path / "w.safetensors", b"w")
    sha = hashlib.sha256(b"w").hexdigest()
    folder = _maps(tmp_path / "pred", sha, mixed=False)
    settle_output_dir(folder, ["a.png"])  # the run that wrote a.png records it
    check_maps_made_by(str(weights), {folder: ["a"]})
    (folder / "a.png").write_bytes(b"x")  # replaced by hand: another size and time
    os.utime(folder / "a.png", ns=(1, 1))
    with pytest.raises(EvaluationInputError, match=r"1 map\(s\) changed since pmgsam wrote them"):
        check_maps_made_by(str(weights), {folder: ["a"]})


def test_a_map_copied_without_its_time_is_named_as_such(tmp_path) -> None:
    # `cp -r` or `scp -r` of a run folder an older pmgsam recorded (no SHA-256 of its maps, so
    # the bytes cannot vouch for them): the same bytes, another modification time. The refusal
    # must say so, not only that the map was replaced by hand.
    import os

    from pmgsam.utils.outputs import DIGESTS, read_manifest, settle_output_dir, write_manifest

    weights = _weights(tmp_path / "w.safetensors", b"w")
    folder = _maps(tmp_path / "pred", hashlib.sha256(b"w").hexdigest(), mixed=False)
    settle_output_dir(folder, ["a.png"])
    record = read_manifest(folder)
    del record[DIGESTS]
    write_manifest(folder, record)
    os.utime(folder / "a.png", ns=(1, 1))
    with pytest.raises(EvaluationInputError, match=r"copied without keeping modification times"):
        check_maps_made_by(str(weights), {folder: ["a"]})

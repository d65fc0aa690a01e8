"""``premask`` predicts a scored run's missing maps with the weights its run.json records at
the path resolved when it was scored, not the path as given then (maybe relative to the folder
evaluate.py ran in): run from another folder, that one names no file, or another file of that
name (CPU; hand-made runs with prediction stubbed; helpers from test_analysis)."""

from __future__ import annotations

import json

import pytest
from premask_cases import fake_predict_split
from test_analysis import DEMO, _fake_run

from pmgsam.analysis.__main__ import main
from pmgsam.modeling.checkpoint import weights_digest
from pmgsam.utils.cli import exit_status

SPLIT = "DIS-TE1"


@pytest.fixture
def predicted(monkeypatch, dis5k_root) -> list:
    """The checkpoints predict_split was called with; it writes the GT masks as both maps."""
    return fake_predict_split(monkeypatch, dis5k_root)


def _run_scored_from(tmp_path, dis5k_root, monkeypatch, *, resolved=True, digest=True):
    """A run scored from ``tmp_path/scored_from`` with ``--checkpoint w.safetensors`` (its maps
    deleted since), and the working directory moved to ``tmp_path/elsewhere``."""
    scored_from, elsewhere = tmp_path / "scored_from", tmp_path / "elsewhere"
    scored_from.mkdir()
    elsewhere.mkdir()
    weights = scored_from / "w.safetensors"
    weights.write_bytes(b"the weights the run was scored with")
    run = _fake_run(tmp_path, dis5k_root, SPLIT, "Ours", set())
    for kind in ("pred", "premask"):
        for png in (run / kind / SPLIT).glob("*.png"):
            png.unlink()
    meta = {"checkpoint": "w.safetensors"}
    if resolved:
        meta["checkpoint_resolved"] = str(weights.resolve())
    if digest:
        meta["weights_sha256"] = weights_digest(weights)
    (run / "run.json").write_text(json.dumps({"method": "Ours", "meta": meta}))
    (run / "metrics").mkdir()
    (run / "metrics" / f"{SPLIT}.json").write_text('{"maxF": 0.5}')
    monkeypatch.chdir(elsewhere)
    return run, weights, elsewhere


def _premask(tmp_path, dis5k_root, run):
    data = [f"data.root={dis5k_root}", f"data.split_dir={tmp_path / 'splits'}"]
    argv = ["premask", "--run", str(run), "--config", str(DEMO), "--split", SPLIT, "--quiet"]
    return exit_status(main, [*argv, *data])


@pytest.mark.parametrize(
    "namesake, digest",
    [(False, True), (True, True), (True, False)],
    ids=["no file of that name here", "another file of that name here", "same, no SHA-256"],
)
def test_missing_maps_are_predicted_with_the_resolved_weights_from_another_folder(
    tmp_path, dis5k_root, monkeypatch, capsys, predicted, namesake, digest
) -> None:
    run, weights, elsewhere = _run_scored_from(tmp_path, dis5k_root, monkeypatch, digest=digest)
    if namesake:  # read as given, it would be this file: another model's weights
        (elsewhere / "w.safetensors").write_bytes(b"some other model")
    assert _premask(tmp_path, dis5k_root, run) == 0, capsys.readouterr().err
    assert predicted == [str(weights.resolve())]
    assert (run / "analysis" / f"premask_{SPLIT}" / "summary.json").is_file()


def test_recorded_weights_gone_names_the_path_looked_for(
    tmp_path, dis5k_root, monkeypatch, capsys, predicted
) -> None:
    run, weights, elsewhere = _run_scored_from(tmp_path, dis5k_root, monkeypatch)
    weights.unlink()
    (elsewhere / "w.safetensors").write_bytes(b"some other model")  # must not be taken
    assert _premask(tmp_path, dis5k_root, run) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"its run.json's checkpoint 'w.safetensors' is not at '{weights.resolve()}'" in err
    assert "where it was when the run was scored" in err and "give --checkpoint" in err
    assert predicted == [] and not (run / "analysis").exists()


def test_older_run_json_without_a_resolved_path_says_it_looked_from_here(
    tmp_path, dis5k_root, monkeypatch, capsys, predicted
) -> None:
    run, _, elsewhere = _run_scored_from(
        tmp_path, dis5k_root, monkeypatch, resolved=False, digest=False
    )
    assert _premask(tmp_path, dis5k_root, run) == 2
    err = capsys.readouterr().err
    assert f"is not at '{elsewhere / 'w.safetensors'}'" in err
    assert "looked for from the current folder" in err and "score it again first" in err
    assert predicted == []

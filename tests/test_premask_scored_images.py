"""``premask`` analyses the images a scored run's per-image scores are of: a ``--config`` (or
``data.root``) whose split holds other images is refused before any map is read or predicted,
since Table 5 would be of other images than the run's scores and predicted maps would join the
scored ones (CPU; hand-made runs with prediction stubbed, helpers from test_analysis)."""

from __future__ import annotations

import json

import pytest
from premask_cases import fake_predict_split
from test_analysis import DEMO, _fake_run

from pmgsam.analysis.__main__ import main
from pmgsam.modeling.checkpoint import weights_digest
from pmgsam.utils.cli import exit_status

SPLIT = "DIS-TE1"
HEADER = "name,maxFm,MAE\n"


def _premask(tmp_path, dis5k_root, run, split=SPLIT):
    data = [f"data.root={dis5k_root}", f"data.split_dir={tmp_path / 'splits'}"]
    argv = ["premask", "--run", str(run), "--config", str(DEMO), "--split", split, "--quiet"]
    return exit_status(main, [*argv, *data])


def _stems(dis5k_root):
    return sorted(p.stem for p in (dis5k_root / SPLIT / "gt").glob("*.png"))


@pytest.fixture
def predicted(monkeypatch, dis5k_root) -> list:
    return fake_predict_split(monkeypatch, dis5k_root)


def test_maps_of_other_images_are_not_predicted_into_a_scored_run(
    tmp_path, dis5k_root, capsys, predicted
) -> None:
    # Scored on another dataset's DIS-TE1 (its maps deleted since): predicting the config's
    # images would put their maps beside the scored ones, under a run.json that is not theirs.
    run = _fake_run(tmp_path, dis5k_root, SPLIT, "Ours", set())
    for kind in ("pred", "premask"):
        for png in (run / kind / SPLIT).glob("*.png"):
            png.unlink()
    weights = tmp_path / "best.safetensors"
    weights.write_bytes(b"the scored weights")
    meta = {"checkpoint": str(weights), "checkpoint_resolved": str(weights)}
    meta["weights_sha256"] = weights_digest(weights)
    (run / "run.json").write_text(json.dumps({"method": "Ours", "meta": meta}))
    (run / "metrics").mkdir()
    csv_path = run / "metrics" / f"{SPLIT}.per_image.csv"
    csv_path.write_text(HEADER + "elsewhere_1,0.5,0.1\nelsewhere_2,0.5,0.1\n")
    assert _premask(tmp_path, dis5k_root, run) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    stems = _stems(dis5k_root)
    assert f"{len(stems)} the run did not score ({stems[0]}" in err
    assert "not 2 it scored (elsewhere_1, elsewhere_2)" in err and f"'{csv_path}'" in err
    assert predicted == [] and not any((run / "pred" / SPLIT).iterdir())
    assert not (run / "analysis").exists()


def test_ready_maps_of_fewer_images_than_scored_are_refused(
    tmp_path, dis5k_root, capsys, predicted
) -> None:
    # Every map of the config's split is there, but the run (scored as DIS-TE, one file for
    # the four parts) scored one image more: Table 5 would cover fewer images than Table 1.
    stems = _stems(dis5k_root)
    run = _fake_run(tmp_path, dis5k_root, SPLIT, "Ours", set(stems))
    (run / "metrics").mkdir()
    combined = run / "metrics" / "DIS-TE1-4.per_image.csv"
    rows = "".join(f"{SPLIT}/{s},0.5,0.1\n" for s in stems) + "DIS-TE2/x,0.5,0.1\n"
    combined.write_text(HEADER + rows + f"{SPLIT}/gone_since,0.5,0.1\n")
    assert _premask(tmp_path, dis5k_root, run) == 2
    err = capsys.readouterr().err
    assert "not 1 it scored (gone_since)" in err and "did not score" not in err
    assert f"'{combined}'" in err and not (run / "analysis").exists()
    # The same images as scored (another part's rows left aside): analysed as before.
    combined.write_text(HEADER + rows)
    assert _premask(tmp_path, dis5k_root, run) == 0
    assert (run / "analysis" / f"premask_{SPLIT}" / "summary.json").is_file()
    assert predicted == []

"""The Pre-Mask analysis and figures refuse what would mislead or lose data: baseline runs,
maps scored with other weights, prior names that would replace a row, maps turned by 90°
(CPU, hand-made data; helpers from test_analysis)."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest
from map_cases import same_map
from test_analysis import DEMO, _fake_run, _write_maps

from pmgsam.analysis.__main__ import main
from pmgsam.analysis.clipseg import ClipSegUnavailable, clipseg_maps
from pmgsam.analysis.premask import FINAL, PREMASK, analyse, parse_prior
from pmgsam.data.io import DataNotFoundError
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.utils.outputs import OutputError


def test_clipseg_without_transformers_is_a_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ClipSegUnavailable, match="needs the 'transformers' package"):
        # One image without its map: with none to predict, no model is loaded.
        clipseg_maps(tmp_path, "an object", [tmp_path / "a.jpg"], ["a"], tmp_path / "out")


def test_premask_checks_ready_priors_before_predicting(tmp_path, dis5k_root, monkeypatch) -> None:
    # The maps are missing, so the run would be predicted first; a prior folder lacking maps
    # used to be found only after that whole pass.
    import pmgsam.engine.inference as inference

    def predict_split(*args, **kwargs):
        raise AssertionError("predicted before the priors were checked")

    monkeypatch.setattr(inference, "predict_split", predict_split)
    run, prior = tmp_path / "run", tmp_path / "prior"
    prior.mkdir()
    args = ["premask", "--run", str(run), "--checkpoint", str(tmp_path / "c.safetensors"),
            "--prior-dir", f"Mine={prior}", "--config", str(DEMO), "--split", "DIS-TE1",
            f"data.root={dis5k_root}", f"data.split_dir={tmp_path / 'splits'}"]  # fmt: skip
    with pytest.raises(EvaluationInputError, match=r"prior 'Mine' .* lacks"):
        main(args)


@pytest.mark.parametrize("checkpoint", [[], ["--checkpoint", "pmgsam.safetensors"]])
def test_premask_refuses_a_baseline_run(tmp_path, capsys, checkpoint) -> None:
    # A SAM run has no Pre-Mask maps, and its recorded checkpoint is SAM's, not a PMG-SAM one.
    from pmgsam.utils.cli import exit_status

    run = tmp_path / "sam_vit_b"
    (run / "pred" / "DIS-TE1").mkdir(parents=True)
    meta = {"baseline": "sam-box", "checkpoint": str(tmp_path / "sam_vit_b.pth")}
    (run / "run.json").write_text(json.dumps({"method": "SAM ViT-B GT box", "meta": meta}))
    argv = ["premask", "--run", run, *checkpoint, "--config", DEMO, "--split", "DIS-TE1"]
    assert exit_status(main, argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"'{run}' is a run of the sam-box baseline ('SAM ViT-B GT box')" in err
    assert "has no Pre-Mask" in err
    assert sorted(p.name for p in run.iterdir()) == ["pred", "run.json"]


def test_premask_never_replaces_scored_maps_with_another_models(
    tmp_path, dis5k_root, monkeypatch
) -> None:
    # A run scored with weights that have since changed (training went on): predicting its
    # missing Pre-Mask maps would also rewrite its final maps, which its metrics describe.
    import pmgsam.engine.inference as inference
    from pmgsam.analysis.inputs import check_predicts_scored_model
    from pmgsam.modeling.checkpoint import weights_digest

    def predict_split(*args, **kwargs):
        raise AssertionError("predicted into a scored run")

    monkeypatch.setattr(inference, "predict_split", predict_split)
    weights = tmp_path / "best.safetensors"
    weights.write_bytes(b"epoch 2 weights")
    run = _fake_run(tmp_path, dis5k_root, "DIS-TE1", "Ours", set())
    shutil.rmtree(run / "premask")
    meta = {"checkpoint": str(weights), "weights_sha256": weights_digest(weights)}
    (run / "run.json").write_text(json.dumps({"method": "Ours", "meta": meta}))
    check_predicts_scored_model(run, meta, str(weights))  # the same weights: allowed
    before = {p.name: p.read_bytes() for p in (run / "pred" / "DIS-TE1").iterdir()}

    weights.write_bytes(b"epoch 3 weights")
    args = ["premask", "--run", str(run), "--config", str(DEMO), "--split", "DIS-TE1",
            f"data.root={dis5k_root}", f"data.split_dir={tmp_path / 'splits'}"]  # fmt: skip
    with pytest.raises(EvaluationInputError, match=r"now holds other weights .* score it again"):
        main(args)
    del meta["weights_sha256"]  # run.json of an older pmgsam: which weights is unknown
    (run / "run.json").write_text(json.dumps({"method": "Ours", "meta": meta}))
    with pytest.raises(EvaluationInputError, match="does not record which weights"):
        main(args)
    assert {p.name: p.read_bytes() for p in (run / "pred" / "DIS-TE1").iterdir()} == before


def test_figures_of_chosen_images_need_only_their_maps(tmp_path, dis5k_root) -> None:
    # A baseline scored with --limit has maps of the first images only.
    stems = sorted(p.stem for p in (dis5k_root / "DIS-TE1" / "gt").glob("*.png"))
    run = _fake_run(tmp_path, dis5k_root, "DIS-TE1", "Ours", set(stems))
    limited = _fake_run(tmp_path, dis5k_root, "DIS-TE1", "Limited", set(stems))
    (limited / "pred" / "DIS-TE1" / f"{stems[1]}.png").unlink()
    args = ["figures", "--runs", str(run), str(limited), "--config", str(DEMO),
            "--split", "DIS-TE1", "--out", str(tmp_path / "figs"), f"data.root={dis5k_root}",
            f"data.split_dir={tmp_path / 'splits'}"]  # fmt: skip
    assert main([*args, "--images", stems[0]]) == 0
    assert (tmp_path / "figs" / "qualitative_DIS-TE1.png").is_file()
    with pytest.raises(EvaluationInputError, match=rf"1 prediction map\(s\) missing: .*{stems[1]}"):
        main([*args, "--images", f"{stems[0]},{stems[1]}"])
    # The likely cause, and the way out, are named (the images spread over the whole split).
    with pytest.raises(EvaluationInputError, match="run predicted with --limit .* with --images"):
        main(args)


def test_analyse_names_images_with_an_empty_gt(tmp_path, caplog) -> None:
    # An empty GT scores IoU 0 for any foreground: such images are named, not hidden in means.
    gt = np.zeros((4, 8), np.uint8)
    gt[:, :4] = 255
    faint = np.zeros((4, 8), np.uint8)
    faint[:, :2], faint[:, 2:4] = 128, 60  # all background: foreground is > 128
    gts = _write_maps(tmp_path / "gt", {"a": gt, "empty": faint})
    maps = _write_maps(tmp_path / "m", {"a": gt, "empty": gt})
    with caplog.at_level("WARNING", logger="pmgsam"):
        summary = analyse(["a", "empty"], gts, {PREMASK: maps, FINAL: maps}, tmp_path / "out",
                          figure_size=(1, 1))  # fmt: skip
    assert summary["empty_gt_images"] == ["empty"]
    assert summary["means"][FINAL]["IoU"] == pytest.approx(0.5)
    assert any("1 image(s) have an empty GT mask (empty)" in r.getMessage() for r in caplog.records)


def test_analyse_refuses_a_source_with_a_map_count_other_than_the_gts(tmp_path) -> None:
    # Scores are split back by position: one map short would shift every later image's row.
    gts = _write_maps(
        tmp_path / "gt", {"a": np.zeros((4, 8), np.uint8), "b": np.zeros((4, 8), np.uint8)}
    )
    maps = _write_maps(tmp_path / "m", {"a": np.zeros((4, 8), np.uint8)})
    with pytest.raises(ValueError, match=rf"^2 GT masks, but map counts \{{'{PREMASK}': 1\}}$"):
        analyse(["a", "b"], gts, {PREMASK: maps, FINAL: maps + maps}, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_prior_dir_that_is_not_a_folder_is_named(tmp_path) -> None:
    (tmp_path / "maps").mkdir()
    assert parse_prior(f"clip={tmp_path / 'maps'}") == ("clip", tmp_path / "maps")
    assert parse_prior(str(tmp_path / "maps")) == ("maps", tmp_path / "maps")
    with pytest.raises(DataNotFoundError, match=rf"^--prior-dir: '{tmp_path / 'mpas'}' is not a"):
        parse_prior(f"clip={tmp_path / 'mpas'}")


def test_premask_writes_nothing_into_the_runs_map_root(tmp_path, dis5k_root) -> None:
    run = _fake_run(tmp_path, dis5k_root, "DIS-TE1", "Ours", set())
    args = ["premask", "--run", str(run), "--config", str(DEMO), "--split", "DIS-TE1",
            "--out", str(run / "pred"), f"data.root={dis5k_root}",
            f"data.split_dir={tmp_path / 'splits'}"]  # fmt: skip
    with pytest.raises(OutputError, match="lies inside the input folder|is the input folder"):
        main(args)
    assert sorted(p.name for p in (run / "pred").iterdir()) == ["DIS-TE1"]


@pytest.mark.parametrize("names", [["Pre-Mask"], ["Final mask"], ["maps", "maps"]])
def test_premask_refuses_prior_names_that_would_replace_a_row(tmp_path, dis5k_root, names):
    run = _fake_run(tmp_path, dis5k_root, "DIS-TE1", "Ours", set())
    priors = []
    for i, name in enumerate(names):
        folder = tmp_path / f"p{i}" / "maps"
        shutil.copytree(run / "pred" / "DIS-TE1", folder)
        priors += ["--prior-dir", str(folder) if name == "maps" else f"{name}={folder}"]
    args = ["premask", "--run", str(run), "--config", str(DEMO), "--split", "DIS-TE1", *priors,
            f"data.root={dis5k_root}", f"data.split_dir={tmp_path / 'splits'}"]  # fmt: skip
    with pytest.raises(EvaluationInputError, match="give each prior its own name"):
        main(args)
    assert not (run / "analysis").exists()


def test_a_map_turned_by_90_degrees_is_refused_not_stretched(tmp_path) -> None:
    from pmgsam.analysis.premask import score_map
    from pmgsam.evaluation.scoring import map_at_gt_size

    gt = _write_maps(tmp_path / "gt", {"a": np.zeros((4, 8), np.uint8)})[0]
    turned = _write_maps(tmp_path / "m", {"a": np.zeros((8, 4), np.uint8)})[0]
    smaller = _write_maps(tmp_path / "s", {"a": np.zeros((2, 4), np.uint8)})[0]
    with pytest.raises(EvaluationInputError, match=r"turned by 90°") as refused:
        score_map(turned, gt)
    # premask has no --resize-pred (it always resizes): the error must not point to one.
    assert "--resize-pred" not in str(refused.value)
    assert "resizing them to the GT's size would stretch them over it" in str(refused.value)
    assert score_map(smaller, gt)["MAE"] == 0.0  # another resolution (a prior's): resized
    # evaluate.py and the other analyses have the option, and are told it does not help.
    with pytest.raises(EvaluationInputError, match=r"--resize-pred would stretch them over"):
        map_at_gt_size(np.zeros((8, 4), np.uint8), np.zeros((4, 8), np.uint8), "m", "g", True)


def test_premask_names_a_missing_or_training_run_folder(tmp_path, dis5k_root) -> None:
    # Without maps or a checkpoint, a mistyped folder or train.py's folder used to read as a
    # scored run lacking maps.
    data = [f"data.root={dis5k_root}", f"data.split_dir={tmp_path / 'splits'}"]
    args = ["--config", str(DEMO), "--split", "DIS-TE1", *data]
    with pytest.raises(DataNotFoundError, match=r"--run '.*typo' does not exist: give the fol"):
        main(["premask", "--run", str(tmp_path / "typo"), *args])
    assert not (tmp_path / "typo").exists()
    train_run = tmp_path / "runs" / "dis5k"
    (train_run / "checkpoints" / "best").mkdir(parents=True)
    with pytest.raises(DataNotFoundError, match=r"is a training run folder .* not a scored one"):
        main(["premask", "--run", str(train_run), *args])
    assert sorted(p.name for p in train_run.iterdir()) == ["checkpoints"]


def test_premask_with_a_checkpoint_predicts_the_maps_predict_split_writes(
    tmp_path, dis5k_root, small_branches, small_model_file
) -> None:
    # A new --run folder and --checkpoint: the final and Pre-Mask maps of the split are
    # predicted there (one model load), then analysed; they are the maps predict_split writes.
    from pmgsam.engine.inference import predict_split

    weights, _ = small_model_file
    data = [
        f"data.root={dis5k_root}",
        f"data.split_dir={tmp_path / 'splits'}",
        "model.image_size=64",
    ]
    run = tmp_path / "run"
    args = ["premask", "--run", str(run), "--checkpoint", str(weights), "--config", str(DEMO),
            "--split", "DIS-TE1", "--device", "cpu", "--quiet", *data]  # fmt: skip
    assert main(args) == 0
    ref = tmp_path / "ref"
    predict_split(DEMO, weights, "DIS-TE1", ref / "pred", "cpu", 4, data,
                  premask_dir=ref / "pre", progress=False)  # fmt: skip
    stems = sorted(p.name for p in (dis5k_root / "DIS-TE1" / "gt").glob("*.png"))
    for got, want in (
        (run / "pred" / "DIS-TE1", ref / "pred"),
        (run / "premask" / "DIS-TE1", ref / "pre"),
    ):
        assert sorted(p.name for p in got.glob("*.png")) == stems
        assert all(same_map((got / n).read_bytes(), (want / n).read_bytes()) for n in stems)
    summary = json.loads((run / "analysis" / "premask_DIS-TE1" / "summary.json").read_text())
    assert summary["num_images"] == len(stems)

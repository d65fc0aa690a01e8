"""The efficiency report's hand-off to an evaluated run (``--run-dir``) and its model label.

The figures join the run's table row, so they must be of the model the run was evaluated with,
and adding them must leave the row's name as the evaluation set it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from pmgsam.efficiency import cli, count_parameters
from pmgsam.efficiency import report as report_mod
from pmgsam.engine.config import ExperimentConfig
from pmgsam.evaluation.run_json import checkpoint_meta, write_run_json
from pmgsam.modeling.build import build_model, model_config
from pmgsam.utils.cli import exit_status
from pmgsam.utils.config import load_config, to_dict

# small_branches (conftest): what a record and run.json say of the model (its name, size,
# parameters and FLOPs as counted) does not depend on the frozen branches' size; Hiera-T's
# builds and FLOP counts took most of this file's time.
pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")
DEMO = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
TINY_64 = ["--model", "pmgsam_tiny", "--size", "64", "--device", "cpu"]


def evaluated_run(folder: Path, checkpoint_config, method: str = "PMG-SAM (ours)") -> Path:
    """A run folder as evaluate.py leaves it: a named row, DIS scores, the checkpoint in meta.
    The checkpoint holds only the header the check reads (the config), not real weights."""
    ckpt = folder.parent / f"{folder.name}.safetensors"
    meta = {"format": "pmgsam", "format_version": "1"}
    save_file({"w": torch.zeros(1)}, str(ckpt), {**meta, "config": json.dumps(checkpoint_config)})
    write_run_json(folder, method, dis={"DIS-VD": {"MAE": 0.25}}, meta=checkpoint_meta(ckpt))
    return folder


def tiny(size: int) -> dict:
    return to_dict(model_config("pmgsam_tiny", image_size=size))


def fixed_speed(*args, **kwargs) -> dict:
    return {"latency_ms_median": 50.0, "images_per_s": 20.0, "first_call_ms": 60.0,
            "peak_memory_mb": None, "peak_reserved_mb": None}  # fmt: skip


def test_efficiency_keeps_the_row_name_of_the_evaluated_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(report_mod, "measure_speed", fixed_speed)  # timing: another test's
    run = evaluated_run(tmp_path / "tiny-run", tiny(64))
    out = tmp_path / "eff.json"
    cli.main([*TINY_64, "--json", str(out), "--run-dir", str(run)])
    text = capsys.readouterr().out
    assert "trainable" in text and f"efficiency added to {run / 'run.json'}" in text
    [record] = json.loads(out.read_text())
    assert (record["mode"], record["model"], record["image_size"]) == (
        "inference",
        "pmgsam_tiny",
        64,
    )
    data = json.loads((run / "run.json").read_text())
    # Only the efficiency section is added: name, scores and meta stay as evaluate.py wrote them.
    assert data["method"] == "PMG-SAM (ours)"
    assert data["dis"] == {"DIS-VD": {"MAE": 0.25}}
    assert data["meta"]["checkpoint"] == str(tmp_path / "tiny-run.safetensors")
    p = count_parameters(build_model("pmgsam_tiny", image_size=64))
    assert abs(data["efficiency"]["params_total_M"] - p["total"] / 1e6) < 1e-9
    assert abs(data["efficiency"]["flops_G"] - record["flops_per_image"] / 1e9) < 1e-9
    assert data["efficiency"]["fps"] == 20.0  # fixed_speed's images/s


def refused(argv, capsys, monkeypatch, *expect: str) -> str:
    """Exit 2 with one error line holding ``expect``, before any model is timed."""

    def timed(*args, **kwargs):
        raise AssertionError("the model was measured before the run folder was checked")

    monkeypatch.setattr(report_mod, "efficiency_report", timed)
    assert exit_status(cli.main, argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for text in expect:
        assert text in err, err
    return err


def test_run_dir_of_another_model_is_refused(tmp_path, capsys, monkeypatch):
    run = evaluated_run(tmp_path / "tiny-run", tiny(64))
    before = (run / "run.json").read_bytes()
    # Hiera-T's model has the full U2NET and a 256-wide FPN; pmgsam_tiny has U2NETP and 64.
    argv = ["--model", "pmgsam_hiera_t", "--size", "64", "--device", "cpu", "--run-dir", run]
    refused(argv, capsys, monkeypatch, f"--run-dir '{run}'", "tiny-run.safetensors",
            "u2net: 'u2netp' != 'u2net'", "fpn_dim: 64 != 256")  # fmt: skip
    # The same architecture at another input size is another row too.
    argv = [*TINY_64[:2], "--size", "128", "--device", "cpu", "--run-dir", run]
    err = refused(argv, capsys, monkeypatch, "image_size: 64 != 128")
    assert "u2net" not in err
    assert (run / "run.json").read_bytes() == before


def test_run_dir_that_is_no_evaluated_run_is_refused(tmp_path, capsys, monkeypatch):
    typo = tmp_path / "reslts" / "pmgsam"
    refused([*TINY_64, "--run-dir", typo], capsys, monkeypatch, f"'{typo}' does not exist")
    assert not (tmp_path / "reslts").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    refused([*TINY_64, "--run-dir", empty], capsys, monkeypatch, "holds no run.json")
    assert list(empty.iterdir()) == []
    # A baseline's run has no PMG-SAM model; its own command measured its efficiency.
    base = tmp_path / "sam"
    meta = {"baseline": "sam-box", **checkpoint_meta(tmp_path / "sam_vit_b.pth")}
    write_run_json(base, "SAM ViT-B GT box", dis={"DIS-VD": {"MAE": 0.3}}, meta=meta)
    refused([*TINY_64, "--run-dir", base], capsys, monkeypatch, "sam-box baseline")
    # The checkpoint a run records is gone: which model it was cannot be told.
    gone = evaluated_run(tmp_path / "gone", tiny(64))
    (tmp_path / "gone.safetensors").unlink()
    refused([*TINY_64, "--run-dir", gone], capsys, monkeypatch, "cannot tell which model")
    # An ablation run records its config file (demo.yaml: S=128), not a checkpoint.
    ablation = tmp_path / "ablation"
    write_run_json(ablation, "w/o DRFM", dis={"DIS-VD": {"MAE": 0.3}}, meta={"config": str(DEMO)})
    refused([*TINY_64, "--run-dir", ablation], capsys, monkeypatch, "image_size: 128 != 64")


def test_config_is_labelled_by_its_model_and_method_renames_the_row(tmp_path, capsys, monkeypatch):
    # The timing itself is another test's subject: fixed figures keep this one fast.
    monkeypatch.setattr(report_mod, "measure_speed", fixed_speed)
    run = evaluated_run(tmp_path / "run", tiny(64))
    out = tmp_path / "eff.json"
    argv = ["--config", str(DEMO), "--size", "64", "--device", "cpu", "--json", str(out)]
    cli.main([*argv, "--run-dir", str(run), "--method", "PMG-SAM tiny"])
    # demo.yaml's model is pmgsam_tiny's architecture (at S=128, here measured at 64).
    [record] = json.loads(out.read_text())
    assert (record["model"], record["image_size"]) == ("pmgsam_tiny", 64)
    assert (
        "inference pmgsam_tiny: 50.0 ms per batch of 1 | 20.00 images/s" in capsys.readouterr().out
    )
    data = json.loads((run / "run.json").read_text())
    assert data["method"] == "PMG-SAM tiny" and data["efficiency"]["fps"] == 20.0


def test_config_of_no_registered_model_is_labelled_by_its_file(tmp_path):
    variant = tmp_path / "deeper_decoder.yaml"
    variant.write_text(f"base: {DEMO}\nmodel:\n  decoder_depth: 2\n")
    model = load_config(ExperimentConfig, variant).model
    assert cli.config_label(model, str(variant)) == "deeper_decoder"
    assert cli.config_label(load_config(ExperimentConfig, DEMO).model, str(DEMO)) == "pmgsam_tiny"


def test_a_training_timing_is_refused_for_a_run_row(tmp_path, capsys, monkeypatch):
    # Its images/s would become the row's FPS, which the efficiency table gives for inference.
    run = evaluated_run(tmp_path / "run", tiny(64))
    before = (run / "run.json").read_text()
    monkeypatch.setattr(report_mod, "efficiency_report", lambda *a, **k: pytest.fail("timed"))
    assert exit_status(cli.main, [*TINY_64, "--train", "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert "--train times training steps: keep those with --json" in err, err
    assert (run / "run.json").read_text() == before


def test_a_training_timing_is_not_compared_with_a_generator(capsys, monkeypatch):
    # The printed speed-up would set training steps against the generator's inference.
    monkeypatch.setattr(report_mod, "build_model", lambda *a, **k: pytest.fail("built"))
    with pytest.raises(ValueError, match="cannot go with train"):
        report_mod.efficiency_report("pmgsam_tiny", train=True, compare="sam_vit_b")
    monkeypatch.setattr(report_mod, "efficiency_report", lambda *a, **k: pytest.fail("timed"))
    assert exit_status(cli.main, [*TINY_64, "--train", "--compare", "sam_vit_b"]) == 2
    assert "--train times training steps: time the comparison" in capsys.readouterr().err

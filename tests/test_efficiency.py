"""Efficiency CLI: report fields and the run.json hand-off to the tables."""

from __future__ import annotations

import json

from pmgsam.efficiency import count_parameters, main
from pmgsam.modeling.build import build_model


def test_cli_writes_report_and_run_json(tmp_path, capsys):
    out = tmp_path / "eff.json"
    run = tmp_path / "results" / "tiny-run"
    main(
        ["--model", "pmgsam_tiny", "--size", "64", "--iters", "2", "--warmup", "0",
         "--device", "cpu", "--json", str(out), "--run-dir", str(run)]
    )  # fmt: skip
    text = capsys.readouterr().out
    assert "trainable" in text and "efficiency added to" in text
    [record] = json.loads(out.read_text())
    assert record["mode"] == "inference" and record["image_size"] == 64
    assert record["images_per_s"] > 0
    assert record["peak_memory_mb"] is None  # CPU: no CUDA allocator to ask
    p = count_parameters(build_model("pmgsam_tiny", image_size=64))
    eff = json.loads((run / "run.json").read_text())
    assert eff["method"] == "tiny-run"
    assert abs(eff["efficiency"]["params_total_M"] - p["total"] / 1e6) < 1e-9
    assert eff["efficiency"]["fps"] == record["images_per_s"]

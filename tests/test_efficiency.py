"""Efficiency CLI: report fields and the run.json hand-off to the tables."""

from __future__ import annotations

import json

from pmgsam.efficiency import main


def test_cli_writes_report_and_run_json(tmp_path, capsys):
    out = tmp_path / "eff.json"
    run = tmp_path / "results" / "tiny-run"
    main(
        ["--model", "pmgsam_tiny", "--size", "64", "--iters", "2", "--warmup", "0",
         "--device", "cpu", "--json", str(out), "--run-dir", str(run)]
    )  # fmt: skip
    text = capsys.readouterr().out
    assert "trainable" in text and "efficiency added to" in text
    report = json.loads(out.read_text())
    p = report["params"]
    assert p["total"] == p["trainable"] + p["frozen"] and p["trainable"] > 0
    assert report["image_size"] == 64 and report["speed"]["images_per_s"] > 0
    assert report["speed"]["peak_memory_mb"] is None  # CPU: no CUDA allocator to ask
    eff = json.loads((run / "run.json").read_text())
    assert eff["method"] == "tiny-run"
    assert abs(eff["efficiency"]["params_total_M"] - p["total"] / 1e6) < 1e-9
    assert abs(eff["efficiency"]["flops_G"] - report["flops_per_image"]["total"] / 1e9) < 1e-9

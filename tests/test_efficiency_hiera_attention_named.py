"""A timing with ``--hiera-attention package`` (hiera-transformer's 5-D forward, measured 1.7x
slower than the default window-batched form on the CPU in BENCHMARKS.md) says so in its record,
run.json's ``timed_on`` and the benchmark table, and is not ranked against default rows: it was
recorded exactly like a default timing."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any, Dict

import torch

import pmgsam.efficiency.report as report_mod
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.evaluation.run_efficiency import efficiency_from_report, timing_conditions
from pmgsam.evaluation.run_json import load_runs, write_run_json
from pmgsam.evaluation.tables import PER_IMAGE_COSTS, efficiency_table

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "render_table.py"
_SPEC = importlib.util.spec_from_file_location("render_table_hiera", _PATH)
render_table = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(render_table)

SPEED = {"latency_ms_median": 50.0, "images_per_s": 20.0, "first_call_ms": 60.0,
         "peak_memory_mb": 700.0, "peak_reserved_mb": 800.0}  # fmt: skip


def environment(monkeypatch, window: bool) -> Dict[str, Any]:
    monkeypatch.setattr(report_mod, "git_commit", lambda: "c0ffee")
    perf = PerformanceConfig(hiera_window_attention=window)
    return report_mod._environment(torch.device("cpu"), "fp32", perf)


def report(env: Dict[str, Any]) -> Dict[str, Any]:
    return {**env, "model": "m", "batch": 1, "image_size": 64,
            "params": {"total": 2e6, "trainable": 1e6}, "flops_per_image": {"total": 3e9},
            "speed": {"images_per_s": 4.0, "peak_memory_mb": None}}  # fmt: skip


def test_the_package_attention_is_recorded_and_the_default_is_not(monkeypatch) -> None:
    package = environment(monkeypatch, window=False)
    assert package["hiera_attention"] == "package"
    assert "hiera_attention" not in environment(monkeypatch, window=True)
    record = report_mod.make_record(report(package), "inference", SPEED)
    assert record["hiera_attention"] == "package"
    # A compared SAM generator has no PMG-SAM Hiera: its record does not claim the setting.
    amg = report_mod.make_record(report(package), "sam_amg", SPEED)
    assert "hiera_attention" not in amg


def test_timed_on_names_it_and_the_rows_are_not_ranked(monkeypatch, tmp_path) -> None:
    window = report(environment(monkeypatch, window=True))
    package = report(environment(monkeypatch, window=False))
    threads = torch.get_num_threads()
    base = f"cpu, {threads} thread{'' if threads == 1 else 's'}, fp32, S=64, batch 1"
    assert timing_conditions(window) == f"{base}, bn-fold"
    assert timing_conditions(package) == f"{base}, Hiera package attention, bn-fold"
    for name, rep in (("a", window), ("b", package)):
        write_run_json(tmp_path / name, name, efficiency=efficiency_from_report(rep))
    table = efficiency_table(load_runs([tmp_path / "a", tmp_path / "b"]))
    assert table.unranked_columns == PER_IMAGE_COSTS


def test_the_benchmark_table_marks_it(tmp_path) -> None:
    rec = {"device": "cpu", "mode": "inference", "model": "pmgsam_tiny", "dtype": "fp32",
           "batch": 1, "image_size": 64, "compile": False, "images_per_s": 4.0,
           "latency_ms": 250.0, "peak_memory_mb": None, "torch": "2.x",
           "commit": "0123456789abcdef"}  # fmt: skip
    (tmp_path / "a.json").write_text(json.dumps([{**rec, "hiera_attention": "package"}]))
    (tmp_path / "b.json").write_text(json.dumps([rec]))
    rows = render_table.render(render_table.load_records(tmp_path)).splitlines()[2:]
    assert "| False | Hiera package attention | 4 | 250.0 |" in rows[0]
    assert "| False | – | 4 | 250.0 |" in rows[1]

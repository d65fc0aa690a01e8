"""CPU timings name the torch thread count they ran on: ``python -m pmgsam.efficiency --threads``,
run.json's efficiency block (``threads``, ``timed_on``) and the efficiency table, which ranks no
FPS between CPU rows timed on different counts (pmgsam.evaluation.run_json, .tables)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest
import torch

from pmgsam.efficiency import cli
from pmgsam.efficiency import report as report_mod
from pmgsam.evaluation.run_efficiency import efficiency_from_report
from pmgsam.evaluation.run_json import load_runs, write_run_json
from pmgsam.evaluation.tables import PER_IMAGE_COSTS, efficiency_table
from pmgsam.modeling.build import build_model

pytestmark = pytest.mark.usefixtures("one_thread")


def timed_report(device: str, threads: int, fps: float) -> Dict[str, Any]:
    """A report as ``pmgsam.efficiency`` makes one (the fields run.json reads)."""
    speed = {"images_per_s": fps, "peak_memory_mb": None}
    return {"params": {"total": 2e6, "trainable": 1e6}, "flops_per_image": {"total": 3e9},
            "speed": speed, "device": device, "dtype": "fp32", "threads": threads,
            "image_size": 64, "batch": 1}  # fmt: skip


def evaluated_pair(tmp_path: Path, device: str, threads: List[int]) -> List[Dict[str, Any]]:
    """Two run.json files, one row each, timed on ``device`` with the given thread counts (the
    slower row on fewer threads), read back as ``pmgsam.report`` reads them."""
    folders = []
    for method, count, fps in zip(("ours", "sam"), threads, (2.0, 5.0)):
        folder = tmp_path / method
        eff = efficiency_from_report(timed_report(device, count, fps))
        write_run_json(folder, method, dis={"DIS-VD": {"MAE": 0.1}}, efficiency=eff)
        folders.append(folder)
    return load_runs(folders)


def test_cpu_rows_timed_on_different_thread_counts_are_not_ranked(tmp_path: Path) -> None:
    # 5 images/s on 4 threads against 2 on 1: the faster row had four times the CPU.
    runs = evaluated_pair(tmp_path, "cpu", [1, 4])
    assert [r["efficiency"]["threads"] for r in runs] == [1, 4]
    assert [r["efficiency"]["timed_on"] for r in runs] == [
        "cpu, 1 thread, fp32, S=64, batch 1",
        "cpu, 4 threads, fp32, S=64, batch 1",
    ]
    table = efficiency_table(runs)
    assert table.unranked_columns == PER_IMAGE_COSTS
    assert table.notes[0] == (
        "No best marked for FLOPs, FPS and memory: the rows were timed under different "
        "conditions (ours: cpu, 1 thread, fp32, S=64, batch 1; "
        "sam: cpu, 4 threads, fp32, S=64, batch 1)."
    )
    # On the same count they compare, and the note says which.
    same = efficiency_table(evaluated_pair(tmp_path / "same", "cpu", [2, 2]))
    assert same.unranked_columns == ()
    assert same.notes == ["Timed on cpu, 2 threads, fp32, S=64, batch 1."]


def test_cuda_rows_rank_whatever_the_host_thread_count(tmp_path: Path) -> None:
    # The GPU does the work: torch's CPU threads do not make a CUDA row faster.
    runs = evaluated_pair(tmp_path, "NVIDIA H200", [1, 4])
    assert [r["efficiency"]["threads"] for r in runs] == [None, None]
    table = efficiency_table(runs)
    assert table.unranked_columns == ()
    assert table.notes == ["Timed on NVIDIA H200, fp32, S=64, batch 1."]


def test_a_cuda_timing_replaces_the_thread_count_of_an_earlier_cpu_one(tmp_path: Path) -> None:
    write_run_json(tmp_path, "ours", efficiency=efficiency_from_report(timed_report("cpu", 2, 1)))
    cuda = efficiency_from_report(timed_report("NVIDIA H200", 2, 90.0))
    data = json.loads(write_run_json(tmp_path, None, efficiency=cuda).read_text())
    assert data["efficiency"]["threads"] is None
    assert data["efficiency"]["timed_on"] == "NVIDIA H200, fp32, S=64, batch 1"


def test_threads_option_times_on_that_count_and_records_it(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    timed_on: List[int] = []

    def fixed_speed(*args: Any, **kwargs: Any) -> Dict[str, Any]:
        timed_on.append(torch.get_num_threads())
        return {"latency_ms_median": 50.0, "images_per_s": 20.0, "first_call_ms": 60.0,
                "peak_memory_mb": None, "peak_reserved_mb": None}  # fmt: skip

    flops = {"total": 1e9, "frozen": 5e8, "trainable": 5e8, "trainable_over_frozen": 1.0,
             "components": {"u2net": 5e8, "rest": 5e8}}  # fmt: skip
    model = build_model("pmgsam_tiny", image_size=32)  # built once for both runs
    monkeypatch.setattr(report_mod, "build_model", lambda *a, **k: model)
    monkeypatch.setattr(report_mod, "measure_speed", fixed_speed)
    monkeypatch.setattr(report_mod, "count_flops", lambda *a, **k: flops)
    folders = []
    for threads in ("3", "2"):
        folder = tmp_path / f"on{threads}"
        write_run_json(folder, f"on {threads}", dis={"DIS-VD": {"MAE": 0.1}})  # no model named
        out = folder / "eff.json"
        argv = ["--model", "pmgsam_tiny", "--size", "32", "--device", "cpu", "--iters", "1"]
        cli.main([*argv, "--threads", threads, "--json", str(out), "--run-dir", str(folder)])
        [record] = json.loads(out.read_text())
        assert record["threads"] == int(threads)
        folders.append(folder)
    assert timed_on == [3, 2]
    assert torch.get_num_threads() == 1  # one_thread's count, put back
    assert "threads=2" in capsys.readouterr().out
    runs = load_runs(folders)
    assert [r["efficiency"]["timed_on"] for r in runs] == [
        "cpu, 3 threads, fp32, S=32, batch 1, bn-fold",
        "cpu, 2 threads, fp32, S=32, batch 1, bn-fold",
    ]
    assert efficiency_table(runs).unranked_columns == PER_IMAGE_COSTS


def test_threads_option_refuses_a_count_below_one(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--model", "pmgsam_tiny", "--threads", "0"])
    assert exit_info.value.code == 2
    assert "argument --threads: must be at least 1, got 0" in capsys.readouterr().err

"""Rows timed with other speed options (torch.compile and its mode, channels-last, on a GPU
cuDNN's benchmark) say so in run.json's ``timed_on`` and get no best FPS against each other in
the efficiency table, as rows timed on other devices or thread counts (run_json, tables)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import pytest

from pmgsam.evaluation.run_efficiency import efficiency_from_report, timing_conditions
from pmgsam.evaluation.run_json import load_runs, write_run_json
from pmgsam.evaluation.tables import PER_IMAGE_COSTS, efficiency_table

EAGER = {"device": "NVIDIA H200", "dtype": "bf16", "threads": 8, "image_size": 1024, "batch": 8,
         "compile": False, "channels_last": False, "cudnn_benchmark": False}  # fmt: skip


def timed(**options: Any) -> Dict[str, Any]:
    """A report as ``pmgsam.efficiency`` makes one, with ``options`` changed."""
    return {**EAGER, **options, "params": {"total": 2e6, "trainable": 1e6},
            "flops_per_image": {"total": 3e9},
            "speed": {"images_per_s": 40.0, "peak_memory_mb": 900.0}}  # fmt: skip


def test_timed_on_names_the_speed_options_a_timing_used() -> None:
    base = "NVIDIA H200, bf16, S=1024, batch 8"
    assert timing_conditions(timed()) == base  # eager and contiguous: as before
    assert timing_conditions(timed(compile="model")) == f"{base}, compiled (model)"
    both = timed(compile="regional", compile_mode="max-autotune", channels_last=True)
    assert timing_conditions(both) == f"{base}, compiled (regional, max-autotune), channels-last"
    assert timing_conditions(timed(cudnn_benchmark=True)) == f"{base}, cudnn-benchmark"
    # cuDNN's benchmark does nothing on a CPU: CPU rows with and without it still compare.
    cpu = timed(device="cpu", threads=2, cudnn_benchmark=True)
    assert timing_conditions(cpu) == "cpu, 2 threads, bf16, S=1024, batch 8"
    # A baseline's report records no options (eager, contiguous): nothing is added.
    assert timing_conditions({"device": "cpu", "dtype": "fp32", "batch": 1}) == "cpu, fp32, batch 1"


def rows(tmp_path: Path, reports: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One run.json per report (rows a, b, ...), read back as ``pmgsam.report`` reads them."""
    folders = []
    for i, report in enumerate(reports):
        folder = tmp_path / "ab"[i]
        write_run_json(folder, "ab"[i], efficiency=efficiency_from_report(report))
        folders.append(folder)
    return load_runs(folders)


@pytest.mark.parametrize(
    "option, named",
    [
        ({"compile": "regional"}, "compiled (regional)"),
        ({"compile": "model", "compile_mode": "max-autotune"}, "compiled (model, max-autotune)"),
        ({"channels_last": True}, "channels-last"),
    ],
)
def test_rows_timed_with_and_without_an_option_are_not_ranked(tmp_path, option, named) -> None:
    table = efficiency_table(rows(tmp_path, [timed(), timed(**option)]))
    assert table.unranked_columns == PER_IMAGE_COSTS
    base = "NVIDIA H200, bf16, S=1024, batch 8"
    assert table.notes[0] == (
        "No best marked for FLOPs, FPS and memory: the rows were timed under different "
        f"conditions (a: {base}; b: {base}, {named})."
    )


def test_rows_timed_with_the_same_options_are_ranked(tmp_path) -> None:
    both = dict(compile="regional", channels_last=True)
    table = efficiency_table(rows(tmp_path, [timed(**both), timed(**both)]))
    assert table.unranked_columns == ()
    assert table.notes == ["Timed on NVIDIA H200, bf16, S=1024, batch 8, compiled (regional), "
                           "channels-last."]  # fmt: skip

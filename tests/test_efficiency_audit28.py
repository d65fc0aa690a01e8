"""Published speed numbers worked out by hand (mutation audit 28): whole rows of the
BENCHMARKS.md table, training steps under the report's dtype, and slow rates printed with three
significant digits."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import List

import pytest
import torch

import pmgsam.efficiency.timing as timing
from pmgsam.efficiency.report import format_report, make_record
from pmgsam.engine.performance_config import PerformanceConfig

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "render_table.py"
_SPEC = importlib.util.spec_from_file_location("render_table_audit28", _PATH)
render_table = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(render_table)

GPU = {"device": "NVIDIA H200", "threads": 16, "mode": "inference", "model": "pmgsam_tiny",
       "dtype": "bf16", "batch": 8, "image_size": 1024, "compile": "model",
       "compile_mode": "default", "images_per_s": 123.456, "latency_ms": 99.96,
       "first_call_ms": 45678.94, "peak_memory_mb": 3420.75, "flops_per_image": 4.5678e11,
       "torch": "2.14.1", "commit": "0123456789abcdef"}  # fmt: skip
CPU = {**GPU, "device": "cpu", "threads": 4, "mode": "train", "dtype": "fp32", "batch": 2,
       "image_size": 256, "compile": False, "compile_mode": None, "images_per_s": 0.76452,
       "latency_ms": 2615.99, "first_call_ms": 9.87654, "peak_memory_mb": None,
       "flops_per_image": 1.23456e9}  # fmt: skip


def test_every_record_of_a_file_is_a_row_with_each_column_from_its_own_key(tmp_path) -> None:
    # Both records in one file's list. By hand: values of 10 and more with one decimal (99.96
    # rounds to 100.0, not '100'), smaller ones with three significant digits, FLOPs in G, the
    # commit's first 8 characters, threads only for the CPU timing (a GPU's is not set by them).
    (tmp_path / "r.json").write_text(json.dumps([GPU, CPU]))
    rows = render_table.render(render_table.load_records(tmp_path)).splitlines()
    assert rows[0] == (
        "| device | threads | mode | model | dtype | batch | S | compile | options | images/s | "
        "ms/batch | first call ms | peak MB | GFLOPs/image | torch | commit | file |"
    )
    assert rows[2:] == [
        "| NVIDIA H200 | – | inference | pmgsam_tiny | bf16 | 8 | 1024 | model | – | 123.5 | "
        "100.0 | 45678.9 | 3420.8 | 456.8 | 2.14.1 | 01234567 | r.json |",
        "| cpu | 4 | train | pmgsam_tiny | fp32 | 2 | 256 | False | – | 0.765 | 2616.0 | 9.88 "
        "| – | 1.23 | 2.14.1 | 01234567 | r.json |",
    ]


class _DtypeNet(torch.nn.Module):
    """A one-conv segmenter that records the dtype its forward computes in."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1, 1)
        self.dtypes: List[torch.dtype] = []

    def trainable_parameters(self):
        return self.parameters()

    def forward(self, x: torch.Tensor) -> dict:
        y = self.conv(x)
        self.dtypes.append(y.dtype)
        return {"mask": y}


def test_training_steps_run_the_forward_under_the_report_dtype() -> None:
    # --train --dtype bf16 must time bf16 steps (the trainer's autocast), not float32 ones.
    for dtype, expected in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        model = _DtypeNet()
        images = torch.rand(2, 3, 4, 4)
        timing.measure_training(model, model, images, dtype, 2, 1, PerformanceConfig())
        assert model.dtypes == [expected] * 3, dtype  # one warm-up and two timed steps


def test_a_rate_between_0_01_and_0_1_images_per_s_keeps_three_digits() -> None:
    # 17 s per image: 1 / 17 = 0.0588 images/s, which two decimals would print as 0.06.
    report = {"device": "cpu", "model": "m", "dtype": "fp32", "batch": 1, "image_size": 256,
              "compile": False, "torch": "2.x", "commit": "c", "threads": 1,
              "channels_last": False, "cudnn_benchmark": False, "params": {"total": 1,
              "trainable": 1, "frozen": 0}, "flops_per_image": {"total": 1.0, "frozen": 0.0,
              "trainable": 1.0, "trainable_over_frozen": 0.0, "components": {}}}  # fmt: skip
    speed = {"images_per_s": 1 / 17, "latency_ms_median": 17_000.0, "first_call_ms": 1.0,
             "peak_memory_mb": None, "peak_reserved_mb": None}  # fmt: skip
    text = format_report({**report, "records": [make_record(report, "inference", speed)]})
    assert "17000.0 ms per batch of 1 | 0.0588 images/s" in text, text


def test_the_command_line_hands_its_counts_and_dtype_to_the_report(monkeypatch) -> None:
    # The report takes them positionally: bound here by the real signature, so a value handed
    # in the wrong place (bf16 dropped, iters for warm-up) is caught by name.
    import inspect

    import pmgsam.efficiency.report as report_mod
    from pmgsam.efficiency.cli import main

    signature = inspect.signature(report_mod.efficiency_report)
    handed: List[dict] = []

    class Reached(Exception):
        pass

    def stop(*args: object, **kwargs: object) -> None:
        handed.append(signature.bind(*args, **kwargs).arguments)
        raise Reached

    monkeypatch.setattr(report_mod, "efficiency_report", stop)
    argv = ["--model", "pmgsam_tiny", "--size", "32", "--device", "cpu", "--dtype", "bf16",
            "--batch", "3", "--iters", "7", "--warmup", "2", "--quiet"]  # fmt: skip
    with pytest.raises(Reached):
        main(argv)
    got = {k: handed[0][k] for k in ("size", "batch", "device", "dtype", "iters", "warmup")}
    assert got == {"size": 32, "batch": 3, "device": "cpu", "dtype": "bf16", "iters": 7,
                   "warmup": 2}  # fmt: skip


def test_the_report_times_with_its_own_dtype_and_counts(monkeypatch) -> None:
    # efficiency_report hands dtype, iters and warm-up on positionally: each in its place.
    from stand_in_models import ReportStandIn

    import pmgsam.efficiency.report as report_mod

    seen: List[tuple] = []
    speed = {"latency_ms_median": 1.0, "images_per_s": 1.0, "first_call_ms": 1.0,
             "peak_memory_mb": None, "peak_reserved_mb": None}  # fmt: skip

    def infer(net, images, dtype, iters, warmup, progress=None):
        return seen.append(("inference", dtype, iters, warmup)) or dict(speed)

    def train(model, net, images, dtype, iters, warmup, perf, progress=None):
        return seen.append(("train", dtype, iters, warmup)) or dict(speed)

    monkeypatch.setattr(report_mod, "build_model", lambda name, **kw: ReportStandIn(8))
    monkeypatch.setattr(report_mod, "measure_speed", infer)
    monkeypatch.setattr(report_mod, "measure_training", train)
    for is_train in (False, True):
        report_mod.efficiency_report(
            "pmgsam_tiny", dtype="bf16", iters=7, warmup=2, train=is_train, progress=False
        )
    assert seen == [("inference", "bf16", 7, 2), ("train", "bf16", 7, 2)]

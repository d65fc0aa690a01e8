"""The numbers of paper Table 1 as the efficiency report records and prints them.

Every expectation is worked out by hand from the inputs: which timing goes in which record key,
parameters in millions, FLOPs in G, the trainable share of the frozen FLOPs in per cent.
"""

from __future__ import annotations

from typing import Any, Dict

import pytest
import torch

import pmgsam.efficiency.flops as flops
import pmgsam.efficiency.timing as timing
from pmgsam.efficiency.report import _environment, format_report, make_record
from pmgsam.engine.performance_config import PerformanceConfig

SPEED = {
    "latency_ms_median": 200.0,
    "latency_ms_mean": 250.0,
    "images_per_s": 5.0,
    "first_call_ms": 9000.0,
    "peak_memory_mb": 3420.0,
    "peak_reserved_mb": 4096.0,
}


def _report() -> Dict[str, Any]:
    return {
        "device": "cpu", "model": "m", "dtype": "fp32", "batch": 1, "image_size": 64,
        "compile": False, "torch": "2.x", "commit": "unknown", "threads": 1,
        "channels_last": False, "cudnn_benchmark": False,
        # 30 M parameters, 2 M of them trained; 40 GFLOPs, 30 G of them in frozen branches.
        "params": {"total": 30_000_000, "trainable": 2_000_000, "frozen": 28_000_000},
        "flops_per_image": {
            "total": 40e9, "frozen": 30e9, "trainable": 10e9,
            "trainable_over_frozen": 10 / 30, "components": {"u2net": 30e9, "decoder": 10e9},
        },
    }  # fmt: skip


def test_record_keys_hold_the_median_latency_the_first_call_and_the_allocated_peak() -> None:
    record = make_record(_report(), "inference", SPEED)
    assert record["latency_ms"] == 200.0  # the median, not the mean (250)
    assert record["first_call_ms"] == 9000.0
    assert record["images_per_s"] == 5.0
    # Allocated is the Table 1 peak; reserved (the allocator's slack on top) is kept apart.
    assert (record["peak_memory_mb"], record["peak_reserved_mb"]) == (3420.0, 4096.0)


def test_printed_report_gives_parameters_in_millions_and_flops_in_g() -> None:
    # A batch of 2 in 200 ms: 10 images/s.
    batch = {**_report(), "batch": 2}
    report = {
        **batch,
        "records": [make_record(batch, "inference", {**SPEED, "images_per_s": 10.0})],
    }
    text = format_report(report)
    assert "parameters: total 30.00 M | trainable 2.00 M | frozen 28.00 M" in text
    # 10 G trainable over 30 G frozen = 33.3 %.
    assert (
        "FLOPs/image: total 40.0 G | frozen branches 30.0 G | trainable parts 10.0 G "
        "(33.3 % of frozen)" in text
    )
    assert "by component: u2net 30.0 G, decoder 10.0 G" in text
    assert "200.0 ms per batch of 2 | 10.00 images/s | peak 3420 MB (CUDA, allocated)" in text


def test_a_generator_taking_minutes_per_image_does_not_print_zero_images_per_s() -> None:
    # 305 s per image (BENCHMARKS' sam_vit_b on the CPU): 1 / 305 = 0.00328 images/s.
    slow = {**SPEED, "latency_ms_median": 305_000.0, "images_per_s": 1 / 305}
    text = format_report({**_report(), "records": [make_record(_report(), "inference", slow)]})
    assert "305000.0 ms per batch of 1 | 0.00328 images/s" in text, text


def test_environment_records_the_compile_scope_only_when_compiling() -> None:
    cpu = torch.device("cpu")
    compiled = PerformanceConfig(compile=True, compile_scope="regional")
    assert _environment(cpu, "fp32", compiled)["compile"] == "regional"
    eager = PerformanceConfig(compile_scope="regional")
    assert _environment(cpu, "fp32", eager)["compile"] is False


def test_a_counter_blind_under_inference_mode_makes_the_count_fall_back(monkeypatch) -> None:
    # torch 2.4.1's counter sees nothing of linear under inference_mode: the FLOP counts must
    # then run under no_grad (a probe that counts 0 FLOPs says so).
    class Blind(torch.utils.flop_counter.FlopCounterMode):
        def get_total_flops(self) -> int:
            return 0

    flops.counts_under_inference_mode.cache_clear()
    monkeypatch.setattr(flops, "flop_counter", lambda: Blind(display=False))
    try:
        assert flops.counts_under_inference_mode() is False
    finally:
        flops.counts_under_inference_mode.cache_clear()


def test_even_count_of_timed_calls_takes_the_mean_of_the_middle_two(monkeypatch) -> None:
    # Timed calls of 1, 2, 3 and 10 s (after a 5 s warm-up): median (2 + 3) / 2 = 2.5 s.
    durations = iter([5.0, 1.0, 2.0, 3.0, 10.0])
    now = [0.0]

    def step() -> None:
        now[0] += next(durations)

    monkeypatch.setattr(timing.time, "perf_counter", lambda: now[0])
    r = timing._time_calls(step, torch.device("cpu"), batch=2, iters=4, warmup=1)
    assert r["latency_ms_median"] == pytest.approx(2500.0)
    assert r["images_per_s"] == pytest.approx(2 / 2.5)
    assert r["latency_ms_mean"] == pytest.approx(4000.0)  # (1 + 2 + 3 + 10) / 4


def test_training_steps_clip_the_gradient_norm_as_the_trainer_does(monkeypatch) -> None:
    # The trainer clips the trainable gradients' global norm to train.grad_clip (1.0 unless
    # set): a timed training step that skipped it would time less work than training does.
    from pmgsam.engine.config import TrainConfig

    clipped = []
    monkeypatch.setattr(
        timing.torch.nn.utils, "clip_grad_norm_", lambda params, norm: clipped.append(norm)
    )
    model = torch.nn.Conv2d(3, 1, 3, padding=1)
    model.trainable_parameters = model.parameters
    net = lambda x: {"mask": model(x)}  # noqa: E731
    timing.measure_training(model, net, torch.rand(1, 3, 8, 8), "fp32", 2, 1, PerformanceConfig())
    assert clipped == [TrainConfig().grad_clip] * 3 == [1.0] * 3  # one warm-up + 2 timed steps


def test_the_commit_comes_from_git_else_from_pmgsam_commit(monkeypatch, tmp_path) -> None:
    # A lent GPU machine gets a copy of the working tree without .git: its records would say
    # "unknown" unless the call names the commit.
    import subprocess

    from pmgsam.efficiency import report

    head = subprocess.run(
        ["git", "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        cwd=report.Path(__file__).parent,
    ).stdout.strip()
    monkeypatch.setenv("PMGSAM_COMMIT", "f" * 40)
    if len(head) == 40:  # in a checkout: git's answer wins over the variable
        assert report.git_commit() == head

    def no_checkout(*args, **kwargs):
        return subprocess.CompletedProcess(args, 128, "", "fatal: not a git repository")

    monkeypatch.setattr(report.subprocess, "run", no_checkout)
    assert report.git_commit() == "f" * 40
    monkeypatch.delenv("PMGSAM_COMMIT")
    assert report.git_commit() == "unknown"

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(report.subprocess, "run", no_git)
    monkeypatch.setenv("PMGSAM_COMMIT", " abc123\n")
    assert report.git_commit() == "abc123"

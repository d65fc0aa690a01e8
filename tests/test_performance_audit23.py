"""Performance options (pmgsam.engine.performance), pinned where a plausible wrong version
passed the other tests: the documented defaults, and regional compilation's graph limit, which
is only ever raised."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from pmgsam.engine import performance
from pmgsam.engine.performance_config import PerformanceConfig


def test_defaults_are_the_documented_ones() -> None:
    # README / PerformanceConfig: compile and channels_last are off (channels_last also
    # applies on a CPU; the GPU training configs turn it on); cuDNN's algorithm timing, TF32
    # and the fused AdamW are on (CUDA only, as measured on an H200); Hiera's batched windows on;
    # the frozen U²-Net's BatchNorms folded (1.16x faster branch on an H200); CUDA graphs off
    # (not yet measured on a GPU).
    assert dataclasses.asdict(PerformanceConfig()) == {
        "hiera_window_attention": True,
        "channels_last": False,
        "fold_frozen_batchnorm": True,
        "compile": False,
        "compile_scope": "model",
        "compile_mode": "default",
        "cuda_graphs": False,
        "tf32": True,
        "bf16_group_norm": False,
        "cudnn_benchmark": True,
        "fused_optimizer": True,
        "persistent_workers": True,
    }


@pytest.fixture
def limit():
    # Not monkeypatch: its undo leaves dynamo's config module without the setting (torch 2.14
    # hides an alias deleted that way), and a later compile test in the same process fails.
    config = torch._dynamo.config
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
    before = getattr(config, name)

    def set_to(value: int) -> None:
        setattr(config, name, value)

    yield set_to, lambda: getattr(config, name)
    setattr(config, name, before)


def test_regional_compile_raises_the_graph_limit_but_never_lowers_it(limit) -> None:
    set_to, read = limit
    # Three regions of one class and one of another: the most of one class is 3.
    regions = [nn.Linear(1, 1), nn.Linear(1, 1), nn.Linear(1, 1), nn.ReLU()]
    set_to(2)
    performance._allow_graphs_per_class(regions)
    assert read() == 3 * performance.GRAPHS_PER_REGION
    set_to(1000)  # raised by the user (or an earlier run) for a model of its own
    performance._allow_graphs_per_class(regions)
    assert read() == 1000

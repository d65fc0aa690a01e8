"""Speed options turned off are off: prepare_model, to_memory_format and maybe_compile do what
PerformanceConfig says, on a model an earlier call set the other way (one process, two runs).
The expected forms come from PerformanceConfig's docstring: Hiera's package (5-D) attention
without ``hiera_window_attention``, contiguous (NCHW) tensors without ``channels_last``."""

from __future__ import annotations

import copy

import torch

from pmgsam.engine.performance import prepare_model, to_memory_format
from pmgsam.engine.performance_config import PerformanceConfig


def _attention_kinds(model: torch.nn.Module) -> set:
    from hiera.hiera import MaskUnitAttention

    return {type(m).__name__ for m in model.modules() if isinstance(m, MaskUnitAttention)}


def _conv_formats(model: torch.nn.Module) -> set:
    weights = [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    weights = [w for w in weights if w.shape[1] > 1 and w.shape[2] * w.shape[3] > 1]
    return {w.is_contiguous() for w in weights}


def test_options_off_undo_options_on(small_tiny_model) -> None:
    model = copy.deepcopy(small_tiny_model)
    on = PerformanceConfig(hiera_window_attention=True, channels_last=True)
    prepare_model(model, on)
    assert _attention_kinds(model) == {"WindowBatchedAttention"}
    assert _conv_formats(model) == {False}  # channels-last kernels are not NCHW-contiguous
    off = PerformanceConfig(hiera_window_attention=False, channels_last=False)
    prepare_model(model, off)
    assert _attention_kinds(model) == {"MaskUnitAttention"}
    assert _conv_formats(model) == {True}  # back to NCHW


def test_channels_last_off_leaves_the_model_and_inputs_nchw(small_tiny_model) -> None:
    model = prepare_model(copy.deepcopy(small_tiny_model), PerformanceConfig())
    assert _conv_formats(model) == {True}
    images = torch.rand(2, 3, 8, 8)
    assert to_memory_format(images, PerformanceConfig()) is images
    moved = to_memory_format(images, PerformanceConfig(channels_last=True))
    assert moved.is_contiguous(memory_format=torch.channels_last) and not moved.is_contiguous()
    torch.testing.assert_close(moved, images, rtol=0, atol=0)


def test_compile_gets_the_configured_mode_and_off_means_no_compile(monkeypatch) -> None:
    from pmgsam.engine import performance

    calls = []
    monkeypatch.setattr(performance.torch, "compile", lambda net, **kw: calls.append(kw) or net)
    net = torch.nn.Linear(2, 2)
    assert performance.maybe_compile(net, PerformanceConfig(compile=False)) is net
    assert calls == []
    perf = PerformanceConfig(compile=True, compile_mode="max-autotune")
    performance.maybe_compile(net, perf)
    assert calls == [{"mode": "max-autotune", "dynamic": False}]

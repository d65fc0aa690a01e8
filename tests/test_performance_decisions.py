"""What performance.py decides without running CUDA: the backend flags on a device that is
neither the CPU nor CUDA, the memory format of a tensor that is no image batch, and regional
compilation of a training model (graphs with and without grad) or of one with no block."""

from __future__ import annotations

import pytest
import torch
from stand_in_models import RECOMPILE_LIMIT, SrbBlocks
from torch import nn

from pmgsam.engine.performance import configure_backends, maybe_compile, to_memory_format
from pmgsam.engine.performance_config import PerformanceConfig

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("device", ["meta", "mps", "xpu"])
def test_backend_flags_are_cuda_flags_only(backend_flags, device):
    # The flags are process-wide: a run on another accelerator must not change what a CUDA
    # run in the same process (or torch's defaults) would use.
    torch.set_float32_matmul_precision("highest")
    torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32 = False, False
    configure_backends(PerformanceConfig(tf32=True, cudnn_benchmark=True), torch.device(device))
    assert torch.get_float32_matmul_precision() == "highest"
    assert torch.backends.cudnn.benchmark is False and torch.backends.cudnn.allow_tf32 is False


def test_channels_last_leaves_a_tensor_that_is_no_image_batch_as_it_is():
    # channels_last is a 4-D layout: torch refuses it for a single (C, H, W) image.
    image = torch.rand(3, 8, 8)
    assert to_memory_format(image, PerformanceConfig(channels_last=True)) is image


def test_regional_compile_of_a_model_without_blocks_names_it():
    perf = PerformanceConfig(compile=True, compile_scope="regional")
    with pytest.raises(ValueError, match="regional compile: Linear has no block to compile"):
        maybe_compile(nn.Linear(2, 2), perf)


@pytest.fixture
def dynamo():
    if not hasattr(torch._dynamo.config, "fail_on_recompile_limit_hit"):
        pytest.skip("this torch runs blocks past the graph limit eagerly, with no error switch")
    torch._dynamo.reset()
    # dynamo's own patch, not monkeypatch: undoing a monkeypatch of its config deletes the
    # setting (torch 2.14), and the next test to set it failed.
    with torch._dynamo.config.patch(**{RECOMPILE_LIMIT: 8, "fail_on_recompile_limit_hit": True}):
        yield
    torch._dynamo.reset()


def test_regional_compile_keeps_training_and_validation_graphs_of_every_block(dynamo, monkeypatch):
    # Training calls each block with grad, validation without: two graphs per input shape, 10
    # on the SRB's code object, past dynamo's default limit (8), which a limit raised to the
    # block count alone would keep: the validation calls would go back to eager mode (an
    # error here).
    real_compile = torch.compile
    monkeypatch.setattr(
        torch, "compile", lambda fn, *, mode=None, dynamic=None: real_compile(fn, backend="eager")
    )
    model = SrbBlocks(5)
    net = maybe_compile(model, PerformanceConfig(compile=True, compile_scope="regional"))
    xs = [torch.randn(1, c, 4, 4) for c in range(1, 6)]
    torch._dynamo.utils.counters.clear()
    sum(y.sum() for y in net(xs)).backward()
    model.eval()
    with torch.no_grad():
        net(xs)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 10

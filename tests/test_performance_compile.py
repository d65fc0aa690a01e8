"""Compilation (whole model and regional), TF32 and fused AdamW: the CUDA speed switches.

Inductor builds C++ for every compiled graph on a CPU: the tiny model took 425 s to compile
regionally on the shared 2-core machine (BENCHMARKS.md), so the inductor equality checks run
where CUDA exists; on the CPU regional compilation is checked through dynamo's ``eager``
backend, which traces and guards every region as inductor would but generates no code.
"""

from __future__ import annotations

import copy
import json
from contextlib import nullcontext

import pytest
import torch
from stand_in_models import RECOMPILE_LIMIT, SrbBlocks

from pmgsam.engine.config import ExperimentConfig, OptimConfig
from pmgsam.engine.performance import (
    adamw_fused,
    compile_regions,
    configure_backends,
    maybe_compile,
    prepare_model,
)
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.engine.schedulers import build_optimizer
from pmgsam.utils.config import ConfigError, from_dict

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def dynamo():
    """Fresh dynamo caches and limits, restored afterwards (they are process-wide; dynamo's own
    patch, not monkeypatch, whose undo deletes a dynamo setting on torch 2.14)."""
    torch._dynamo.reset()
    with torch._dynamo.config.patch(**{RECOMPILE_LIMIT: 8}):
        yield torch._dynamo.config
    torch._dynamo.reset()


def test_regional_compile_compiles_every_block_in_place_without_eager_fallback(dynamo, monkeypatch):
    compile_calls = []
    real_compile = torch.compile

    def eager_backend(fn, *, mode=None, dynamic=None):
        compile_calls.append((mode, dynamic))
        return real_compile(fn, backend="eager", dynamic=dynamic)

    monkeypatch.setattr(torch, "compile", eager_backend)
    torch.manual_seed(1)
    model = SrbBlocks(10).eval()  # ten graphs on one code object (limit 8)
    xs = [torch.randn(1, c, 6, 5) for c in range(1, 11)]
    with torch.no_grad():
        expected = model(xs)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    perf = PerformanceConfig(compile=True, compile_scope="regional", compile_mode="max-autotune")
    net = maybe_compile(model, perf)
    assert net is model  # compiled in place: same module, same state-dict keys
    assert compile_calls == [("max-autotune", False)] * 10
    assert all(block._compiled_call_impl is not None for block in model.blocks)
    torch._dynamo.utils.counters.clear()
    # Past the limit dynamo would run the remaining blocks eagerly; make that an error. torch
    # 2.4 has no such switch and needs none: its nn.Module.compile keeps each block's graphs
    # apart (ten graphs at a limit of 8 there).
    fail = hasattr(dynamo, "fail_on_recompile_limit_hit")
    with dynamo.patch(fail_on_recompile_limit_hit=True) if fail else nullcontext(), torch.no_grad():
        got = net(xs)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 10
    assert getattr(dynamo, RECOMPILE_LIMIT) >= 10
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, atol=0, rtol=0)
    after = model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in state.items())


def test_regions_of_the_tiny_model(tiny_model):
    regions = compile_regions(tiny_model)
    names = {id(m): n for n, m in tiny_model.named_modules()}
    counts = {}
    for region in regions:
        counts[type(region).__name__] = counts.get(type(region).__name__, 0) + 1
    # Hiera-T stages (1, 2, 7, 2) = 12 blocks; U²-Net†: 6 encoder + 5 decoder RSUs; one SRB
    # per level (drfm_blocks=1) at six levels; the neck, the refiner and the decoder.
    assert counts == {
        "HieraBlock": 12,
        "RSU": 11,
        "StabilizedResidualBlock": 6,
        "FpnNeck": 1,
        "FeatRefiner": 1,
        "GuidedMaskDecoder": 1,
    }
    # No region holds another (each would be compiled twice).
    paths = [names[id(r)] for r in regions]
    assert not any(a != b and b.startswith(a + ".") for a in paths for b in paths)


def test_compile_scope_is_a_checked_config_key():
    config = from_dict(ExperimentConfig, {"performance": {"compile_scope": "regional"}})
    assert config.performance.compile_scope == "regional"
    assert PerformanceConfig().compile_scope == "model"  # the default is unchanged
    with pytest.raises(ConfigError, match="'performance.compile_scope' must be one of"):
        from_dict(ExperimentConfig, {"performance": {"compile_scope": "layers"}})


def test_efficiency_report_records_the_compile_scope(tmp_path, monkeypatch, small_branches):
    # small_branches (conftest): what the record says does not depend on the branches' size.
    import pmgsam.efficiency.report as report
    from pmgsam.efficiency import main
    from pmgsam.efficiency.cli import build_parser

    assert build_parser().parse_args(["--compile"]).compile == "model"
    assert build_parser().parse_args([]).compile is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--compile", "layers"])
    seen = []
    # The compilation itself is checked above and on CUDA; here, what the record says.
    monkeypatch.setattr(report, "maybe_compile", lambda net, perf: seen.append(perf) or net)
    out = tmp_path / "r.json"
    main(
        ["--model", "pmgsam_tiny", "--size", "64", "--iters", "1", "--warmup", "0",
         "--device", "cpu", "--compile", "regional", "--json", str(out)]
    )  # fmt: skip
    [record] = json.loads(out.read_text())
    assert record["compile"] == "regional"
    assert seen[0].compile and seen[0].compile_scope == "regional"
    assert 0 < record["first_call_ms"]


@pytest.fixture
def exact_float32():
    """TF32 off for the test: an earlier CUDA test's configure_backends leaves matmuls at
    "high" (TF32) process-wide, whose rounding alone can exceed the comparison's tolerance."""
    before = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("highest")
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.set_float32_matmul_precision(before[0])
    torch.backends.cudnn.allow_tf32 = before[1]


@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="inductor builds C++ for each graph on a CPU (minutes for the tiny model on the "
    "shared 2-core machine); checked where CUDA exists",
)
@pytest.mark.parametrize("scope", ["model", "regional"])
def test_compiled_model_gives_the_same_outputs(tiny_model, dynamo, exact_float32, scope):
    model = copy.deepcopy(tiny_model).cuda().eval()
    x = torch.rand(2, 3, 64, 64, device="cuda")
    with torch.no_grad():
        plain = model(x)
    net = maybe_compile(model, PerformanceConfig(compile=True, compile_scope=scope))
    with torch.no_grad():
        compiled = net(x)
    for key in ("pre_mask", "mask"):
        torch.testing.assert_close(compiled[key], plain[key], atol=1e-3, rtol=1e-3)


def test_backend_switches_leave_every_precision_flag_readable(backend_flags):
    torch.set_float32_matmul_precision("highest")
    torch.backends.cudnn.benchmark = False
    configure_backends(PerformanceConfig(cudnn_benchmark=True), torch.device("cpu"))
    assert torch.get_float32_matmul_precision() == "highest"  # CPU: nothing changes
    assert torch.backends.cudnn.benchmark is False
    configure_backends(PerformanceConfig(tf32=False, cudnn_benchmark=False), torch.device("cuda"))
    assert torch.get_float32_matmul_precision() == "highest"
    assert torch.backends.cudnn.benchmark is False
    # The flags are process-wide and need no GPU to be set.
    configure_backends(PerformanceConfig(cudnn_benchmark=True), torch.device("cuda"))
    assert torch.backends.cudnn.benchmark is True
    # Setting torch >= 2.9's matmul.fp32_precision instead would make these reads raise
    # ("mix of the legacy and new APIs"); inductor reads the first one for its cache key.
    assert torch.get_float32_matmul_precision() == "high"
    assert torch.backends.cuda.matmul.allow_tf32 is True
    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        assert torch.backends.cuda.matmul.fp32_precision == "tf32"
    assert torch.backends.cudnn.allow_tf32  # convolutions: torch's default
    # A later configuration with the option off turns it off again (one process, two runs).
    configure_backends(PerformanceConfig(cudnn_benchmark=False), torch.device("cuda"))
    assert torch.backends.cudnn.benchmark is False
    configure_backends(PerformanceConfig(tf32=False), torch.device("cuda"))
    assert torch.get_float32_matmul_precision() == "highest"
    assert torch.backends.cuda.matmul.allow_tf32 is False
    assert torch.backends.cudnn.allow_tf32 is False  # "tf32: false" means no TF32 at all


def test_fused_adamw_takes_the_same_steps(tiny_model):
    perf = PerformanceConfig()
    assert adamw_fused(perf, torch.device("cuda")) is True
    assert adamw_fused(perf, torch.device("cpu")) is None  # CPU default unchanged
    assert adamw_fused(PerformanceConfig(fused_optimizer=False), torch.device("cuda")) is None
    models = [copy.deepcopy(tiny_model.refiner) for _ in range(2)]
    # torch's fused AdamW also has a CPU kernel: the construction and step path runs here.
    optimizers = [
        build_optimizer(m, OptimConfig(lr=1e-2), fused=f) for m, f in zip(models, (None, True))
    ]
    assert optimizers[1].defaults["fused"] is True and not optimizers[0].defaults["fused"]
    torch.manual_seed(2)
    for _ in range(3):
        grads = [torch.randn_like(p) for p in models[0].parameters()]
        for model, optimizer in zip(models, optimizers):
            for p, g in zip(model.parameters(), grads):
                p.grad = g.clone()
            optimizer.step()
    moved = [
        not torch.equal(a, b)
        for a, b in zip(models[0].parameters(), tiny_model.refiner.parameters())
    ]
    assert all(moved)
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_prepare_model_turns_off_the_host_reading_input_check(tiny_model):
    model = prepare_model(copy.deepcopy(tiny_model), PerformanceConfig())
    assert model.check_input_range is False

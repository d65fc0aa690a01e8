"""Speed options change how things are computed, never what: each is checked against a reference."""

from __future__ import annotations

import copy
import json
from typing import Any, Callable, Iterator, List

import pytest
import torch
import torch.nn.functional as F

from pmgsam.engine import trainer as trainer_mod
from pmgsam.engine.config import ExperimentConfig, PerformanceConfig
from pmgsam.engine.performance import prepare_model, to_memory_format
from pmgsam.engine.trainer import Trainer
from pmgsam.modeling import hiera_attention
from pmgsam.modeling.build import model_config
from pmgsam.modeling.common import group_norm_gelu
from pmgsam.modeling.fusion import DenseResidualFusion, StabilizedResidualBlock
from pmgsam.modeling.image_encoder import HIERA_SPECS, HieraBranch
from pmgsam.utils.config import from_dict, to_dict


def _package_hiera(size: int):
    """hiera-transformer's own model (its own attention forward) at input side ``size``."""
    import hiera

    embed_dim, heads, stages = HIERA_SPECS["tiny"]
    return hiera.Hiera(
        input_size=(size, size), embed_dim=embed_dim, num_heads=heads, stages=stages
    ).eval()


@pytest.mark.parametrize(
    "size, kernel_batch",
    [(224, None), (256, None), (224, 5)],  # 5: the folded batch split as above CUDA's grid limit
)
def test_window_batched_hiera_equals_package_forward(size, kernel_batch, tmp_path, monkeypatch):
    if kernel_batch:
        monkeypatch.setattr(hiera_attention, "MAX_KERNEL_BATCH", kernel_batch)
    torch.manual_seed(3)
    # Weights as published (224 px); at 256 the branch interpolates the position embedding.
    source = _package_hiera(224)
    path = tmp_path / "hiera_tiny_224.pth"
    torch.save({"model_state": source.state_dict()}, path)
    branch = HieraBranch("tiny", size)
    branch.load_checkpoint(path)
    reference = _package_hiera(size)
    reference.load_state_dict(branch.trunk.state_dict(), strict=False)

    attns = [blk.attn for blk in branch.trunk.blocks]
    assert all(type(a).__name__ == "WindowBatchedAttention" for a in attns)
    tokens = (size // 4) ** 2
    # Both kinds of stage are exercised: several mask-unit windows, and global attention.
    assert any(a.use_mask_unit_attn and tokens // (a.q_stride * a.window_size) > 1 for a in attns)
    assert any(not a.use_mask_unit_attn for a in attns)

    shapes = []
    sdpa = F.scaled_dot_product_attention

    def recording_sdpa(q, k, v, *args, **kwargs):
        shapes.append(q.shape)
        return sdpa(q, k, v, *args, **kwargs)

    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        _, expected = reference(x, return_intermediates=True)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(F, "scaled_dot_product_attention", recording_sdpa)
            ours = branch(x)
    assert {len(shape) for shape in shapes} == {4}
    if kernel_batch:  # every kernel call within the limit, the mask-unit stages in pieces
        assert max(shape[0] for shape in shapes) == kernel_batch and len(shapes) > len(attns)
    else:
        assert len(shapes) == len(attns)
    for got, want in zip(ours, expected):
        torch.testing.assert_close(got, want.permute(0, 3, 1, 2), atol=1e-5, rtol=1e-5)

    # Switched back to the package's forward, the branch gives the reference exactly.
    branch.set_window_batched_attention(False)
    assert all(type(a).__name__ == "MaskUnitAttention" for a in attns)
    with torch.no_grad():
        plain = branch(x)
    for got, want in zip(plain, expected):
        torch.testing.assert_close(got, want.permute(0, 3, 1, 2), atol=0, rtol=0)


# --------------------------------------------------------------------------- training loop
# Tensor methods that copy a value to the host, i.e. wait for the GPU on CUDA.
HOST_READS = ("item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__", "__index__")


@pytest.fixture(scope="module")
def tiny64(seed0_tiny):
    return seed0_tiny()


@pytest.fixture
def tiny_trainer(tmp_path, dis5k_root, data_config, tiny64, monkeypatch):
    monkeypatch.setattr(trainer_mod, "build_model", lambda cfg: copy.deepcopy(tiny64))
    made = []

    def make(log_every: int, device: str = "cpu", **perf: Any) -> Trainer:
        values = {
            "model": to_dict(model_config("pmgsam_tiny", image_size=64)),
            "data": to_dict(data_config("dis5k", dis5k_root, num_workers=0)),
            "schedule": {"epochs": 1, "warmup_epochs": 0},
            "train": {"batch_size": 2, "device": device, "log_every": log_every},
            "performance": perf,
            "output_dir": str(tmp_path / f"run{len(made)}"),
        }
        made.append(Trainer(from_dict(ExperimentConfig, values)))
        return made[-1]

    yield make
    for trainer in made:
        trainer.close()


def _steps_only(trainer: Trainer, inside: List[bool]) -> None:
    """Flag ``inside`` while the loop body runs (not while the loader prepares a batch)."""
    loader = trainer.train_loader

    def body_flagged() -> Iterator[Any]:
        for batch in loader:
            inside[0] = True
            yield batch
            inside[0] = False

    trainer.train_loader = type(
        "Flagged", (), {"__iter__": lambda s: body_flagged(), "__len__": lambda s: len(loader)}
    )()


def test_training_steps_read_nothing_back_outside_logging_steps_and_flag_nan(
    tiny_trainer, monkeypatch
):
    trainer = tiny_trainer(log_every=3)
    inside, reads = [False], []
    # AdamW (capturable=False) keeps its step counters on the host even when training on CUDA,
    # so its reads of them never wait for the GPU; every other read would.
    state = trainer.optimizer.state
    for name in HOST_READS:
        original = getattr(torch.Tensor, name)

        def counting(self, *args, _original=original, _name=name, **kwargs):
            if inside[0] and not any(self is st.get("step") for st in state.values()):
                reads.append((trainer.global_step, _name))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)
    _steps_only(trainer, inside)
    trainer.train_one_epoch(0)
    steps = trainer.global_step
    assert steps >= 3
    # The loss is read (and finiteness checked) at logging steps, and only there.
    assert {s for s, _ in reads} == {s for s in range(1, steps + 1) if s % 3 == 0}, reads

    # A non-finite loss is reported at the next logging step, naming the first bad step.
    loss_fn = trainer.loss_fn

    def nan_loss(outputs, masks):
        loss, parts = loss_fn(outputs, masks)
        return loss * float("nan"), parts

    monkeypatch.setattr(trainer, "loss_fn", nan_loss)
    inside[0] = False
    with pytest.raises(FloatingPointError, match=f"non-finite loss at global step {steps + 1} "):
        trainer.train_one_epoch(1)
    assert trainer.global_step == 3 * ((steps + 1) // 3 + 1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (sync debug mode)")
def test_training_steps_do_not_synchronise_cuda(tiny_trainer):
    trainer = tiny_trainer(log_every=1000, device="cuda")
    loader = trainer.train_loader

    def strict_steps() -> Iterator[Any]:
        for batch in loader:
            torch.cuda.set_sync_debug_mode("error")
            try:
                yield batch
            finally:
                torch.cuda.set_sync_debug_mode("default")

    trainer.train_loader = type(
        "Strict", (), {"__iter__": lambda s: strict_steps(), "__len__": lambda s: len(loader)}
    )()
    trainer.train_one_epoch(0)
    assert trainer.global_step >= 2


def test_deterministic_training_keeps_cudnn_benchmark_off(
    tmp_path, dis5k_root, data_config, tiny64, monkeypatch
):
    # configure_backends sets the process-wide CUDA flags for a CUDA device only (they need no
    # GPU to be set): its CUDA branch runs here for a CPU trainer, so the order shows.
    real = trainer_mod.configure_backends
    monkeypatch.setattr(
        trainer_mod, "configure_backends", lambda perf, _dev: real(perf, torch.device("cuda"))
    )
    monkeypatch.setattr(trainer_mod, "build_model", lambda cfg: copy.deepcopy(tiny64))
    values = {
        "model": to_dict(model_config("pmgsam_tiny", image_size=64)),
        "data": to_dict(data_config("dis5k", dis5k_root, num_workers=0)),
        "train": {"batch_size": 2, "device": "cpu", "deterministic": True},
        "performance": {"cudnn_benchmark": True},
        "output_dir": str(tmp_path / "run"),
    }
    before = (
        torch.get_float32_matmul_precision(),
        torch.backends.cudnn.benchmark,
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    try:
        Trainer(from_dict(ExperimentConfig, values)).close()
        # train.deterministic wins over performance.cudnn_benchmark (algorithm timing may pick
        # different convolution algorithms from one run to the next).
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.benchmark is False
    finally:
        torch.set_float32_matmul_precision(before[0])
        torch.backends.cudnn.benchmark = before[1]
        torch.use_deterministic_algorithms(before[2], warn_only=before[3])


# --------------------------------------------------------------------------- efficiency report
def test_efficiency_train_mode_writes_sane_records(tmp_path, capsys):
    from pmgsam.efficiency import RECORD_KEYS, main

    out = tmp_path / "results" / "train.json"
    main(
        ["--model", "pmgsam_tiny", "--size", "64", "--batch", "2", "--iters", "2",
         "--warmup", "1", "--device", "cpu", "--train", "--channels-last", "--cudnn-benchmark",
         "--json", str(out)]
    )  # fmt: skip
    [record] = json.loads(out.read_text())
    assert record["channels_last"] is True and record["cudnn_benchmark"] is True
    assert torch.backends.cudnn.benchmark is False  # a CUDA-only switch: untouched on CPU
    assert set(RECORD_KEYS) <= set(record)
    assert record["mode"] == "train" and record["device"] == "cpu"
    assert record["model"] == "pmgsam_tiny" and record["dtype"] == "fp32"
    assert (record["batch"], record["image_size"], record["compile"]) == (2, 64, False)
    assert record["torch"] == torch.__version__
    assert record["commit"] == "unknown" or len(record["commit"]) == 40
    assert record["peak_memory_mb"] is None  # no CUDA allocator on CPU
    # Two images per step: throughput and latency describe the same timing.
    assert record["images_per_s"] > 0
    assert record["images_per_s"] == pytest.approx(2000.0 / record["latency_ms"])
    assert "train" in capsys.readouterr().out


# --------------------------------------------------------------------------- fusion / layout
def test_group_norm_gelu_equals_norm_then_gelu_and_keeps_bf16():
    torch.manual_seed(5)
    fused = group_norm_gelu(12)
    torch.nn.init.normal_(fused.weight)
    torch.nn.init.normal_(fused.bias)
    plain = torch.nn.Sequential(torch.nn.GroupNorm(fused.num_groups, 12), torch.nn.GELU())
    plain[0].load_state_dict(fused.state_dict())
    assert fused.num_groups == 6
    x = torch.randn(2, 12, 5, 7)
    torch.testing.assert_close(fused(x), plain(x), atol=0, rtol=0)
    # A bf16 input comes back bf16 (CUDA autocast would otherwise hand back float32).
    out = fused(x.bfloat16())
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), plain(x.bfloat16().float()), atol=2e-2, rtol=2e-2)


def test_channels_last_model_gives_the_same_outputs(tiny64):
    model = copy.deepcopy(tiny64).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        plain = model(x)
        perf = PerformanceConfig(channels_last=True)
        prepare_model(model, perf)
        fast = model(to_memory_format(x, perf))
    conv = model.refiner.fuse[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    for key in ("pre_mask", "mask"):
        torch.testing.assert_close(fast[key], plain[key], atol=1e-4, rtol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (autocast float32 ops)")
def test_srb_concatenates_bf16_under_cuda_autocast():
    srb = StabilizedResidualBlock(8, 4, 3, 0.2).cuda()
    dtypes = []
    cat = torch.cat

    def recording_cat(tensors, *args, **kwargs):
        dtypes.extend(t.dtype for t in tensors)
        return cat(tensors, *args, **kwargs)

    x, h = torch.randn(1, 8, 32, 32, device="cuda"), torch.randn(1, 8, 32, 32, device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16), pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch, "cat", recording_cat)
        srb(x.bfloat16(), h.bfloat16())
    assert set(dtypes) == {torch.bfloat16}


def _feature_map_cat_dtypes(
    model: Callable[[torch.Tensor], Any], x: torch.Tensor, device: str
) -> List[Any]:
    """Dtypes of the 4-D maps every ``torch.cat`` of one bf16-autocast forward receives."""
    dtypes: List[Any] = []
    cat = torch.cat

    def recording_cat(tensors, *args, **kwargs):
        dtypes.extend(t.dtype for t in tensors if t.dim() == 4)
        return cat(tensors, *args, **kwargs)

    with torch.no_grad(), torch.autocast(device, dtype=torch.bfloat16):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(torch, "cat", recording_cat)
            model(x)
    return dtypes


def test_feature_map_concatenations_stay_bf16_under_cuda_autocast_policy(tiny64, monkeypatch):
    # CUDA autocast runs upsampling (F.interpolate) and group_norm in float32 and returns
    # float32 (ATen's autocast_mode.h, AT_FORALL_FP32); CPU autocast keeps bf16, so a CPU run
    # hides the float32 maps that would reach U²-Net's, the SRBs' and the FeatRefiner's dense
    # concatenations on the GPU. That policy is applied here by hand.
    interpolate, norm = F.interpolate, F.group_norm
    upsampled = []

    def cuda_interpolate(x, *args, **kwargs):
        upsampled.append(x.dtype)
        return interpolate(x, *args, **kwargs).float()

    monkeypatch.setattr(F, "interpolate", cuda_interpolate)
    monkeypatch.setattr(F, "group_norm", lambda x, *a, **k: norm(x.float(), *a, **k))
    model = copy.deepcopy(tiny64).eval()
    dtypes = _feature_map_cat_dtypes(model, torch.rand(1, 3, 64, 64), "cpu")
    assert torch.bfloat16 in upsampled  # the bf16 maps were upsampled (in float32)
    assert len(dtypes) > 50 and set(dtypes) == {torch.bfloat16}
    # The FPN maps (fpn[2] is the decoder's image embedding) stay bf16 too.
    neck = copy.deepcopy(tiny64.neck)
    feats = [torch.rand(1, c, 32 // 2**i, 32 // 2**i) for i, c in enumerate(tiny64.hiera.channels)]
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert {f.dtype for f in neck(feats)} == {torch.bfloat16}
    # The tiny model has K = 1; with K = 2 an SRB's normalised output is the next one's input.
    drfm = DenseResidualFusion(6, 4, 8, 4, blocks=2, iterations=2, residual_scale=0.2).eval()
    dtypes = _feature_map_cat_dtypes(
        lambda x: drfm(x, torch.rand(1, 4, 8, 8)), torch.rand(1, 6, 16, 16), "cpu"
    )
    assert len(dtypes) == 10 and set(dtypes) == {torch.bfloat16}  # 2 SRBs x (2 + 3) maps


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (autocast float32 ops)")
def test_feature_map_concatenations_stay_bf16_under_cuda_autocast(tiny64):
    model = copy.deepcopy(tiny64).cuda().eval()
    dtypes = _feature_map_cat_dtypes(model, torch.rand(1, 3, 64, 64, device="cuda"), "cuda")
    assert len(dtypes) > 50 and set(dtypes) == {torch.bfloat16}


def test_benchmark_table_is_rendered_from_the_records(tmp_path):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "render_table.py"
    spec = importlib.util.spec_from_file_location("render_table", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rec = {"device": "cpu", "mode": "train", "model": "m", "dtype": "fp32", "batch": 2,
           "image_size": 64, "compile": False, "images_per_s": 1.25, "latency_ms": 1600.0,
           "peak_memory_mb": None, "torch": "2.x", "commit": "0123456789abcdef"}  # fmt: skip
    results = tmp_path / "results"
    results.mkdir()
    (results / "a.json").write_text(json.dumps([rec, {**rec, "mode": "sam_amg"}]))
    doc = tmp_path / "B.md"
    doc.write_text(f"intro\n{module.START}\nold table\n{module.END}\noutro\n")
    module.main(["--results", str(results), "--doc", str(doc)])
    lines = doc.read_text().splitlines()
    assert lines[0] == "intro" and lines[-1] == "outro" and "old table" not in lines
    rows = [ln for ln in lines if ln.startswith("| cpu")]
    assert rows[0] == (
        "| cpu | – | train | m | fp32 | 2 | 64 | False | – | 1.25 | 1600.0 | – | – | – | 2.x "
        "| 01234567 | a.json |"
    )
    assert "| sam_amg |" in rows[1]
    # A record with its first (compiling) call and speed options fills those columns; older
    # ones show "–".
    opts = {"channels_last": True, "cudnn_benchmark": True, "first_call_ms": 95000.0}
    opts["flops_per_image"] = 2.6e12  # shown in GFLOPs
    (results / "c.json").write_text(json.dumps({**rec, "compile": "regional", **opts}))
    module.main(["--results", str(results), "--doc", str(doc)])
    row = [ln for ln in doc.read_text().splitlines() if "c.json" in ln][0]
    assert "| regional | channels-last, cudnn-benchmark | 1.25 | 1600.0 | 95000.0 | – |" in row
    assert "| 95000.0 | – | 2600.0 | 2.x |" in row
    # CPU timings name their torch thread count; a GPU's does not depend on it: "–".
    (results / "d.json").write_text(json.dumps([{**rec, "threads": 2}, {**rec, "threads": 1}]))
    (results / "e.json").write_text(json.dumps({**rec, "device": "NVIDIA H200", "threads": 8}))
    module.main(["--results", str(results), "--doc", str(doc)])
    lines = doc.read_text().splitlines()
    assert lines[lines.index(module.START) + 1].startswith("| device | threads | mode |")
    cpu = [ln for ln in lines if "d.json" in ln]
    assert [ln.startswith("| cpu | 2 | train |") for ln in cpu] == [True, False]
    assert cpu[1].startswith("| cpu | 1 | train |")
    assert [ln for ln in lines if "e.json" in ln][0].startswith("| NVIDIA H200 | – | train |")
    (results / "b.json").write_text(json.dumps({"device": "cpu"}))
    with pytest.raises(ValueError, match="b.json: record without key"):
        module.load_records(results)

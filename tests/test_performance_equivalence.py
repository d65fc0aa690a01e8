"""Speed options change how things are computed, never what: each is checked against a reference.

Here: the window-batched Hiera attention, the fused GroupNorm + GELU, the channels-last layout
and the bf16 concatenations under autocast (the training loop: test_performance_training.py).
"""

from __future__ import annotations

import copy
from typing import Any, Callable, List

import pytest
import torch
import torch.nn.functional as F

from pmgsam.engine.performance import prepare_model, to_memory_format
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.modeling import hiera_attention
from pmgsam.modeling.common import group_norm_gelu
from pmgsam.modeling.fusion import DenseResidualFusion, StabilizedResidualBlock
from pmgsam.modeling.image_encoder import HIERA_SPECS, HieraBranch

# A Hiera with one of each kind of block Hiera-T has, 2.4 M weights instead of 28 M: mask-unit
# attention with 1, 2 and 4 heads, with and without query pooling, and global attention with
# 4 and 8 heads, with and without it (Hiera-T repeats the unpooled 4-head global block 6 times).
EVERY_BLOCK_KIND = (32, 1, (1, 2, 2, 2))
# (mask-unit attention, q_stride, heads) of Hiera-T's blocks, as hiera-transformer builds them.
HIERA_T_BLOCK_KINDS = {
    (True, 1, 1), (True, 4, 2), (True, 1, 2), (True, 4, 4),
    (False, 1, 4), (False, 4, 8), (False, 1, 8),
}  # fmt: skip


def _package_hiera(size: int):
    """hiera-transformer's own model (its own attention forward) at input side ``size``."""
    import hiera

    embed_dim, heads, stages = EVERY_BLOCK_KIND
    return hiera.Hiera(
        input_size=(size, size), embed_dim=embed_dim, num_heads=heads, stages=stages
    ).eval()


@pytest.fixture(scope="module")
def published_224(tmp_path_factory: pytest.TempPathFactory):
    """The weights as published (224 px), saved once for the three cases."""
    torch.manual_seed(3)
    path = tmp_path_factory.mktemp("hiera") / "hiera_tiny_224.pth"
    torch.save({"model_state": _package_hiera(224).state_dict()}, path)
    return path


@pytest.mark.parametrize(
    "size, kernel_batch",
    [(224, None), (256, None), (224, 5)],  # 5: the folded batch split as above CUDA's grid limit
)
def test_window_batched_hiera_equals_package_forward(
    size, kernel_batch, published_224, monkeypatch
):
    monkeypatch.setitem(HIERA_SPECS, "tiny", EVERY_BLOCK_KIND)
    if kernel_batch:
        monkeypatch.setattr(hiera_attention, "MAX_KERNEL_BATCH", kernel_batch)
    # At 256 the branch interpolates the published position embedding.
    branch = HieraBranch("tiny", size)
    branch.load_checkpoint(published_224)
    reference = _package_hiera(size)
    reference.load_state_dict(branch.trunk.state_dict(), strict=False)

    attns = [blk.attn for blk in branch.trunk.blocks]
    assert all(type(a).__name__ == "WindowBatchedAttention" for a in attns)
    tokens = (size // 4) ** 2
    # Both kinds of stage are exercised: several mask-unit windows, and global attention.
    assert any(a.use_mask_unit_attn and tokens // (a.q_stride * a.window_size) > 1 for a in attns)
    assert any(not a.use_mask_unit_attn for a in attns)
    assert {(a.use_mask_unit_attn, a.q_stride, a.heads) for a in attns} == HIERA_T_BLOCK_KINDS

    shapes = []
    sdpa = F.scaled_dot_product_attention

    def recording_sdpa(q, k, v, *args, **kwargs):
        shapes.append(q.shape)
        return sdpa(q, k, v, *args, **kwargs)

    torch.manual_seed(3)
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


def test_channels_last_model_gives_the_same_outputs(tiny_model):
    model = copy.deepcopy(tiny_model).eval()
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


def test_feature_map_concatenations_stay_bf16_under_cuda_autocast_policy(tiny_model, monkeypatch):
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
    model = copy.deepcopy(tiny_model).eval()
    dtypes = _feature_map_cat_dtypes(model, torch.rand(1, 3, 64, 64), "cpu")
    assert torch.bfloat16 in upsampled  # the bf16 maps were upsampled (in float32)
    assert len(dtypes) > 50 and set(dtypes) == {torch.bfloat16}
    # The FPN maps (fpn[2] is the decoder's image embedding) stay bf16 too.
    neck = copy.deepcopy(tiny_model.neck)
    feats = [
        torch.rand(1, c, 32 // 2**i, 32 // 2**i) for i, c in enumerate(tiny_model.hiera.channels)
    ]
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert {f.dtype for f in neck(feats)} == {torch.bfloat16}
    # The tiny model has K = 1; with K = 2 an SRB's normalised output is the next one's input.
    drfm = DenseResidualFusion(6, 4, 8, 4, blocks=2, iterations=2, residual_scale=0.2).eval()
    dtypes = _feature_map_cat_dtypes(
        lambda x: drfm(x, torch.rand(1, 4, 8, 8)), torch.rand(1, 6, 16, 16), "cpu"
    )
    assert len(dtypes) == 10 and set(dtypes) == {torch.bfloat16}  # 2 SRBs x (2 + 3) maps


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (autocast float32 ops)")
def test_feature_map_concatenations_stay_bf16_under_cuda_autocast(tiny_model):
    model = copy.deepcopy(tiny_model).cuda().eval()
    dtypes = _feature_map_cat_dtypes(model, torch.rand(1, 3, 64, 64, device="cuda"), "cuda")
    assert len(dtypes) > 50 and set(dtypes) == {torch.bfloat16}

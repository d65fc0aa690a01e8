"""Defaults and plumbing of BAIM and the guided decoder, against segment-anything.

tests/test_sam_equivalence.py shows that a decoder built from explicit arguments computes what
segment-anything's modules compute (in float32). These cover what it leaves open (cases found by
mutation testing): the modules' own defaults, the ``attention_downsample`` argument reaching the
transformer, the LayerNorm epsilon (float64 makes a 1e-5 vs 1e-6 change visible), the
upscaling LayerNorm2d's epsilon (on near-constant pixels), the head check, and the scale of the
untrained positional encoding.
"""

from __future__ import annotations

import importlib
import inspect

import pytest
import torch
from segment_anything.modeling import transformer as sam_transformer
from segment_anything.modeling.common import LayerNorm2d as SamLayerNorm2d
from segment_anything.modeling.common import MLPBlock as SamMLPBlock

from pmgsam.modeling.common import LayerNorm2d
from pmgsam.modeling.config import ModelConfig
from pmgsam.modeling.mask_decoder import GuidedMaskDecoder
from pmgsam.modeling.transformer import Attention, BAIMBlock, MLPBlock, TwoWayTransformer

pytestmark = pytest.mark.usefixtures("one_thread")

_SAM_TWO_WAY = inspect.signature(sam_transformer.TwoWayTransformer).parameters
SAM_ACTIVATION = _SAM_TWO_WAY["activation"].default  # nn.ReLU
SAM_DOWNSAMPLE = _SAM_TWO_WAY["attention_downsample_rate"].default  # 2


def _perturbed(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """float64, eval mode, every parameter moved off its init (LayerNorms start at 1 / 0)."""
    gen = torch.Generator().manual_seed(seed)
    module = module.double().eval()
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return module


def _copy(ours: torch.nn.Module, ref: torch.nn.Module) -> torch.nn.Module:
    ours = ours.double()  # before loading: a float32 module would round the weights
    ours.load_state_dict(ref.state_dict(), strict=True)  # same names and shapes, key for key
    return ours.eval()


def _inputs(b=2, c=32, hw=(4, 6), tokens=5, seed=3):
    gen = torch.Generator().manual_seed(seed)
    image = torch.randn(b, c, *hw, generator=gen, dtype=torch.float64)
    image_pe = torch.randn(1, c, *hw, generator=gen, dtype=torch.float64)
    return image, image_pe, torch.randn(b, tokens, c, generator=gen, dtype=torch.float64)


def _assert_same(got, want):
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, atol=1e-12, rtol=1e-10)


def test_guided_decoder_defaults_are_sams_mask_decoder(monkeypatch):
    # segment-anything's build_sam gives every SAM the same two-way transformer; record its
    # arguments (the image encoder is stubbed out, nothing large is built).
    build_sam = importlib.import_module("segment_anything.build_sam")  # the module, not the
    # function the package exports under the same name

    class Recorded(Exception):
        pass

    def record(**kwargs):
        raise Recorded(kwargs)

    monkeypatch.setattr(build_sam, "ImageEncoderViT", lambda **kwargs: None)
    monkeypatch.setattr(build_sam, "TwoWayTransformer", record)
    with pytest.raises(Recorded) as info:
        build_sam.build_sam_vit_b()
    sam = info.value.args[0]

    torch.manual_seed(0)
    dec = GuidedMaskDecoder()
    layers = dec.transformer.layers
    assert len(layers) == sam["depth"]
    assert dec.output_token.weight.shape[1] == sam["embedding_dim"]
    assert layers[0].self_attn.num_heads == sam["num_heads"]
    assert layers[0].mlp.lin1.out_features == sam["mlp_dim"]
    assert all(type(layer.mlp.act) is SAM_ACTIVATION for layer in layers)
    for attn in (layers[0].cross_attn_token_to_image, dec.transformer.final_attn_token_to_image):
        assert attn.internal_dim == sam["embedding_dim"] // SAM_DOWNSAMPLE
    assert all(layer.bidirectional for layer in layers)
    # The decoder's remaining defaults are those of the paper model (the config defaults).
    config = ModelConfig()
    assert dec.patch_size == config.patch_size
    assert dec.high_res_sources == (config.high_res,)

    # Untrained positional encoding: segment-anything's default scale (N(0, 1) frequencies).
    gauss = dec.pe_layer.positional_encoding_gaussian_matrix
    assert gauss.shape == (2, sam["embedding_dim"] // 2)
    assert 0.85 < gauss.std().item() < 1.15


def test_attention_downsample_reaches_the_transformer():
    torch.manual_seed(0)
    ref = _perturbed(
        sam_transformer.TwoWayTransformer(
            depth=2, embedding_dim=32, num_heads=2, mlp_dim=64, attention_downsample_rate=4
        ),
        seed=1,
    )
    dec = GuidedMaskDecoder(
        dim=32, patch_size=4, depth=2, num_heads=2, mlp_dim=64, attention_downsample=4,
        high_res="none",
    )  # fmt: skip
    ours = _copy(dec.transformer, ref)
    args = _inputs()
    with torch.no_grad():
        _assert_same(ours(*args), ref(*args))


def test_baim_block_and_transformer_defaults_equal_segment_anything_in_float64():
    torch.manual_seed(0)
    ref_block = _perturbed(sam_transformer.TwoWayAttentionBlock(32, 2), seed=2)
    block = _copy(BAIMBlock(32, 2), ref_block)
    image, image_pe, tokens = _inputs()
    keys, key_pe = image.flatten(2).transpose(1, 2), image_pe.flatten(2).transpose(1, 2)
    queries = tokens + 0.5
    with torch.no_grad():
        _assert_same(block(queries, keys, tokens, key_pe), ref_block(queries, keys, tokens, key_pe))

    ref = _perturbed(sam_transformer.TwoWayTransformer(2, 32, 2, 64), seed=3)
    ours = _copy(TwoWayTransformer(2, 32, 2, 64), ref)
    with torch.no_grad():
        _assert_same(ours(image, image_pe, tokens), ref(image, image_pe, tokens))

    # The MLP on its own: segment-anything's two-way transformer activation by default.
    ref_mlp = _perturbed(SamMLPBlock(8, 16, act=SAM_ACTIVATION), seed=4)
    mlp = _copy(MLPBlock(8, 16), ref_mlp)
    x = torch.randn(3, 8, dtype=torch.float64)
    with torch.no_grad():
        _assert_same([mlp(x)], [ref_mlp(x)])


def test_attention_heads_must_divide_the_internal_width():
    Attention(32, 4, downsample_rate=4)  # internal width 8, two channels per head
    with pytest.raises(ValueError, match="3 heads"):
        Attention(32, 3)
    with pytest.raises(ValueError, match="16 heads do not divide internal dim 8"):
        Attention(32, 16, downsample_rate=4)


def test_upscaling_layernorm2d_equals_segment_anything_on_near_constant_pixels():
    # The decoder's LayerNorm2d normalises each pixel over its channels. On pixels whose
    # channels differ by ~1e-3 (variance ~1e-6) the epsilon dominates the denominator, so only
    # segment-anything's exact epsilon (1e-6) and channel axis give its output.
    ref = _perturbed(SamLayerNorm2d(6), seed=5)
    ours = _copy(LayerNorm2d(6), ref)
    gen = torch.Generator().manual_seed(6)
    x = 2.0 + 1e-3 * torch.randn(2, 6, 3, 5, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        _assert_same([ours(x)], [ref(x)])

"""Arithmetic of the fusion modules (DRFM, SRB, residual fusion, FeatRefiner, FPN routing) and
of the guided mask decoder's high-resolution path, rebuilt from torch.nn.functional ops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pmgsam.modeling.common import group_norm, group_norm_gelu
from pmgsam.modeling.fusion import (
    DenseResidualFusion,
    FeatRefiner,
    FusionStack,
    ResidualFusion,
    StabilizedResidualBlock,
    fpn_index_for_stride,
)
from pmgsam.modeling.mask_decoder import GuidedMaskDecoder

# --- arithmetic of the fusion and decoder modules (cases found by mutation testing) ---
# tests/test_model.py checks shapes and finiteness only. These rebuild each module's output from
# torch.nn.functional ops following DESIGN.md (and SAM2's mask decoder for the high-res path),
# reading only the weights from the module, so a wrong skip, scale, activation, routing or
# resize changes the result.


def _perturb(module: nn.Module, seed: int = 0) -> None:
    """Random values everywhere: norms start at weight 1 / bias 0 and would hide mistakes."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            if t.is_floating_point():
                t.add_(0.3 * torch.randn(t.shape, generator=gen))
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):  # a variance must stay positive
                m.running_var.uniform_(0.5, 2.0, generator=gen)


def _up(x: torch.Tensor, size: tuple) -> torch.Tensor:
    # The resize every module uses: bilinear, half-pixel centres (align_corners=False).
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def _conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, conv.weight, conv.bias, padding=conv.padding)


def _gn_gelu(norm: nn.GroupNorm, x: torch.Tensor) -> torch.Tensor:
    return F.gelu(F.group_norm(x, norm.num_groups, norm.weight, norm.bias, norm.eps))


def _srb_reference(
    block: StabilizedResidualBlock, x: torch.Tensor, h: torch.Tensor, scale: float = 0.2
) -> torch.Tensor:
    # DESIGN: iteration i sees the input, H and every earlier feature (GroupNorm + GELU); the
    # last maps back to the input width; the residual is scaled (0.2) and added to the input;
    # the paper's SRB ends with a GroupNorm of that sum (its output Y).
    feats = [x, h]
    for step in block.steps:
        feats.append(_gn_gelu(step[1], _conv(step[0], torch.cat(feats, 1))))
    y = x + scale * _conv(block.out, torch.cat(feats, 1))
    norm = block.norm
    return F.group_norm(y, norm.num_groups, norm.weight, norm.bias, norm.eps)


def test_fpn_level_for_each_u2net_stride():
    # FPN level 0 is stride 4; strides 1 and 2 (finer than Hiera) also take level 0.
    assert [fpn_index_for_stride(s) for s in (1, 2, 4, 8, 16, 32)] == [0, 0, 0, 1, 2, 3]


def test_fusion_stack_routes_each_fpn_map_to_its_strides():
    torch.manual_seed(0)
    stack = FusionStack("residual", [2] * 6, 3, [4] * 6, [2] * 6, 1, 2, 0.2).eval()
    s = 32
    u2net = [torch.randn(1, 2, s // st, s // st) for st in (1, 2, 4, 8, 16, 32)]
    fpn = [torch.randn(1, 3, s // st, s // st) for st in (4, 8, 16, 32)]
    with torch.no_grad():
        base = stack(u2net, fpn)
        for j, expected in enumerate([{0, 1, 2}, {3}, {4}, {5}]):
            moved = [f + 1.0 if i == j else f for i, f in enumerate(fpn)]
            out = stack(u2net, moved)
            changed = {k for k in range(6) if not torch.equal(out[k], base[k])}
            assert changed == expected, (j, changed)


@pytest.mark.parametrize("scale", [0.2, 0.5])
def test_drfm_equals_design_reference(scale: float):
    # K = 2 blocks of M = 3 iterations; the Hiera feature is at half the trunk's resolution,
    # so it is projected and then upsampled. Besides the paper's 0.2, a configured residual
    # scale (model.residual_scale) must reach both the SRBs and the long skip.
    torch.manual_seed(0)
    drfm = DenseResidualFusion(3, 5, 8, 4, blocks=2, iterations=3, residual_scale=scale)
    _perturb(drfm)
    u, h = torch.randn(2, 3, 8, 8), torch.randn(2, 5, 4, 4)
    with torch.no_grad():
        trunk = _conv(drfm.trunk_proj, u)
        hp = _up(_conv(drfm.hiera_proj, h), (8, 8))
        y = trunk
        for block in drfm.blocks:
            y = _srb_reference(block, y, hp, scale)
        expected = trunk + scale * y  # long skip with the scaled residual
        torch.testing.assert_close(drfm(u, h), expected, atol=1e-5, rtol=1e-5)


def test_srb_with_zero_output_conv_is_input_plus_scaled_bias():
    # By hand: the residual is 0.2 * out(.); with out's weights 0 and bias c it is 0.2 c, so
    # without the output norm (models saved before it) SRB(x, H) = x + 0.2 c whatever H is.
    block = StabilizedResidualBlock(4, 2, iterations=3, residual_scale=0.2, output_norm=False)
    with torch.no_grad():
        block.out.weight.zero_()
        block.out.bias.copy_(torch.tensor([1.0, -2.0, 0.5, 3.0]))
        x = torch.randn(1, 4, 5, 5)
        got = block(x, torch.randn(1, 4, 5, 5))
    torch.testing.assert_close(got, x + 0.2 * block.out.bias.view(1, 4, 1, 1))
    assert not any("norm" in name for name, _ in block.named_parameters() if "steps" not in name)


def test_srb_output_groupnorm_of_the_sum_by_hand():
    # With 4 channels the GroupNorm has 4 groups: each channel of x + 0.2 c is standardised over
    # its 5x5 pixels, so the constant 0.2 c cancels and the output is x standardised per channel
    # (times gamma, plus beta). A norm before the addition would keep 0.2 c; none keeps x's scale.
    block = StabilizedResidualBlock(4, 2, iterations=3, residual_scale=0.2)
    assert block.norm.num_groups == 4
    with torch.no_grad():
        block.out.weight.zero_()
        block.out.bias.copy_(torch.tensor([1.0, -2.0, 0.5, 3.0]))
        block.norm.weight.copy_(torch.tensor([2.0, 1.0, 0.5, 1.0]))
        block.norm.bias.copy_(torch.tensor([0.0, 1.0, -1.0, 0.25]))
        x = 3 * torch.randn(1, 4, 5, 5) + 7
        got = block(x, torch.randn(1, 4, 5, 5))
    xs = x.double().numpy()[0]
    mean = xs.mean(axis=(1, 2), keepdims=True)
    var = xs.var(axis=(1, 2), keepdims=True)  # biased, as GroupNorm's
    gamma = np.array([2.0, 1.0, 0.5, 1.0])[:, None, None]
    beta = np.array([0.0, 1.0, -1.0, 0.25])[:, None, None]
    expected = (xs - mean) / np.sqrt(var + 1e-5) * gamma + beta
    np.testing.assert_allclose(got[0].double().numpy(), expected, atol=1e-5)


def test_residual_fusion_is_add_conv_bn_relu():
    # DESIGN ablation baseline: element-wise addition, then Conv-BN-ReLU (eval statistics).
    torch.manual_seed(0)
    fusion = ResidualFusion(3, 5, 6)
    _perturb(fusion)
    fusion.eval()
    u, h = torch.randn(2, 3, 8, 8), torch.randn(2, 5, 4, 4)
    conv, bn = fusion.fuse[0], fusion.fuse[1]
    with torch.no_grad():
        summed = _conv(fusion.trunk_proj, u) + _up(_conv(fusion.hiera_proj, h), (8, 8))
        z = F.batch_norm(
            _conv(conv, summed),
            bn.running_mean,
            bn.running_var,
            bn.weight,
            bn.bias,
            False,
            0.0,
            bn.eps,
        )
        got = fusion(u, h)
    torch.testing.assert_close(got, F.relu(z), atol=1e-5, rtol=1e-5)
    assert (got == 0).any()  # ReLU clips exactly at 0 (GELU would leave small negatives)


def test_project_upsamples_hiera_with_half_pixel_centres():
    # A 1x2 map [0, 1] upsampled to 1x4 with align_corners=False samples the source at
    # x = -0.25, 0.25, 0.75, 1.25 (edges clamped): [0, 0.25, 0.75, 1].
    fusion = ResidualFusion(1, 1, 1)
    with torch.no_grad():
        fusion.hiera_proj.weight.fill_(1.0)
        fusion.hiera_proj.bias.zero_()
        _, h = fusion.project(torch.zeros(1, 1, 1, 4), torch.tensor([[[[0.0, 1.0]]]]))
    torch.testing.assert_close(h, torch.tensor([[[[0.0, 0.25, 0.75, 1.0]]]]))


def test_feat_refiner_equals_design_reference():
    # Reduce each level to dim channels at its own resolution, upsample to the finest, concat,
    # 3x3 conv + GroupNorm + GELU, then the 1x1 head.
    torch.manual_seed(0)
    channels = [3, 4, 5, 6, 7, 8]
    refiner = FeatRefiner(channels, dim=4)
    _perturb(refiner)
    feats = [torch.randn(2, c, 32 >> i, 32 >> i) for i, c in enumerate(channels)]
    with torch.no_grad():
        maps = [_up(_conv(r, f), (32, 32)) for r, f in zip(refiner.reduce, feats)]
        fused = _gn_gelu(refiner.fuse[1], _conv(refiner.fuse[0], torch.cat(maps, 1)))
        expected = _conv(refiner.head, fused)
        torch.testing.assert_close(refiner(feats), expected, atol=1e-5, rtol=1e-5)


def test_decoder_high_res_path_equals_sam2_recipe():
    # SAM2's MaskDecoder.predict_masks: act1(ln1(dc1(src) + feat_s1)), then
    # act2(dc2(.) + feat_s0); with high_res="both" each feat is the sum of the Hiera and U2-Net
    # 1x1 projections. The mask is 16x16 here and is resized bilinearly to the 64x64 Pre-Mask
    # size (test_sam_equivalence only covers high_res="none" with no final resize).
    torch.manual_seed(0)
    dec = GuidedMaskDecoder(
        dim=32,
        patch_size=16,
        depth=1,
        num_heads=2,
        mlp_dim=64,
        high_res="both",
        u2net_high_res_channels=(6, 10),
    )
    _perturb(dec)
    dec.eval()
    b = 2
    pre = torch.randn(b, 1, 64, 64)
    image = torch.randn(b, 32, 4, 4)
    h4, h8 = torch.randn(b, 32, 16, 16), torch.randn(b, 32, 8, 8)
    u4, u8 = torch.randn(b, 6, 16, 16), torch.randn(b, 10, 8, 8)
    with torch.no_grad():
        patches = dec.mask_embed(torch.sigmoid(pre)) + dec.pe_layer((4, 4)).unsqueeze(0)
        tokens = torch.cat(
            [dec.output_token.weight.expand(b, -1, -1), patches.flatten(2).transpose(1, 2)], 1
        )
        hs, src = dec.transformer(image, dec.pe_layer((4, 4)).unsqueeze(0), tokens)
        src = src.transpose(1, 2).reshape(b, 32, 4, 4)
        feat_s0 = dec.conv_s0(h4) + dec.conv_s0_u2net(u4)
        feat_s1 = dec.conv_s1(h8) + dec.conv_s1_u2net(u8)
        dc1, ln1, act1, dc2, act2 = dec.output_upscaling
        up = act1(ln1(dc1(src) + feat_s1))
        up = act2(dc2(up) + feat_s0)
        hyper = dec.output_hypernetwork_mlp(hs[:, 0])
        masks = (hyper.unsqueeze(1) @ up.flatten(2)).view(b, 1, 16, 16)
        expected = _up(masks, (64, 64))
        got = dec(pre, image, {"hiera": (h4, h8), "u2net": (u4, u8)})
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_an_unknown_fusion_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fusion mode 'dfrm'"):
        FusionStack("dfrm", [8], 8, [8], [4], 1, 1, 0.1)


def test_group_norm_group_counts_by_hand():
    # A GroupNorm's group count is not in the state dict (only its per-channel weight and
    # bias), so a trained checkpoint loads into any count without complaint and computes
    # something else. The rule (common.group_norm): the largest count <= 8 dividing the width.
    widths = (4, 6, 7, 9, 10, 11, 12, 14, 16, 96)
    expected = (4, 6, 7, 3, 5, 1, 6, 7, 8, 8)
    assert tuple(group_norm(c).num_groups for c in widths) == expected
    assert tuple(group_norm_gelu(c).num_groups for c in widths) == expected
    block = StabilizedResidualBlock(12, 10, iterations=2, residual_scale=0.2)
    assert (block.steps[0][1].num_groups, block.norm.num_groups) == (5, 6)
    assert FeatRefiner([4] * 6, dim=12).fuse[1].num_groups == 6

"""Hiera branch construction and the FPN neck, against hiera-transformer and SAM2.

tests/test_weights.py and tests/test_performance_equivalence.py compare the Hiera-T forward with
the package's; these cover what they leave open (cases found by mutation testing): the other
variants' specs, freezing, argument checks, and the neck's arithmetic, for which SAM2's own
``FpnNeck`` is the reference.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from pmgsam.modeling.image_encoder import HIERA_SPECS, FpnNeck, HieraBranch

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=FutureWarning, module="timm")
    import hiera
    import hiera.hiera

pytestmark = pytest.mark.usefixtures("one_thread")


class _Built(Exception):
    """Raised by the recording stand-in for ``Hiera`` so nothing large is ever built."""


def _record_hiera_kwargs(monkeypatch) -> None:
    def fake_hiera(**kwargs):
        raise _Built(kwargs)

    # The factories read hiera.hiera.Hiera; HieraBranch imports it from the package.
    monkeypatch.setattr(hiera.hiera, "Hiera", fake_hiera)
    monkeypatch.setattr(hiera, "Hiera", fake_hiera)


def _spec(kwargs: dict) -> tuple:
    return kwargs["embed_dim"], kwargs["num_heads"], tuple(kwargs["stages"])


@pytest.mark.parametrize("variant", ["tiny", "small", "base", "base_plus", "large"])
def test_hiera_specs_equal_hiera_transformer_factories(monkeypatch, variant):
    _record_hiera_kwargs(monkeypatch)
    factory = getattr(hiera, f"hiera_{variant}_224")
    with pytest.raises(_Built) as published:
        factory(pretrained=False)
    assert HIERA_SPECS[variant] == _spec(published.value.args[0])
    # ... and the branch passes exactly that spec on, for its own input size.
    with pytest.raises(_Built) as ours:
        HieraBranch(variant, image_size=64)
    assert _spec(ours.value.args[0]) == _spec(published.value.args[0])
    assert tuple(ours.value.args[0]["input_size"]) == (64, 64)


def test_hiera_branch_defaults_are_the_paper_model(monkeypatch):
    from pmgsam.modeling.config import ModelConfig

    _record_hiera_kwargs(monkeypatch)
    default = ModelConfig()
    with pytest.raises(_Built) as ours:
        HieraBranch()
    with pytest.raises(_Built) as published:
        getattr(hiera, f"hiera_{default.hiera}_224")(pretrained=False)
    assert _spec(ours.value.args[0]) == _spec(published.value.args[0])
    assert tuple(ours.value.args[0]["input_size"]) == (default.image_size,) * 2


def test_hiera_branch_arguments_are_checked():
    with pytest.raises(ValueError, match="multiple of 32"):
        HieraBranch("tiny", 240)  # a multiple of 16 (the patch stride 4 × 4) but not of 32
    with pytest.raises(ValueError, match=r"unknown Hiera variant 'huge'.*base_plus"):
        HieraBranch("huge", 64)


def test_hiera_branch_is_frozen_and_stays_in_eval_mode():
    branch = HieraBranch("tiny", 64)
    assert branch.channels == (96, 192, 384, 768)
    assert not any(p.requires_grad for p in branch.parameters())
    assert branch.train() is branch
    assert not any(m.training for m in branch.modules())
    # The switch records what it installed.
    branch.set_window_batched_attention(False)
    assert branch.window_batched_attention is False
    branch.set_window_batched_attention(True)
    assert branch.window_batched_attention is True


def test_hiera_maps_keep_the_model_memory_format():
    torch.manual_seed(0)
    branch = HieraBranch("tiny", 64)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        maps = branch(x)
        assert all(m.is_contiguous() for m in maps)
        branch.to(memory_format=torch.channels_last)
        last = branch(x)
    assert all(m.is_contiguous(memory_format=torch.channels_last) for m in last)
    for a, b in zip(maps, last):
        torch.testing.assert_close(a, b)


# ---------------------------------------------------------------- FPN neck vs SAM2


def _sam2_neck_pair(levels, channels=(3, 5, 7, 9), dim=4, seed=0):
    # sam2 is the optional [sam2] extra, absent where torch < 2.5.1 (sam2 requires that).
    pytest.importorskip("sam2", reason="the optional sam2 extra is not installed")
    from sam2.modeling.backbones.image_encoder import FpnNeck as Sam2FpnNeck
    from sam2.modeling.position_encoding import PositionEmbeddingSine

    torch.manual_seed(seed)
    ours = FpnNeck(channels, dim, levels)
    # SAM2 configures its neck with the channel list coarsest first and nearest interpolation.
    ref = Sam2FpnNeck(
        PositionEmbeddingSine(dim),
        dim,
        list(reversed(channels)),
        fpn_interp_model="nearest",
        fpn_top_down_levels=levels,
    )
    n = len(channels) - 1
    with torch.no_grad():
        for i, lateral in enumerate(ours.lateral):
            ref.convs[n - i].conv.weight.copy_(lateral.weight)
            ref.convs[n - i].conv.bias.copy_(lateral.bias)
    return ours.eval(), ref.eval()


@pytest.mark.parametrize("levels", [[2, 3], [0, 3], [0, 1, 2, 3], [1]])
def test_fpn_neck_equals_sam2_fpn_neck(levels):
    ours, ref = _sam2_neck_pair(levels)
    gen = torch.Generator().manual_seed(1)
    feats = [torch.randn(2, c, 16 >> i, 16 >> i, generator=gen) for i, c in enumerate((3, 5, 7, 9))]
    with torch.no_grad():
        expected, _ = ref(feats)
        got = ours(feats)
        # The top-down pathway must matter at every level it reaches.
        laterals = [conv(f) for conv, f in zip(ours.lateral, feats)]
    assert len(got) == 4
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g.shape == e.shape == (2, 4, 16 >> i, 16 >> i)
        torch.testing.assert_close(g, e, atol=1e-6, rtol=1e-6)
        if i in levels and i < 3:
            assert not torch.allclose(g, laterals[i])
        else:
            assert torch.equal(g, laterals[i])

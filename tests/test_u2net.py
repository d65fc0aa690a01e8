"""Tests for the U²-Net branch: official layout, exact forward semantics, checkpoint loading."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from pmgsam.modeling.u2net import (
    REBNCONV,
    RSU,
    U2NET,
    U2NETP,
    _U2NetBase,
    _upsample_like,
    build_u2net,
)
from pmgsam.modeling.weights import load_u2net_checkpoint

# Provenance: tests/fixtures/README.md (a copy of the project's shared reference layout of the
# official model/u2net.py, not generated from this package).
FIXTURE = Path(__file__).parent / "fixtures" / "u2net_state_dict_layout.json"
FIXTURE_SHA256 = "fe988bc8ad28610bbd41ff9942fe3395e9af24d1da5545c6a33367852f1fe306"
VARIANTS = {"u2net": U2NET, "u2netp": U2NETP}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def layout() -> dict:
    return json.loads(FIXTURE.read_text())


def _randomised(cls, seed: int, dtype=torch.float64):
    """Eval-mode model with seeded random weights and non-trivial BatchNorm statistics."""
    torch.manual_seed(seed)
    model = cls()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("bn_s1.weight"):
                tensor.uniform_(0.5, 1.5)
            elif name.endswith(("bn_s1.bias", "running_mean")):
                tensor.normal_(0.0, 0.1)
            elif name.endswith("running_var"):
                tensor.uniform_(0.5, 2.0)
    return model.to(dtype).eval()


@pytest.fixture(scope="module")
def models() -> dict:
    return {name: _randomised(cls, seed=i) for i, (name, cls) in enumerate(VARIANTS.items())}


# ---------------------------------------------------------------- functional reference
# Written independently of the module: structure from the U²-Net paper / official code,
# weights looked up by key, recursion instead of loops.

_STAGE_HEIGHT = {"stage1": 7, "stage2": 6, "stage3": 5, "stage4": 4, "stage5": 0, "stage6": 0}
_STAGE_HEIGHT.update({"stage5d": 0, "stage4d": 4, "stage3d": 5, "stage2d": 6, "stage1d": 7})


def _cbr(sd, prefix, x, dilation):
    x = F.conv2d(
        x, sd[prefix + ".conv_s1.weight"], sd[prefix + ".conv_s1.bias"], 1, dilation, dilation
    )
    bn = prefix + ".bn_s1."
    x = F.batch_norm(
        x, sd[bn + "running_mean"], sd[bn + "running_var"], sd[bn + "weight"], sd[bn + "bias"],
        training=False, eps=1e-5,
    )  # fmt: skip
    return F.relu(x)


def _up(src, tar):
    return F.interpolate(src, size=tar.shape[2:], mode="bilinear", align_corners=False)


def _pool(x):
    return F.max_pool2d(x, 2, 2, ceil_mode=True)


def _ref_rsu(sd, p, x, height):
    hxin = _cbr(sd, p + ".rebnconvin", x, 1)
    if height == 0:  # RSU-4F: dilations 1, 2, 4, 8 down and 4, 2, 1 up, no resampling
        h1 = _cbr(sd, p + ".rebnconv1", hxin, 1)
        h2 = _cbr(sd, p + ".rebnconv2", h1, 2)
        h3 = _cbr(sd, p + ".rebnconv3", h2, 4)
        h4 = _cbr(sd, p + ".rebnconv4", h3, 8)
        d3 = _cbr(sd, p + ".rebnconv3d", torch.cat((h4, h3), 1), 4)
        d2 = _cbr(sd, p + ".rebnconv2d", torch.cat((d3, h2), 1), 2)
        return _cbr(sd, p + ".rebnconv1d", torch.cat((d2, h1), 1), 1) + hxin

    def level(i, inp):
        hi = _cbr(sd, f"{p}.rebnconv{i}", inp, 1)
        if i == height - 1:
            bottom = _cbr(sd, f"{p}.rebnconv{height}", hi, 2)
            return _cbr(sd, f"{p}.rebnconv{i}d", torch.cat((bottom, hi), 1), 1)
        deeper = level(i + 1, _pool(hi))
        return _cbr(sd, f"{p}.rebnconv{i}d", torch.cat((_up(deeper, hi), hi), 1), 1)

    return level(1, hxin) + hxin


def _reference(sd, x):
    """Return (official 7 outputs, [hx1d, hx2d, hx3d, hx4d, hx5d, hx6])."""

    def stage(name, inp):
        return _ref_rsu(sd, name, inp, _STAGE_HEIGHT[name])

    hx1 = stage("stage1", x)
    hx2 = stage("stage2", _pool(hx1))
    hx3 = stage("stage3", _pool(hx2))
    hx4 = stage("stage4", _pool(hx3))
    hx5 = stage("stage5", _pool(hx4))
    hx6 = stage("stage6", _pool(hx5))
    hx5d = stage("stage5d", torch.cat((_up(hx6, hx5), hx5), 1))
    hx4d = stage("stage4d", torch.cat((_up(hx5d, hx4), hx4), 1))
    hx3d = stage("stage3d", torch.cat((_up(hx4d, hx3), hx3), 1))
    hx2d = stage("stage2d", torch.cat((_up(hx3d, hx2), hx2), 1))
    hx1d = stage("stage1d", torch.cat((_up(hx2d, hx1), hx1), 1))
    feats = [hx1d, hx2d, hx3d, hx4d, hx5d, hx6]

    def side(i):
        return F.conv2d(feats[i - 1], sd[f"side{i}.weight"], sd[f"side{i}.bias"], padding=1)

    d1 = side(1)
    sides = [d1] + [_up(side(i), d1) for i in range(2, 7)]
    d0 = F.conv2d(torch.cat(sides, 1), sd["outconv.weight"], sd["outconv.bias"])
    return tuple(torch.sigmoid(t) for t in [d0, *sides]), feats


# ---------------------------------------------------------------- layout


@pytest.mark.parametrize("name", list(VARIANTS))
def test_state_dict_layout_matches_official(layout, name):
    expected = layout[name]["state_dict"]
    # Keys, shapes and counts only: built on the meta device, without drawing 44 M weights.
    with torch.device("meta"):
        model = VARIANTS[name]()
    state = model.state_dict()
    assert list(state) == list(expected)  # same keys in the same order
    shapes = {k: list(v.shape) for k, v in state.items()}
    assert shapes == expected
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == layout[name]["num_parameters"]


def test_layout_fixture_is_the_recorded_reference(layout):
    assert hashlib.sha256(FIXTURE.read_bytes()).hexdigest() == FIXTURE_SHA256
    # The published parameter counts, written out here rather than read from the fixture.
    assert layout["u2net"]["num_parameters"] == 44_009_869
    assert layout["u2netp"]["num_parameters"] == 1_131_181


# Dilations of the official RSU blocks (model/u2net.py): plain RSU-L dilates only its bottom
# layer by 2; RSU-4F uses 1, 2, 4, 8 going down and 4, 2, 1 coming up. Shapes (and so the
# layout fixture) cannot tell a wrong dilation apart.
_RSU4F_DILATIONS = {"rebnconvin": 1, "rebnconv1": 1, "rebnconv2": 2, "rebnconv3": 4,
                    "rebnconv4": 8, "rebnconv3d": 4, "rebnconv2d": 2, "rebnconv1d": 1}  # fmt: skip


@pytest.mark.parametrize("name", list(VARIANTS))
def test_dilations_match_official(name):
    with torch.device("meta"):  # dilations and paddings only: no weights drawn
        model = VARIANTS[name]()
    for stage, height in _STAGE_HEIGHT.items():
        block = getattr(model, stage)
        for sub, module in block.named_children():
            if not isinstance(module, REBNCONV):
                continue
            if height == 0:
                want = _RSU4F_DILATIONS[sub]
            else:
                want = 2 if sub == f"rebnconv{height}" else 1
            conv = module.conv_s1
            assert conv.dilation == (want, want) and conv.padding == (want, want), (stage, sub)


def test_primitives_on_hand_computed_cases():
    # REBNCONV with dilation 2: only the top-left tap is 1, so the output is the input shifted
    # by (+2, +2) and scaled by BatchNorm's 1/sqrt(1 + eps); padding keeps the 5×5 size.
    unit = REBNCONV(1, 1, dirate=2).eval()
    with torch.no_grad():
        unit.conv_s1.weight.zero_()
        unit.conv_s1.weight[0, 0, 0, 0] = 1.0
        unit.conv_s1.bias.zero_()
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 3.0
    expected = torch.zeros(1, 1, 5, 5)
    expected[0, 0, 4, 4] = 3.0 / math.sqrt(1 + 1e-5)
    with torch.no_grad():
        torch.testing.assert_close(unit(x), expected)
        sd = {f"u.{k}": v for k, v in unit.state_dict().items()}
        torch.testing.assert_close(_cbr(sd, "u", x, 2), expected)

    # Upsampling to the skip tensor's size, half-pixel bilinear: 2×2 → 3×3 samples the source
    # at -1/6 (clamped to 0), 1/2 and 7/6 (clamped to 1) along each axis.
    src = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    want = torch.tensor([[[[0.0, 0.5, 1.0], [1.0, 1.5, 2.0], [2.0, 2.5, 3.0]]]])
    target = torch.zeros(1, 1, 3, 3)
    torch.testing.assert_close(_upsample_like(src, target), want)
    torch.testing.assert_close(_up(src, target), want)

    # 2×2 max pooling with ceil_mode: a 3×3 map gives 2×2, the last row/column pooled alone.
    grid = torch.arange(9.0).reshape(1, 1, 3, 3)
    pooled = torch.tensor([[[[4.0, 5.0], [7.0, 8.0]]]])
    assert torch.equal(U2NETP().pool(grid), pooled)
    assert torch.equal(_pool(grid), pooled)


def test_build_u2net_registry(layout):
    with torch.device("meta"):  # types and shapes only
        built = {name: build_u2net(name) for name in VARIANTS}
    assert type(built["u2net"]) is U2NET
    assert type(built["u2netp"]) is U2NETP
    # Built for the published 3-in / 1-out checkpoints: every key with the official shape.
    for name, model in built.items():
        shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
        assert shapes == layout[name]["state_dict"], name
    with pytest.raises(ValueError, match=r"'u2net', 'u2netp'"):
        build_u2net("u2net_lite")


# ---------------------------------------------------------------- forward semantics


@pytest.mark.parametrize("name", list(VARIANTS))
@pytest.mark.parametrize("size", [(35, 29), (32, 32)])  # odd sizes exercise ceil-mode pooling
def test_forward_matches_functional_reference(models, name, size):
    model = models[name]
    x = torch.randn(2, 3, *size, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        outputs = model(x)
        feats = model.features(x)
        ref_outputs, ref_feats = _reference(model.state_dict(), x)
    assert len(outputs) == 7
    for got, want in zip(outputs, ref_outputs):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
    assert len(feats) == len(ref_feats) == 6
    for got, want in zip(feats, ref_feats):
        scale = want.abs().max().item()
        assert scale > 0
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10 * scale)
    # The maps must be informative, not saturated constants, for the comparison to bite.
    assert all(0.0 < o.std().item() for o in outputs[1:])


@pytest.mark.parametrize("name", list(VARIANTS))
def test_official_outputs_shape_range_and_order(models, name):
    model = models[name]
    x = torch.randn(1, 3, 67, 53, dtype=torch.float64)
    captured = {}
    hooks = [
        getattr(model, m).register_forward_hook(
            lambda _m, _i, out, m=m: captured.__setitem__(m, out)
        )
        for m in ["outconv", *(f"side{i}" for i in range(1, 7))]
    ]
    try:
        with torch.no_grad():
            outputs = model(x)
    finally:
        for hook in hooks:
            hook.remove()
    assert isinstance(outputs, tuple) and len(outputs) == 7
    for out in outputs:
        assert out.shape == (1, 1, 67, 53)
        assert out.min() >= 0 and out.max() <= 1
    # d0 is the fused map, d1 the full-resolution side, d2..d6 upsampled coarser sides.
    torch.testing.assert_close(outputs[0], torch.sigmoid(captured["outconv"]))
    torch.testing.assert_close(outputs[1], torch.sigmoid(captured["side1"]))
    for i in range(2, 7):
        side = captured[f"side{i}"]
        assert side.shape[-1] < 53
        torch.testing.assert_close(outputs[i], torch.sigmoid(_up(side, x)))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_features_shapes_and_equality_with_forward(models, name):
    model = models[name]
    assert model.feature_strides == (1, 2, 4, 8, 16, 32)
    assert model.feature_channels == (
        (64, 64, 128, 256, 512, 512) if name == "u2net" else (64,) * 6
    )
    stages = ["stage1d", "stage2d", "stage3d", "stage4d", "stage5d", "stage6"]
    captured = {}
    hooks = [
        getattr(model, s).register_forward_hook(
            lambda _m, _i, out, s=s: captured.__setitem__(s, out)
        )
        for s in stages
    ]
    for h, w in [(32, 32), (35, 29)]:
        x = torch.randn(1, 3, h, w, dtype=torch.float64)
        captured.clear()
        with torch.no_grad():
            model(x)
            from_forward = [captured[s] for s in stages]
            feats = model.features(x)
        assert isinstance(feats, list) and len(feats) == 6
        for feat, channels, stride, ref in zip(
            feats, model.feature_channels, model.feature_strides, from_forward
        ):
            # ceil_mode pooling: every level has ceil(size / stride) pixels.
            assert feat.shape == (1, channels, math.ceil(h / stride), math.ceil(w / stride))
            assert torch.equal(feat, ref)
    for hook in hooks:
        hook.remove()


def test_module_does_not_normalise_input():
    model = _randomised(U2NETP, seed=3)
    x = torch.rand(1, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        plain = model.features(x)[0]
        shifted = model.features((x - 0.5) / 0.25)[0]
    assert not torch.allclose(plain, shifted)


# ---------------------------------------------------------------- checkpoint loading


@pytest.mark.parametrize("prefix", ["", "module."])
def test_checkpoint_round_trip(tmp_path, prefix):
    source = _randomised(U2NETP, seed=11, dtype=torch.float32)
    path = tmp_path / "u2netp.pth"
    torch.save({prefix + k: v for k, v in source.state_dict().items()}, path)
    target = U2NETP()
    assert target is load_u2net_checkpoint(target, path)
    loaded = target.state_dict()  # once: state_dict() walks the whole module tree
    for key, value in source.state_dict().items():
        assert torch.equal(loaded[key], value), key


def test_checkpoint_without_num_batches_tracked_loads(tmp_path):
    source = _randomised(U2NETP, seed=12, dtype=torch.float32)
    state = {k: v for k, v in source.state_dict().items() if "num_batches_tracked" not in k}
    path = tmp_path / "legacy.pth"
    torch.save(state, path)
    target = load_u2net_checkpoint(U2NETP(), path)
    assert torch.equal(target.side1.weight, source.side1.weight)
    assert target.stage1.rebnconvin.bn_s1.num_batches_tracked.item() == 0


def test_bad_checkpoint_raises_with_named_keys(tmp_path):
    state = U2NETP().state_dict()
    del state["stage3.rebnconv2.conv_s1.weight"]
    state["stage9.extra.weight"] = torch.zeros(3)
    state["outconv.weight"] = torch.zeros(2, 6, 1, 1)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    target = U2NETP()
    before = target.outconv.weight.clone()
    with pytest.raises(ValueError) as info:
        load_u2net_checkpoint(target, path)
    message = str(info.value)
    assert "bad.pth" in message
    assert "missing keys (1)" in message and "stage3.rebnconv2.conv_s1.weight" in message
    assert "unexpected keys (1)" in message and "stage9.extra.weight" in message
    assert "shape mismatches (1)" in message and "outconv.weight" in message
    assert "(2, 6, 1, 1)" in message
    assert torch.equal(target.outconv.weight, before)  # nothing was loaded


def test_bad_checkpoint_truncates_long_key_lists(tmp_path):
    path = tmp_path / "u2net_as_u2netp.pth"
    torch.save(U2NETP().state_dict(), path)
    with pytest.raises(ValueError) as info:
        load_u2net_checkpoint(U2NET(), path)
    message = str(info.value)
    assert "shape mismatches (" in message and "more" in message
    assert message.count("vs model") == 10


def test_rsu_and_u2net_refuse_impossible_specs() -> None:
    with pytest.raises(ValueError, match="RSU height must be >= 2, got 1"):
        RSU(1, 3, 4, 4)
    with pytest.raises(ValueError, match="U²-Net needs 6 encoder and 5 decoder stage specs"):
        _U2NetBase([], [])

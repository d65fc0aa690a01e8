"""PMG-SAM model: registry sweep, frozen branches, ablation switches, bad input, own checkpoints,
which level each part receives and config fields reaching the modules (the fusion and decoder
arithmetic: tests/test_fusion_decoder_arithmetic.py)."""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict

import pytest
import torch

import pmgsam
from pmgsam.efficiency import count_flops, count_parameters
from pmgsam.modeling.build import model_config
from pmgsam.modeling.checkpoint import load_model_weights, save_model
from pmgsam.modeling.weights import CheckpointError
from pmgsam.utils.config import ConfigError

SMALL = 64


@pytest.fixture(scope="module")
def tiny(seed0_tiny):
    return seed0_tiny().eval()  # pmgsam_tiny at 64 px, seed 0 (a copy of the session's build)


@pytest.fixture(scope="module")
def small_tiny(small_tiny_model):
    return small_tiny_model.eval()  # pmgsam_tiny at 64 px, seed 0, conftest's small Hiera


@pytest.fixture(scope="module")
def variant() -> Callable[[str], torch.nn.Module]:
    """``variant(name)``: the registered model ``name`` at 64 px (seed 0, eval mode), built once
    per module: the sweep and the budget share the Hiera-B+ one (113 M weights). Read-only."""
    built: Dict[str, torch.nn.Module] = {}

    def get(name: str) -> torch.nn.Module:
        if name not in built:
            torch.manual_seed(0)
            built[name] = pmgsam.build_model(name, image_size=SMALL).eval()
        return built[name]

    return get


@pytest.mark.parametrize("name", pmgsam.list_models())
def test_every_variant_builds_and_runs(name, variant):
    model = variant(name)
    torch.manual_seed(0)
    x = torch.rand(2, 3, SMALL, SMALL)
    with torch.no_grad():
        out = model(x)
        single = model(x[1:])
    assert set(out) == {"pre_mask", "mask"}
    for value in out.values():
        assert value.shape == (2, 1, SMALL, SMALL)
        assert torch.isfinite(value).all()
    # Batch items are independent: item 1 alone gives the same logits as inside the batch.
    torch.testing.assert_close(single["mask"], out["mask"][1:], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(single["pre_mask"], out["pre_mask"][1:], atol=1e-4, rtol=1e-4)


def test_paper_default_budget(variant):
    """Trainable parameters of the paper default stay in the design's 15–30 M window."""
    model = variant("pmgsam_hiera_b+")
    params = count_parameters(model)
    hiera_pos = model.hiera.trunk.pos_embed.numel()
    assert 15e6 <= params["trainable"] <= 30e6
    assert params["frozen"] == sum(p.numel() for p in model.hiera.parameters()) + sum(
        p.numel() for p in model.u2net.parameters()
    )
    assert sum(p.numel() for p in model.u2net.parameters()) == 44_009_869
    assert hiera_pos == (SMALL // 4) ** 2 * 112


def test_encode_returns_raw_branch_features(tiny):
    # Two images of different brightness (maxima 0.5 and 0.8), so that each normalisation
    # step shows: Hiera takes ImageNet-normalised pixels; U²-Net, as in the official
    # ToTensorLab, first divides each image by its own maximum over all channels (a batch-wide
    # maximum, a per-channel one, or none at all would feed other inputs).
    torch.manual_seed(1)
    x = torch.rand(2, 3, SMALL, SMALL) * torch.tensor([0.5, 0.8]).view(2, 1, 1, 1)
    x[0, 1, 0, 0], x[1, 2, 5, 5] = 0.5, 0.8
    feats = tiny.encode(x)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    peak = torch.tensor([0.5, 0.8]).view(2, 1, 1, 1)
    with torch.no_grad():
        hiera = tiny.hiera((x - mean) / std)
        u2net = tiny.u2net.features((x / peak - mean) / std)
    for got, want in zip(feats["hiera"] + feats["u2net"], hiera + u2net):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert [f.shape[-1] for f in feats["hiera"]] == [SMALL // s for s in (4, 8, 16, 32)]
    assert [f.shape[1] for f in feats["hiera"]] == [96, 192, 384, 768]
    assert [f.shape[-1] for f in feats["u2net"]] == [SMALL // s for s in (1, 2, 4, 8, 16, 32)]
    assert [f.shape[1] for f in feats["u2net"]] == list(tiny.u2net.feature_channels)
    assert not any(f.requires_grad for f in feats["hiera"] + feats["u2net"])


def test_frozen_branches_stay_frozen_after_a_step(small_branches):
    # small_branches: every kind of Hiera tensor is there, in 1 M weights instead of 27 M.
    torch.manual_seed(0)
    model = pmgsam.build_model("pmgsam_tiny", image_size=SMALL)
    model.train()
    assert not model.hiera.training and not model.u2net.training
    assert model.decoder.training and model.fusion.training
    frozen = {
        k: v.clone() for k, v in model.state_dict().items() if k.startswith(("hiera.", "u2net."))
    }
    trainable_before = {k: v.clone() for k, v in model.trainable_state_dict().items()}
    opt = torch.optim.AdamW(model.trainable_parameters(), lr=1e-3)
    x, y = torch.rand(2, 3, SMALL, SMALL), (torch.rand(2, 1, SMALL, SMALL) > 0.5).float()
    out = model(x)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(out["mask"], y)
    loss.backward()
    for name, p in model.named_parameters():
        if name.startswith(("hiera.", "u2net.")):
            assert p.grad is None, name
    grads = [p.grad for p in model.trainable_parameters()]
    assert all(g is not None for g in grads)
    opt.step()
    for k, v in model.state_dict().items():
        if k in frozen:
            assert torch.equal(v, frozen[k]), f"frozen tensor {k} changed"
    changed = [
        k
        for k, v in model.trainable_state_dict().items()
        if not torch.equal(v, trainable_before[k])
    ]
    assert len(changed) > 0.5 * len(trainable_before)
    # BatchNorm running statistics of the frozen U²-Net did not move either.
    assert torch.equal(
        model.u2net.stage1.rebnconvin.bn_s1.running_mean,
        frozen["u2net.stage1.rebnconvin.bn_s1.running_mean"],
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"fusion": "none"},
        {"fusion": "residual"},
        {"high_res": "none"},
        {"high_res": "u2net"},
        {"high_res": "both"},
        {"bidirectional": False},
        {"drfm_blocks": 2, "srb_iterations": 3, "decoder_depth": 2},
    ],
)
def test_ablation_switches(overrides, small_branches):
    # small_branches: the switches change the fusion and the decoder; the Hiera's size is moot.
    torch.manual_seed(0)
    model = pmgsam.build_model("pmgsam_tiny", image_size=SMALL, **overrides).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, SMALL, SMALL))
    assert out["mask"].shape == (1, 1, SMALL, SMALL) and torch.isfinite(out["mask"]).all()
    keys = set(model.trainable_state_dict())
    has_i2m = any("cross_attn_image_to_token" in k for k in keys)
    assert has_i2m == overrides.get("bidirectional", True)
    high_res = overrides.get("high_res", "hiera")
    assert ("decoder.conv_s0.weight" in keys) == (high_res in ("hiera", "both"))
    assert ("decoder.conv_s0_u2net.weight" in keys) == (high_res in ("u2net", "both"))
    fusion = overrides.get("fusion", "drfm")
    assert any(".blocks.0.steps." in k for k in keys) == (fusion == "drfm")
    assert any(".hiera_proj." in k for k in keys) == (fusion != "none")
    if "drfm_blocks" in overrides:
        assert len(model.fusion.levels[0].blocks) == 2
        assert len(model.fusion.levels[0].blocks[0].steps) == 2  # M - 1 growth steps
        assert len(model.decoder.transformer.layers) == 2


def test_bad_inputs_give_clear_errors(tiny):
    with pytest.raises(ValueError, match=r"\(B, 3, 64, 64\).*got \(1, 4, 64, 64\)"):
        tiny(torch.rand(1, 4, SMALL, SMALL))
    with pytest.raises(ValueError, match="got \\(1, 3, 96, 96\\)"):
        tiny(torch.rand(1, 3, 96, 96))
    with pytest.raises(ValueError, match="floating-point"):
        tiny(torch.zeros(1, 3, SMALL, SMALL, dtype=torch.uint8))
    with pytest.raises(ConfigError, match="multiple of 32"):
        pmgsam.build_model("pmgsam_tiny", image_size=100)
    with pytest.raises(ConfigError, match="unknown model config key"):
        pmgsam.build_model("pmgsam_tiny", fusoin="drfm")
    with pytest.raises(ConfigError, match="model.fusion must be one of"):
        pmgsam.build_model("pmgsam_tiny", fusion="concat")
    with pytest.raises(ValueError, match="unknown model 'pmgsam_huge'"):
        pmgsam.build_model("pmgsam_huge")


def test_own_checkpoint_round_trip(tmp_path, small_tiny, small_branches):
    # Frozen branches come from their own files, as the official weights would. small_branches:
    # the round trip does not depend on the branch's size (Hiera-T's 27 M weights took seconds
    # to save and load three times).
    tiny = small_tiny
    hiera_file, u2net_file = tmp_path / "hiera.pth", tmp_path / "u2netp.pth"
    torch.save({"model_state": tiny.hiera.trunk.state_dict()}, hiera_file)
    torch.save(tiny.u2net.state_dict(), u2net_file)
    model = pmgsam.build_model(
        tiny.config, hiera_checkpoint=str(hiera_file), u2net_checkpoint=str(u2net_file)
    )
    model.load_trainable_state_dict(tiny.trainable_state_dict(), source="fixture")
    path = save_model(model, tmp_path / "w.safetensors")
    assert not list(tmp_path.glob("*.tmp"))
    loaded = pmgsam.load_pretrained(path).eval()
    assert loaded.config == model.config
    x = torch.rand(1, 3, SMALL, SMALL)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)["mask"], tiny(x)["mask"], atol=0, rtol=0)


def test_frozen_init_is_reproducible_and_leaves_global_rng_alone(tmp_path, small_branches):
    """Without pretrained files, a reload must still see the frozen weights it was trained with."""
    # small_branches: the fixed-seed init does not depend on the branch's size; three builds of
    # Hiera-T's 27 M weights took most of this test's time.
    torch.manual_seed(123)
    a = pmgsam.build_model("pmgsam_tiny", image_size=SMALL)
    after_a = torch.rand(1)
    torch.manual_seed(123)
    torch.rand(5)  # a different global RNG position must not matter
    b = pmgsam.build_model("pmgsam_tiny", image_size=SMALL)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        if k.startswith(("hiera.", "u2net.")):
            assert torch.equal(va, vb), k
    torch.manual_seed(123)
    pmgsam.build_model("pmgsam_tiny", image_size=SMALL)
    assert torch.equal(torch.rand(1), after_a)  # trainable init still follows the caller's seed
    # Another caller seed, other trainable weights: without the forked stream the frozen init's
    # fixed seed would also fix them (and the caller's stream after the build).
    torch.manual_seed(7)
    c = pmgsam.build_model("pmgsam_tiny", image_size=SMALL)
    trainable = [k for k in a.state_dict() if not k.startswith(("hiera.", "u2net."))]
    assert any(not torch.equal(a.state_dict()[k], c.state_dict()[k]) for k in trainable)
    path = save_model(a, tmp_path / "a.safetensors")
    x = torch.rand(1, 3, SMALL, SMALL)
    with torch.no_grad():
        torch.testing.assert_close(
            pmgsam.load_pretrained(path).eval()(x)["mask"], a.eval()(x)["mask"], atol=0, rtol=0
        )


def test_checkpoint_with_other_config_is_refused(tmp_path, small_tiny, small_branches):
    path = save_model(small_tiny, tmp_path / "w.safetensors")
    other = pmgsam.build_model("pmgsam_tiny", image_size=SMALL, decoder_depth=2)
    with pytest.raises(CheckpointError, match=r"decoder_depth: 1 != 2"):
        load_model_weights(other, path)


def test_checkpoint_with_wrong_keys_names_them(tmp_path, tiny):
    from safetensors.torch import save_file

    path = save_model(tiny, tmp_path / "w.safetensors")
    from pmgsam.modeling.checkpoint import read_model_file

    state, config = read_model_file(path)
    state.pop("decoder.output_token.weight")
    state["decoder.extra.weight"] = torch.zeros(1)
    import json

    from pmgsam.utils.config import to_dict

    bad = tmp_path / "bad.safetensors"
    save_file(state, str(bad), metadata={"format": "pmgsam", "config": json.dumps(to_dict(config))})
    with pytest.raises(CheckpointError) as info:
        load_model_weights(tiny, bad)
    message = str(info.value)
    assert "decoder.output_token.weight" in message and "decoder.extra.weight" in message
    assert "bad.safetensors" in message
    with pytest.raises(CheckpointError, match="not a PMG-SAM checkpoint"):
        save_file(state, str(tmp_path / "plain.safetensors"))
        load_model_weights(tiny, tmp_path / "plain.safetensors")


def test_config_round_trip_and_overrides():
    cfg = model_config("pmgsam_hiera_b+", image_size=512)
    assert cfg.image_size == 512 and cfg.hiera == "base_plus"
    assert dataclasses.replace(cfg, image_size=1024) == model_config("pmgsam_hiera_b+")


def test_flop_split_adds_up(small_tiny):
    # The small branches: the split adds up whatever their size (Hiera-T's count took seconds).
    flops = count_flops(small_tiny, torch.rand(1, 3, SMALL, SMALL))
    comps = flops["components"]
    assert set(comps) == {"hiera", "u2net", "neck", "fusion", "refiner", "decoder"}
    assert abs(sum(comps.values()) - flops["total"]) < 1e-6 * flops["total"]
    assert flops["frozen"] == comps["hiera"] + comps["u2net"]
    assert all(v > 0 for v in comps.values())


def test_a_plain_dict_config_is_checked_like_a_named_one() -> None:
    from pmgsam.utils.config import to_dict

    values = to_dict(model_config("pmgsam_tiny"))
    values["fusion"] = "none"  # as read from a YAML file
    assert model_config(values) == model_config("pmgsam_tiny", fusion="none")
    assert (
        values["fusion"] == "none" and model_config(values, fusion="residual").fusion == "residual"
    )
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) 'model.fusoin'"):
        model_config({**values, "fusoin": "none"})
    with pytest.raises(
        TypeError, match=r"^expected a model name, ModelConfig or dict, got <class 'int'>$"
    ):
        model_config(5)


def test_forward_feeds_each_part_the_levels_design_names(small_branches, one_thread):
    # DESIGN.md §2: the fusion pairs the six U²-Net features with the four FPN maps (strides
    # 4-32), the decoder's BAIM runs over the stride-16 image embedding (FPN level 2), the
    # Pre-Mask is the refiner's output on the fused levels, and the high-resolution maps
    # added into the upscaling are the strides 4 and 8 of each source: FPN levels 0 and 1 for
    # Hiera, U²-Net features 2 and 3 (strides 1, 2, 4, 8, 16, 32). Checked by recording what
    # each part received, so a map of the right shape from the wrong level is caught.
    torch.manual_seed(0)
    model = pmgsam.build_model("pmgsam_tiny", image_size=SMALL, high_res="both").eval()
    seen = {}

    def record(name):
        def hook(module, args, output):
            seen[name] = (args, output)

        return hook

    for name in ("neck", "fusion", "refiner", "decoder"):
        getattr(model, name).register_forward_hook(record(name))
    x = torch.rand(1, 3, SMALL, SMALL)
    with torch.no_grad():
        out = model(x)
        u2net = model.encode(x)["u2net"]
    fpn = seen["neck"][1]
    pre_mask, image_embedding, high_res = seen["decoder"][0]
    assert [f.shape[-1] for f in fpn] == [SMALL // s for s in (4, 8, 16, 32)]
    fused_u2net, fused_fpn = seen["fusion"][0]
    assert all(torch.equal(a, b) for a, b in zip(fused_u2net, u2net)) and len(fused_u2net) == 6
    assert all(torch.equal(a, b) for a, b in zip(fused_fpn, fpn)) and len(fused_fpn) == 4
    assert all(torch.equal(a, b) for a, b in zip(seen["refiner"][0][0], seen["fusion"][1]))
    assert torch.equal(image_embedding, fpn[2])
    assert torch.equal(pre_mask, seen["refiner"][1]) and torch.equal(out["pre_mask"], pre_mask)
    for source, (s4, s8) in (("hiera", fpn[:2]), ("u2net", u2net[2:4])):
        assert torch.equal(high_res[source][0], s4) and torch.equal(high_res[source][1], s8)
    assert [f.shape[-1] for f in high_res["u2net"]] == [SMALL // 4, SMALL // 8]
    assert torch.equal(out["mask"], seen["decoder"][1])


def test_non_default_config_fields_reach_the_modules(small_branches):
    # Each field below changes the arithmetic without changing any weight shape, so a field the
    # build dropped would load a checkpoint trained with it and compute something else (a GELU
    # decoder saved before decoder_activation existed would run with ReLU). The modules'
    # arithmetic for each value is checked elsewhere against DESIGN / segment-anything / SAM2.
    torch.manual_seed(0)
    model = pmgsam.build_model(
        "pmgsam_tiny",
        image_size=SMALL,
        residual_scale=0.5,
        fpn_top_down_levels=[1, 3],
        decoder_activation="gelu",
    )
    drfms = list(model.fusion.levels)
    srbs = [block for level in drfms for block in level.blocks]
    assert len(drfms) == 6 and len(srbs) == 6 * model.config.drfm_blocks
    assert all(m.residual_scale == 0.5 for m in drfms + srbs)
    assert model.neck.top_down_levels == {1, 3}
    layers = model.decoder.transformer.layers
    assert len(layers) >= 1 and all(isinstance(b.mlp.act, torch.nn.GELU) for b in layers)

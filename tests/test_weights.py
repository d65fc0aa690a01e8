"""Foreign checkpoints: hiera-transformer (MAE and fine-tuned) and segment-anything."""

from __future__ import annotations

import pytest
import torch

import pmgsam
from pmgsam.modeling.image_encoder import HieraBranch
from pmgsam.modeling.weights import (
    CheckpointError,
    interpolate_pos_embed,
    load_hiera_checkpoint,
    load_sam_into_decoder,
)


@pytest.fixture(scope="module")
def hiera_tiny_file(tmp_path_factory):
    """A checkpoint as hiera-transformer publishes it: ``{"model_state": state_dict}``."""
    import hiera

    torch.manual_seed(1)
    reference = hiera.hiera_tiny_224(pretrained=False).eval()
    path = tmp_path_factory.mktemp("hiera") / "hiera_tiny_224.pth"
    torch.save({"model_state": reference.state_dict()}, path)
    return path, reference


@pytest.fixture(scope="module")
def sam_vit_b_file(tmp_path_factory):
    """(file, state): segment-anything's own seeded ViT-B (1024 px) saved as released.

    Shared by the SAM-initialisation tests of this file: building and saving its 94 M weights
    takes seconds. Treat both as read-only.
    """
    from segment_anything import build_sam_vit_b

    torch.manual_seed(3)
    state = build_sam_vit_b().state_dict()
    path = tmp_path_factory.mktemp("sam") / "sam_vit_b.pth"
    torch.save(state, path)
    return path, state


def test_hiera_features_equal_reference_at_224(hiera_tiny_file):
    path, reference = hiera_tiny_file
    # The package's own attention forward, so the plumbing around it must match bit for bit
    # (the window-batched attention is compared with a tolerance in
    # test_performance_equivalence.py).
    branch = HieraBranch("tiny", 224, window_batched_attention=False)
    report = branch.load_checkpoint(path)
    assert sorted(report["ignored"]) == [
        "head.projection.bias",
        "head.projection.weight",
        "norm.bias",
        "norm.weight",
    ]
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        _, expected = reference(x, return_intermediates=True)
        ours = branch(x)
    assert len(ours) == 4
    for got, want in zip(ours, expected):
        assert got.shape == want.permute(0, 3, 1, 2).shape
        torch.testing.assert_close(got, want.permute(0, 3, 1, 2), atol=0, rtol=0)


@pytest.mark.parametrize("size", [256, 128])  # 56 → 64 tokens (enlarge), 56 → 32 (shrink)
def test_pos_embed_resampling_equals_timm(hiera_tiny_file, size):
    from timm.layers import resample_abs_pos_embed

    path, reference = hiera_tiny_file
    stored = reference.pos_embed.detach()
    grid = (size // 4, size // 4)
    # Plain bicubic (a = -0.75, no antialias) as MAE's and SAM2's position-embedding
    # resampling; timm's default antialias=True switches to PIL's a = -0.5 kernel.
    expected = resample_abs_pos_embed(stored, list(grid), num_prefix_tokens=0, antialias=False)
    torch.testing.assert_close(interpolate_pos_embed(stored, grid), expected, atol=1e-6, rtol=0)
    branch = HieraBranch("tiny", size)
    branch.load_checkpoint(path)
    torch.testing.assert_close(branch.trunk.pos_embed.detach(), expected, atol=1e-6, rtol=0)
    # Same size in, same embedding out.
    assert torch.equal(interpolate_pos_embed(stored, (56, 56)), stored)


def test_hiera_branch_at_256_equals_hiera_built_for_256(hiera_tiny_file):
    # hiera-transformer's own model built for 256 inputs, given the 224 checkpoint with a
    # timm-resampled position embedding, is the reference for the whole branch.
    import hiera
    from timm.layers import resample_abs_pos_embed

    path, reference_224 = hiera_tiny_file
    direct = hiera.Hiera(
        input_size=(256, 256), embed_dim=96, num_heads=1, stages=(1, 2, 7, 2)
    ).eval()
    state = dict(reference_224.state_dict())
    state["pos_embed"] = resample_abs_pos_embed(
        state["pos_embed"], [64, 64], num_prefix_tokens=0, antialias=False
    )
    direct.load_state_dict(state, strict=True)
    branch = HieraBranch("tiny", 256)
    branch.load_checkpoint(path)
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        _, expected = direct(x, return_intermediates=True)
        ours = branch(x)
    assert [tuple(m.shape) for m in ours] == [
        (1, 96, 64, 64),
        (1, 192, 32, 32),
        (1, 384, 16, 16),
        (1, 768, 8, 8),
    ]
    for got, want in zip(ours, expected):
        torch.testing.assert_close(got, want.permute(0, 3, 1, 2), atol=1e-5, rtol=0)


def test_hiera_mae_checkpoint_loads_with_decoder_keys_ignored(tmp_path, small_branches):
    from hiera import hiera_mae

    # hiera-transformer's MAE model as mae_hiera_tiny_224 builds it (its decoder included),
    # with conftest's small encoder: which keys are ignored does not depend on the encoder's
    # size, and Hiera-T's 28 M encoder weights took most of this test's time.
    embed_dim, heads, stages = small_branches
    torch.manual_seed(2)
    mae = hiera_mae.MaskedAutoencoderHiera(
        embed_dim=embed_dim, num_heads=heads, stages=stages, q_pool=2
    )
    path = tmp_path / "mae_hiera_tiny_224.pth"
    torch.save({"model_state": mae.state_dict()}, path)
    branch = HieraBranch("tiny", 224)
    report = branch.load_checkpoint(path)
    assert any(k.startswith("decoder_") for k in report["ignored"])
    assert "mask_token" in report["ignored"]
    torch.testing.assert_close(
        branch.trunk.blocks[0].attn.qkv.weight, mae.blocks[0].attn.qkv.weight
    )


def test_hiera_checkpoint_of_another_variant_is_refused(hiera_tiny_file):
    path, _ = hiera_tiny_file
    # 11 blocks in stage 3 instead of 7. On the meta device: the file is refused on its keys and
    # shapes before any value is read, and Hiera-S's 35 M random weights took a second to draw.
    with torch.device("meta"):
        branch = HieraBranch("small", 224)
    with pytest.raises(CheckpointError) as info:
        branch.load_checkpoint(path)
    message = str(info.value)
    assert "missing keys (" in message and "shape mismatches (" in message
    assert str(path) in message


def test_hiera_checkpoint_without_model_state_is_explained(tmp_path, small_branches):
    # The file is refused before any tensor is compared: the branch's size does not matter.
    path = tmp_path / "weird.pth"
    torch.save({"optimizer": {"lr": 1.0}}, path)
    with pytest.raises(CheckpointError, match="no 'model_state' entry"):
        HieraBranch("tiny", 224).load_checkpoint(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        HieraBranch("tiny", 224).load_checkpoint(tmp_path / "missing.pth")


def test_hiera_size_must_be_multiple_of_32():
    with pytest.raises(ValueError, match="multiple of 32"):
        HieraBranch("tiny", 200)


# The SAM-initialisation tests build their models with conftest's small frozen Hiera: only the
# decoder is loaded from SAM, and its shapes do not depend on the Hiera's.
def test_sam_checkpoint_initialises_decoder(sam_vit_b_file, small_branches):
    path, sam_state = sam_vit_b_file
    model = pmgsam.build_model(
        "pmgsam_hiera_t", image_size=64, decoder_depth=2, sam_checkpoint=str(path)
    )
    dec = {k: v.clone() for k, v in model.decoder.state_dict().items()}  # as build_model left it
    # The report build_model logs: loading the same file again takes the same tensors.
    report = load_sam_into_decoder(model.decoder, path)
    assert report["shape_mismatch"] == [] and report["unused"] == []
    # Every BAIM tensor, the upscaling layers, the hypernetwork and the PE come from SAM.
    for key in dec:
        if key.startswith(("transformer.", "output_upscaling.", "output_hypernetwork_mlp.")):
            assert key in report["loaded"], key
            sam_key = "mask_decoder." + key.replace(
                "output_hypernetwork_mlp.", "output_hypernetworks_mlps.0."
            )
            assert torch.equal(dec[key], sam_state[sam_key]), key
    assert torch.equal(dec["output_token.weight"], sam_state["mask_decoder.mask_tokens.weight"][:1])
    assert torch.equal(
        dec["pe_layer.positional_encoding_gaussian_matrix"],
        sam_state["prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"],
    )
    # Our own additions have no SAM counterpart and are reported as such.
    assert {"mask_embed.weight", "conv_s0.weight", "conv_s1.weight"} <= set(report["not_in_sam"])
    n_transformer = sum(1 for k in dec if k.startswith("transformer."))
    # transformer + output_upscaling (3 layers × weight/bias) + hypernetwork MLP (3 × 2)
    # + output token + positional encoding
    assert len(report["loaded"]) == n_transformer + 6 + 6 + 1 + 1


def test_sam_init_reports_shape_mismatches(sam_vit_b_file, small_branches):
    path, _ = sam_vit_b_file
    model = pmgsam.build_model(
        "pmgsam_tiny",
        image_size=64,
        decoder_mlp_dim=2048,
        decoder_depth=1,
        sam_checkpoint=str(path),
    )
    # The report build_model logs: loading the same file again takes the same tensors.
    report = load_sam_into_decoder(model.decoder, path)
    # SAM's second BAIM block has no place in a one-block decoder: named, not dropped silently.
    assert report["unused"] and all(k.startswith("transformer.layers.1.") for k in report["unused"])
    # fpn_dim 64 ≠ SAM's 256: only the MLP bias (2048 wide in both) fits; every refusal is named.
    assert report["loaded"] == ["transformer.layers.0.mlp.lin1.bias"]
    assert any(
        m.startswith("transformer.layers.0.self_attn.q_proj.weight")
        for m in report["shape_mismatch"]
    )
    # Each decoder tensor is counted once: loaded, refused for its shape, or absent from SAM.
    refused = [m.split(" ")[0] for m in report["shape_mismatch"]]
    groups = [report["loaded"], refused, report["not_in_sam"]]
    assert sorted(k for g in groups for k in g) == sorted(model.decoder.state_dict())


def test_non_sam_file_is_refused(tmp_path, small_branches):
    path = tmp_path / "not_sam.pth"
    torch.save({"foo.weight": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a segment-anything checkpoint"):
        pmgsam.build_model("pmgsam_tiny", image_size=64, sam_checkpoint=str(path))


def test_sam_checkpoint_fitting_nothing_is_refused_and_a_partial_fit_warns(
    tmp_path, caplog, small_branches
):
    # segment-anything's own decoder (width 256); the tiny variant's is 64 wide, so nothing fits.
    from segment_anything.modeling import MaskDecoder, TwoWayTransformer

    torch.manual_seed(0)
    transformer = TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8)
    decoder = MaskDecoder(transformer_dim=256, transformer=transformer)
    path = tmp_path / "sam_decoder.pth"
    torch.save({f"mask_decoder.{k}": v for k, v in decoder.state_dict().items()}, path)
    with pytest.raises(CheckpointError, match="none of SAM's mask-decoder tensors fits"):
        pmgsam.build_model("pmgsam_tiny", image_size=64, sam_checkpoint=str(path))
    with caplog.at_level("INFO", logger="pmgsam"):
        pmgsam.build_model(
            "pmgsam_tiny", image_size=64, decoder_mlp_dim=2048, sam_checkpoint=str(path)
        )
    taken = [r for r in caplog.records if "decoder initialised from SAM" in r.getMessage()]
    assert [r.levelname for r in taken] == ["WARNING"]  # most of it stays random: say so


@pytest.mark.parametrize(
    "state",
    [
        {"conv.weight": torch.zeros(4, 3, 3, 3)},  # no patch embedding: not a Hiera at all
        {"patch_embed.proj.weight": torch.zeros(96, 3, 7, 7)},  # a patch embedding, no blocks
    ],
)
def test_a_state_dict_that_is_no_hiera_is_refused_without_a_variant_hint(tmp_path, state):
    """No variant can be read off such a file, so the error names its keys, not a model.hiera."""
    path = tmp_path / "other.pth"
    torch.save({"model_state": state}, path)
    with pytest.raises(CheckpointError) as info:  # a stand-in trunk: the file is the subject
        load_hiera_checkpoint(torch.nn.Linear(2, 2), path, {"tiny": (96, 16)})
    message = str(info.value)
    assert str(path) in message and "missing keys (" in message
    assert "model.hiera" not in message

"""BAIM and the guided decoder compute what segment-anything's modules compute.

segment-anything's own ``TwoWayTransformer``, ``MaskDecoder`` and ``PositionEmbeddingRandom``
are the reference: their weights are written as a SAM checkpoint, loaded through
:func:`load_sam_into_decoder`, and both sides get the same inputs. Small widths keep it fast;
the arithmetic does not depend on them.
"""

from __future__ import annotations

from typing import Tuple

import pytest
import torch
import torch.nn.functional as F
from segment_anything.modeling import MaskDecoder, TwoWayTransformer
from segment_anything.modeling.prompt_encoder import PositionEmbeddingRandom

from pmgsam.modeling.mask_decoder import GuidedMaskDecoder
from pmgsam.modeling.weights import load_sam_into_decoder

DIM, DEPTH, HEADS, MLP_DIM, PATCH = 64, 2, 4, 128, 4


def _sam_modules(seed: int = 0) -> Tuple[MaskDecoder, PositionEmbeddingRandom]:
    torch.manual_seed(seed)
    transformer = TwoWayTransformer(
        depth=DEPTH, embedding_dim=DIM, num_heads=HEADS, mlp_dim=MLP_DIM
    )
    decoder = MaskDecoder(transformer_dim=DIM, transformer=transformer, num_multimask_outputs=3)
    pe = PositionEmbeddingRandom(DIM // 2)
    with torch.no_grad():
        # LayerNorms start at weight 1 / bias 0: perturb everything so every tensor matters.
        for p in list(decoder.parameters()) + list(pe.buffers()):
            p.add_(0.2 * torch.randn_like(p))
    return decoder.eval(), pe


def _ours_from_sam(
    tmp_path, sam: MaskDecoder, pe: PositionEmbeddingRandom, activation: str
) -> GuidedMaskDecoder:
    state = {f"mask_decoder.{k}": v for k, v in sam.state_dict().items()}
    state["prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"] = (
        pe.positional_encoding_gaussian_matrix
    )
    path = tmp_path / "sam.pth"
    torch.save(state, path)
    ours = GuidedMaskDecoder(
        dim=DIM,
        patch_size=PATCH,
        depth=DEPTH,
        num_heads=HEADS,
        mlp_dim=MLP_DIM,
        high_res="none",
        activation=activation,
    )
    report = load_sam_into_decoder(ours, path)
    assert report["shape_mismatch"] == []
    assert not [k for k in report["not_in_sam"] if k.startswith("transformer.")]
    return ours.eval()


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_baim_equals_segment_anything_two_way_transformer(tmp_path, activation):
    sam, pe = _sam_modules()
    ours = _ours_from_sam(tmp_path, sam, pe, activation)
    torch.manual_seed(1)
    image = torch.randn(2, DIM, 8, 8)
    image_pe = pe((8, 8)).unsqueeze(0)
    tokens = torch.randn(2, 17, DIM)
    with torch.no_grad():
        sam_q, sam_k = sam.transformer(image, image_pe, tokens)
        our_q, our_k = ours.transformer(image, image_pe, tokens)
    gap = max((sam_q - our_q).abs().max().item(), (sam_k - our_k).abs().max().item())
    # Outputs reach |4.5|: float32 rounding differs by CPU instruction set (1.2e-5 seen on
    # one machine, under 1e-5 on another), so the bound scales with the outputs.
    scale = max(sam_q.abs().max().item(), sam_k.abs().max().item(), 1.0)
    if activation == "relu":
        assert gap < 1e-5 * scale
    else:
        # GELU (the former default) is a different function, not a rounding difference.
        assert gap > 1e-2


def test_positional_encoding_equals_segment_anything(tmp_path):
    sam, pe = _sam_modules()
    ours = _ours_from_sam(tmp_path, sam, pe, "relu")
    for size in [(8, 8), (4, 6)]:
        assert torch.allclose(ours.pe_layer(size), pe(size), atol=1e-6)


# s = 64: the 16x16 Pre-Mask token grid differs from the 8x8 image grid (each gets its own PE).
@pytest.mark.parametrize("s", [32, 64])
def test_decoder_path_equals_segment_anything_mask_decoder_modules(tmp_path, s):
    # SAM's MaskDecoder.forward prepends an IoU token and takes prompt tokens, so it cannot be
    # called as is; its predict_masks steps are replayed with SAM's own modules on our token
    # sequence (output token = SAM's first mask token, then the embedded Pre-Mask patches).
    sam, pe = _sam_modules()
    ours = _ours_from_sam(tmp_path, sam, pe, "relu")
    torch.manual_seed(2)
    b = 2
    pre_mask = torch.randn(b, 1, s, s)
    image = torch.randn(b, DIM, 8, 8)
    with torch.no_grad():
        # Non-overlapping p x p patches of the Pre-Mask probabilities, linearly embedded.
        embed = ours.mask_embed
        patches = F.conv2d(torch.sigmoid(pre_mask), embed.weight, embed.bias, stride=PATCH)
        grid = patches.shape[-2:]
        patches = patches + pe(grid).unsqueeze(0)
        tokens = torch.cat(
            [sam.mask_tokens.weight[:1].expand(b, -1, -1), patches.flatten(2).transpose(1, 2)], 1
        )
        hs, src = sam.transformer(image, pe((8, 8)).unsqueeze(0), tokens)
        src = src.transpose(1, 2).reshape(b, DIM, 8, 8)
        upscaled = sam.output_upscaling(src)
        hyper = sam.output_hypernetworks_mlps[0](hs[:, 0, :])
        c, h, w = upscaled.shape[1:]
        masks = (hyper.unsqueeze(1) @ upscaled.view(b, c, h * w)).view(b, 1, h, w)
        expected = F.interpolate(masks, size=(s, s), mode="bilinear", align_corners=False)
        got = ours(pre_mask, image, {})
    assert got.shape == expected.shape == (b, 1, s, s)
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()


def test_checkpoint_without_activation_field_keeps_gelu(tmp_path):
    # Checkpoints written before decoder_activation existed were trained with GELU; reading
    # them as ReLU would silently change the model.
    import json

    from safetensors.torch import save_file

    from pmgsam.modeling.build import model_config
    from pmgsam.modeling.checkpoint import read_model_file
    from pmgsam.utils.config import to_dict

    old = to_dict(model_config("pmgsam_tiny"))
    del old["decoder_activation"]
    path = tmp_path / "old.safetensors"
    save_file(
        {"x": torch.zeros(1)}, str(path), metadata={"format": "pmgsam", "config": json.dumps(old)}
    )
    assert read_model_file(path)[1].decoder_activation == "gelu"
    assert model_config("pmgsam_tiny").decoder_activation == "relu"


def test_checkpoint_saved_before_the_srb_output_norm_loads_as_it_was_built(tmp_path):
    # A model saved before srb_output_norm existed has no SRB norm weights; reading it with
    # today's default (norm on) would fail on missing keys or, worse, change the model.
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    import pmgsam
    from pmgsam.modeling.checkpoint import save_model

    torch.manual_seed(0)
    old = pmgsam.build_model("pmgsam_tiny", image_size=64, srb_output_norm=False).eval()
    path = save_model(old, tmp_path / "new.safetensors")
    with safe_open(str(path), framework="pt") as f:
        metadata, state = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    config = json.loads(metadata["config"])
    del config["srb_output_norm"]  # as written before the field existed
    assert not any(".norm." in k for k in state if k.startswith("fusion."))
    save_file(state, str(tmp_path / "old.safetensors"), {**metadata, "config": json.dumps(config)})
    loaded = pmgsam.load_pretrained(tmp_path / "old.safetensors").eval()
    assert loaded.config.srb_output_norm is False
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)["mask"], old(x)["mask"], atol=0, rtol=0)
    assert pmgsam.build_model("pmgsam_tiny", image_size=64).config.srb_output_norm is True

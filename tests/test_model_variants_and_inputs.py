"""What each named variant is, branch normalisation on an all-black image, and which heading
a trainable state dict's wrong key lands under (cases found by mutation testing of
pmgsam/modeling/registry.py, common.py and pmgsam.py).

Expected values are written out from the registry docstrings, README.md and DESIGN.md
("Small variants for CPU tests and the demo (Hiera-T, U2NETP, S=256 or less)"), and from the
ImageNet mean/std of the official U²-Net pipeline, never read back from the code under test.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

import pmgsam
from pmgsam.modeling.build import model_config
from pmgsam.modeling.common import PixelNormalizer
from pmgsam.modeling.config import ModelConfig
from pmgsam.modeling.weights import CheckpointError


def test_each_named_variant_is_the_architecture_its_name_promises() -> None:
    assert model_config("pmgsam_hiera_b+") == ModelConfig()
    # "Hiera-T with the full U2NET": the paper model but for the Hiera variant.
    hiera_t = model_config("pmgsam_hiera_t")
    assert hiera_t == dataclasses.replace(ModelConfig(), hiera="tiny")
    tiny = model_config("pmgsam_tiny")
    assert (tiny.hiera, tiny.u2net, tiny.image_size) == ("tiny", "u2netp", 256)
    # Narrow enough for the CPU demo: one DRFM block, one BAIM block.
    assert (tiny.drfm_blocks, tiny.decoder_depth, tiny.fpn_dim) == (1, 1, 64)


def test_an_all_black_image_gives_normalised_black_not_nan() -> None:
    # The official ToTensorLab divides by the image maximum, 0 for an all-black image (a
    # blank frame, a fully padded tile): that must give the normalised black every branch
    # sees for padding, not 0/0.
    mean = torch.tensor([0.485, 0.456, 0.406])
    std = torch.tensor([0.229, 0.224, 0.225])
    black = torch.zeros(2, 3, 4, 4)
    black[1] = 0.5  # a second, non-black image in the batch keeps its own maximum
    out = PixelNormalizer(per_image_max=True)(black)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[0], (-mean / std).view(3, 1, 1).expand(3, 4, 4))
    torch.testing.assert_close(out[1], ((1 - mean) / std).view(3, 1, 1).expand(3, 4, 4))


def test_trainable_state_dict_problems_are_named_from_the_files_side(one_thread) -> None:
    torch.manual_seed(0)
    model = pmgsam.build_model("pmgsam_tiny", image_size=64)
    state = model.trainable_state_dict()
    before = {k: v.clone() for k, v in state.items()}
    state = {k: torch.full_like(v, 0.5) for k, v in state.items()}
    state.pop("decoder.output_token.weight")  # in the model only: missing from the file
    state["decoder.extra.weight"] = torch.zeros(1)  # in the file only: unexpected
    state["refiner.head.weight"] = torch.zeros(1, 2, 3)  # the file's shape is listed first
    with pytest.raises(CheckpointError) as info:
        model.load_trainable_state_dict(state, source="run/best.safetensors")
    message = str(info.value)
    assert "'run/best.safetensors'" in message
    assert "missing keys (1): decoder.output_token.weight;" in message
    assert "unexpected keys (1): decoder.extra.weight;" in message
    assert "refiner.head.weight: checkpoint (1, 2, 3) vs model (" in message
    # Refused before anything is copied in.
    for key, value in model.trainable_state_dict().items():
        assert torch.equal(value, before[key]), key


def test_weight_file_locations_are_not_architecture_and_zero_residual_is_allowed() -> None:
    from pmgsam.modeling.checkpoint import architecture_diff

    # A model trained from a SAM / Hiera / U²-Net file loads wherever those files now are (or
    # without them): their paths say where weights came from, not what the model is.
    trained = model_config(
        "pmgsam_tiny", sam_checkpoint="a/sam.pth", hiera_checkpoint="a/h.pth",
        u2net_checkpoint="a/u2netp.pth",
    )  # fmt: skip
    assert architecture_diff(trained, model_config("pmgsam_tiny")) == []
    assert architecture_diff(trained, model_config("pmgsam_tiny", decoder_depth=2)) != []
    # residual_scale 0 (no scaled residual) is a legal ablation; only negative values are not.
    model_config("pmgsam_tiny", residual_scale=0.0).validate()


def test_gelu_mlp_is_exact_gelu_as_models_saved_before_the_field_were_trained() -> None:
    from pmgsam.modeling.transformer import MLPBlock

    # LEGACY_FIELDS reads old checkpoints as GELU: nn.GELU's exact erf form, which the tanh
    # approximation misses by ~1e-3 (too little for the SAM equivalence tolerance to see).
    torch.manual_seed(0)
    mlp = MLPBlock(4, 8, "gelu").double()
    x = 3 * torch.randn(5, 4, dtype=torch.float64)
    want = mlp.lin2(torch.erf(mlp.lin1(x) / 2**0.5).add(1).mul(mlp.lin1(x)).mul(0.5))
    torch.testing.assert_close(mlp(x), want, rtol=1e-12, atol=1e-12)

"""Baseline loading without random initialisation (``sam.parameters_on_meta`` + ``assign_state``)
gives the model a normal build plus ``load_state_dict`` gives: every parameter and buffer
(persistent or not), dtype, device, ``requires_grad``, outputs, and the same errors for a bad file.

The reference is :func:`pmgsam.baselines.sam.build` (segment-anything's ``_build_sam``) and sam2's
own ``build_sam2``, both with their random initialisation, then a copying ``load_state_dict``.
"""

from __future__ import annotations

import copy

import pytest
import torch

from pmgsam.baselines import sam
from pmgsam.baselines.finetune_recipe import freeze_encoders
from pmgsam.modeling.weights import CheckpointError, check_state_dict

SIDE = 64  # sam_file's input side (conftest)
SAM2_SIDE = 256


def _plain_tensors(model: torch.nn.Module) -> dict:
    """Tensors held as plain attributes, or in a dict attribute (sam2's position-encoding cache),
    of every module: computed in ``__init__`` or later, neither parameters nor buffers."""
    found = {}
    for prefix, module in model.named_modules():
        for name, value in vars(module).items():
            items = value.items() if isinstance(value, dict) else [("", value)]
            for key, item in items:
                if torch.is_tensor(item) and not name.startswith("_"):
                    found[f"{prefix}.{name}[{key}]"] = item
    return found


def _every_tensor(model: torch.nn.Module):
    yield from model.named_parameters()
    yield from model.named_buffers()
    yield from _plain_tensors(model).items()


def assert_same_model(loaded: torch.nn.Module, reference: torch.nn.Module) -> None:
    got, want = loaded.state_dict(keep_vars=True), reference.state_dict(keep_vars=True)
    assert list(got) == list(want)
    # named_buffers holds the non-persistent ones (SAM's pixel_mean/pixel_std) too.
    got_buffers, want_buffers = dict(loaded.named_buffers()), dict(reference.named_buffers())
    assert list(got_buffers) == list(want_buffers)
    for name, value in [*want.items(), *want_buffers.items()]:
        mine = got.get(name, got_buffers.get(name))
        assert (mine.dtype, mine.device) == (value.dtype, value.device), name
        assert mine.is_contiguous(), name
        assert torch.equal(mine, value), name
    got_params, want_params = dict(loaded.named_parameters()), dict(reference.named_parameters())
    assert list(got_params) == list(want_params)
    for name, value in want_params.items():
        assert isinstance(got_params[name], torch.nn.Parameter), name
        assert got_params[name].requires_grad == value.requires_grad, name
    assert loaded.training == reference.training
    got_plain, want_plain = _plain_tensors(loaded), _plain_tensors(reference)
    assert list(got_plain) == list(want_plain)
    for name, value in want_plain.items():
        assert torch.equal(got_plain[name], value), name


def _sam_outputs(model: torch.nn.Module) -> tuple:
    """Normalised image (pixel_mean/std), and masks and IoUs from the prompt encoder and mask
    decoder on a fixed embedding (the ViT-B encoder takes seconds on a CPU even at 64 px)."""
    gen = torch.Generator().manual_seed(1)
    image = torch.rand(1, 3, SIDE, SIDE, generator=gen) * 255
    embedding = torch.randn(1, 256, SIDE // 16, SIDE // 16, generator=gen)
    points = (torch.tensor([[[20.0, 30.0]]]), torch.tensor([[1]]))
    with torch.no_grad():
        sparse, dense = model.prompt_encoder(points=points, boxes=None, masks=None)
        masks, iou = model.mask_decoder(
            image_embeddings=embedding,
            image_pe=model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=True,
        )
    return model.preprocess(image), masks, iou


def test_sam_loaded_without_init_is_the_normally_built_model(sam_file) -> None:
    path, reference = sam_file
    loaded = sam.load("vit_b", path, "cpu", SIDE)
    assert_same_model(loaded, reference)
    # The non-persistent normalisation buffers hold segment-anything's constants, not garbage.
    assert loaded.pixel_mean.flatten().tolist() == pytest.approx([123.675, 116.28, 103.53])
    for got, want in zip(_sam_outputs(loaded), _sam_outputs(reference)):
        assert torch.equal(got, want)
    # The fine-tune recipe trains the same parameters.
    assert [id(p) for p in freeze_encoders(loaded)] == [
        id(p) for p in loaded.mask_decoder.parameters()
    ]
    assert {n for n, p in loaded.named_parameters() if p.requires_grad} == {
        f"mask_decoder.{n}" for n, _ in loaded.mask_decoder.named_parameters()
    }


def test_sam_load_leaves_no_tensor_on_meta(sam_file) -> None:
    loaded = sam.load("vit_b", sam_file[0], "cpu", SIDE)
    on_meta = [name for name, t in _every_tensor(loaded) if t.is_meta]
    assert on_meta == []
    assert {t.device.type for _, t in _every_tensor(loaded)} == {"cpu"}


def test_assign_state_gives_float32_untied_copies_as_a_copying_load_does(sam_file) -> None:
    reference = sam_file[1]
    state = {k: v.detach().half() for k, v in reference.state_dict().items()}  # a float16 file
    tokens = reference.mask_decoder.mask_tokens.weight.detach()
    state["mask_decoder.mask_tokens.weight"] = tokens.t().contiguous().t()  # not contiguous
    tied = reference.mask_decoder.output_upscaling[0].bias.detach().clone()
    state["mask_decoder.output_upscaling.0.bias"] = tied  # one float32 tensor under two keys
    state["mask_decoder.output_upscaling.1.bias"] = tied
    copied = copy.deepcopy(reference)
    copied.load_state_dict(state, strict=True)
    with sam.parameters_on_meta():
        assigned = sam.build("vit_b", SIDE)
    sam.assign_state(assigned, state)
    assert_same_model(assigned, copied)  # float32, contiguous, equal values
    upscaling = assigned.mask_decoder.output_upscaling
    assert upscaling[0].bias.data_ptr() != upscaling[1].bias.data_ptr()


def test_sam_checkpoint_errors_are_those_of_the_normally_built_model(sam_file, tmp_path) -> None:
    path, reference = sam_file
    state = dict(reference.state_dict())
    del state["mask_decoder.iou_token.weight"]
    state["image_encoder.pos_embed"] = torch.zeros(1, 8, 8, 768)  # saved for a 128-px input
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    expected = reference.state_dict()
    with pytest.raises(CheckpointError) as want:
        check_state_dict(expected, state, str(bad), sam.side_hint(expected, state))
    with pytest.raises(CheckpointError) as got:
        sam.load("vit_b", bad, "cpu", SIDE)
    assert str(got.value) == str(want.value)
    assert "missing keys (1)" in str(got.value) and "--model-image-size 128" in str(got.value)


@pytest.fixture(scope="module")
def sam2_file(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("sam2", reason="the optional sam2 extra is not installed")
    from sam2.build_sam import build_sam2

    torch.manual_seed(0)
    model = build_sam2(
        "configs/sam2.1/sam2.1_hiera_t.yaml", None, device="cpu",
        hydra_overrides_extra=[f"++model.image_size={SAM2_SIDE}"],
    )  # fmt: skip
    path = tmp_path_factory.mktemp("sam2") / "tiny.pt"
    torch.save({"model": model.state_dict()}, path)
    return path, model


def test_sam2_loaded_without_init_is_the_normally_built_model(sam2_file) -> None:
    from pmgsam.baselines import sam2

    path, reference = sam2_file
    loaded = sam2.load("tiny", path, "cpu", SAM2_SIDE)
    assert_same_model(loaded, reference)
    assert [name for name, t in _every_tensor(loaded) if t.is_meta] == []
    # The SAM heads on fixed backbone features, and the neck's (computed, cached) position
    # encoding: Hiera itself takes seconds on a CPU.
    gen = torch.Generator().manual_seed(1)
    side = SAM2_SIDE // 16
    features = torch.randn(1, 256, side, side, generator=gen)
    high_res = [torch.randn(1, 32, 4 * side, 4 * side, generator=gen)]
    high_res.append(torch.randn(1, 64, 2 * side, 2 * side, generator=gen))
    points = {"point_coords": torch.tensor([[[40.0, 60.0]]]), "point_labels": torch.tensor([[1]])}
    with torch.no_grad():
        outputs = [
            model._forward_sam_heads(features, points, None, high_res, multimask_output=True)
            for model in (loaded, reference)
        ]
        encodings = [m.image_encoder.neck.position_encoding(features) for m in (loaded, reference)]
    for got, want in zip(*outputs):
        assert torch.equal(got, want)
    assert torch.equal(*encodings)


def test_sam2_checkpoint_errors_are_those_of_the_normally_built_model(sam2_file, tmp_path) -> None:
    from pmgsam.baselines import sam2

    path, reference = sam2_file
    state = dict(reference.state_dict())
    del state["no_obj_ptr"]
    state["maskmem_tpos_enc"] = torch.zeros(3, 1, 1, 64)
    bad = tmp_path / "bad.pt"
    torch.save({"model": state}, bad)
    with pytest.raises(CheckpointError) as want:
        check_state_dict(reference.state_dict(), state, str(bad))
    with pytest.raises(CheckpointError) as got:
        sam2.load("tiny", bad, "cpu", SAM2_SIDE)
    assert str(got.value) == str(want.value)
    assert "missing keys (1)" in str(got.value) and "shape mismatches (1)" in str(got.value)

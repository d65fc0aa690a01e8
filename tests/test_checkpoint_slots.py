"""A checkpoint given to the wrong branch is named in one line: what the file is, where it goes.

The files are laid out by the reference code (hiera-transformer's models, the official U²-Net key
layout, segment-anything's and sam2's builders) and by PMG-SAM's own savers. Where only the keys
matter, tensors are one-element stand-ins, so no large model is built or saved.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Dict, Optional

import pytest
import torch

from pmgsam.modeling.u2net import build_u2net
from pmgsam.modeling.weights import (
    CheckpointError,
    identify_checkpoint,
    load_hiera_checkpoint,
    load_sam_into_decoder,
    load_u2net_checkpoint,
)

LAYOUT = Path(__file__).parent / "fixtures" / "u2net_state_dict_layout.json"


def _keys_only(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    return {k: torch.zeros(1) for k in state}


def _hiera(mae: bool) -> Dict[str, torch.Tensor]:
    """A narrow hiera-transformer model: the key layout of the released ones, few weights."""
    import hiera

    size = dict(embed_dim=8, num_heads=1, stages=(1, 1, 1, 1), input_size=(64, 64))
    if mae:
        model = hiera.MaskedAutoencoderHiera(
            decoder_embed_dim=8, decoder_depth=1, decoder_num_heads=1, **size
        )
    else:
        model = hiera.Hiera(num_classes=3, **size)
    return model.state_dict()


def _u2net(variant: str) -> Dict[str, torch.Tensor]:
    shapes = json.loads(LAYOUT.read_text())[variant]["state_dict"]
    # The width of stage 1's inner convolution tells the variants apart; the rest is keys.
    return {k: torch.zeros(s if k.startswith("stage1.") else 1) for k, s in shapes.items()}


def _sam() -> Dict[str, torch.Tensor]:
    from segment_anything import sam_model_registry

    with torch.device("meta"):
        return _keys_only(sam_model_registry["vit_b"]().state_dict())


@pytest.fixture(scope="module")
def sam2_state() -> Optional[Dict[str, torch.Tensor]]:
    """SAM2.1-T's keys, or None without the optional sam2 (the GPU machine has none)."""
    try:
        from sam2.build_sam import build_sam2
    except ImportError:
        return None
    return _keys_only(
        build_sam2("configs/sam2.1/sam2.1_hiera_t.yaml", None, device="cpu").state_dict()
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory, sam2_state, small_model_file) -> Dict[str, Path]:
    """{kind: file} as each project publishes its checkpoints."""
    from pmgsam.engine.state import save_checkpoint

    root = tmp_path_factory.mktemp("slots")
    trunk = "image_encoder.trunk."
    contents = {
        "hiera_mae": {"model_state": _hiera(mae=True)},
        "hiera_classifier": {"model_state": _hiera(mae=False)},
        "u2net": _u2net("u2net"),
        "u2netp_dataparallel": {f"module.{k}": v for k, v in _u2net("u2netp").items()},
        "sam": _sam(),
    }
    if sam2_state is not None:
        contents["sam2"] = {"model": sam2_state}
        contents["sam2_trunk"] = {
            k[len(trunk) :]: v for k, v in sam2_state.items() if k.startswith(trunk)
        }
    paths = {}
    for name, content in contents.items():
        paths[name] = root / f"{name}.pth"
        torch.save(content, paths[name])
    weights, model = small_model_file
    paths["pmgsam"] = weights
    paths["pmgsam_state"] = save_checkpoint(root / "last", model, {"epoch": 1}) / "state.pt"
    return paths


def _needs(files: Dict[str, Path], kind: str) -> None:
    if kind not in files:
        pytest.skip("SAM2 checkpoints are built with the optional sam2 package")


# kind -> (slot it belongs to or None, words the message must use for it, where it goes)
KINDS = {
    "hiera_mae": ("hiera", "Hiera checkpoint (hiera-transformer, MAE)", "model.hiera_checkpoint"),
    "hiera_classifier": (
        "hiera",
        "Hiera checkpoint (hiera-transformer, classifier)",
        "model.hiera_checkpoint",
    ),
    "u2net": ("u2net", "U²-Net checkpoint", "model.u2net_checkpoint"),
    "u2netp_dataparallel": ("u2net", "U²-Net† (u2netp) checkpoint", "model.u2net_checkpoint"),
    "sam": ("sam", "SAM checkpoint (segment-anything)", "model.sam_checkpoint"),
    "sam2": ("sam2", "SAM2 checkpoint (sam2)", "takes no SAM2 weights"),
    "sam2_trunk": ("sam2", "SAM2 image encoder's Hiera trunk (sam2)", "takes no SAM2 weights"),
    "pmgsam": ("pmgsam", "PMG-SAM checkpoint", "pmgsam.load_pretrained"),
    "pmgsam_state": ("pmgsam_state", "PMG-SAM training state (state.pt)", "model.safetensors"),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_published_layout_is_recognised(files, kind) -> None:
    _needs(files, kind)
    from pmgsam.modeling.weights import safe_torch_load

    found = identify_checkpoint(safe_torch_load(files[kind]))
    assert found is not None and (found.slot, found.label) == KINDS[kind][:2]


def test_an_unknown_layout_is_not_guessed() -> None:
    assert identify_checkpoint({"conv.weight": torch.zeros(1)}) is None
    assert identify_checkpoint({"model_state": {"fc.weight": torch.zeros(1)}}) is None
    assert identify_checkpoint([torch.zeros(1)]) is None


# slot -> (config field, load the file into that branch). The stand-in modules are never
# reached: the file is refused before its keys are compared with any module.
LOADERS: Dict[str, tuple] = {
    "hiera": ("model.hiera_checkpoint", lambda p: load_hiera_checkpoint(torch.nn.Linear(1, 1), p)),
    "u2net": ("model.u2net_checkpoint", lambda p: load_u2net_checkpoint(build_u2net("u2netp"), p)),
    "sam": ("model.sam_checkpoint", lambda p: load_sam_into_decoder(torch.nn.Linear(1, 1), p)),
}


WRONG_SLOTS = [(s, k) for s in sorted(LOADERS) for k in sorted(KINDS) if KINDS[k][0] != s]


@pytest.mark.parametrize("slot, kind", WRONG_SLOTS)
def test_a_file_in_the_wrong_slot_is_named_in_one_line(files, slot, kind) -> None:
    _needs(files, kind)
    _, label, goes = KINDS[kind]
    field, load = LOADERS[slot]
    with pytest.raises(CheckpointError) as info:
        load(files[kind])
    message = str(info.value)
    assert message.startswith(f"{field} '{files[kind]}' is a {label}, not ")
    assert goes in message and "\n" not in message and "keys" not in message


def test_the_right_kind_is_not_refused(files, tmp_path) -> None:
    shapes = json.loads(LAYOUT.read_text())["u2netp"]["state_dict"]
    state = {f"module.{k}": torch.full(s, 0.5) for k, s in shapes.items()}
    torch.save(state, tmp_path / "u2netp.pth")
    model = load_u2net_checkpoint(build_u2net("u2netp"), tmp_path / "u2netp.pth")
    assert torch.equal(model.outconv.weight, torch.full(shapes["outconv.weight"], 0.5))
    # A Hiera file in the Hiera slot reaches the key check (a stand-in trunk: no keys fit).
    with pytest.raises(CheckpointError, match="does not fit the model; missing keys"):
        load_hiera_checkpoint(torch.nn.Linear(1, 1), files["hiera_mae"])


def test_build_model_names_the_field_the_file_and_where_it_belongs(files, small_branches) -> None:
    from pmgsam import build_model

    path = files["hiera_classifier"]
    with pytest.raises(CheckpointError) as info:
        build_model("pmgsam_tiny", image_size=64, u2net_checkpoint=str(path))
    assert str(info.value) == (
        f"model.u2net_checkpoint '{path}' is a Hiera checkpoint (hiera-transformer, "
        "classifier), not a U²-Net checkpoint: give it as model.hiera_checkpoint"
    )


@pytest.mark.parametrize("kind", sorted(k for k in KINDS if k != "pmgsam"))
def test_a_foreign_file_given_as_pmgsam_weights_is_named(files, kind) -> None:
    from pmgsam.modeling.checkpoint import read_model_config

    _needs(files, kind)
    _, label, goes = KINDS[kind]
    with pytest.raises(CheckpointError) as info:
        read_model_config(files[kind])
    message = str(info.value)
    assert message.startswith(f"'{files[kind]}' is a {label}, not PMG-SAM weights: ")
    assert goes in message and "\n" not in message


def test_a_safetensors_file_is_read_by_its_own_reader_on_any_torch(files, monkeypatch) -> None:
    # torch.load reads safetensors only in recent releases (not 2.11, the GPU machine's): there,
    # a PMG-SAM model.safetensors in a branch slot was "not a safe checkpoint", not named.
    from pmgsam.modeling import checkpoint_files

    def old_torch_load(*args, **kwargs):
        raise pickle.UnpicklingError("Weights only load failed: Unsupported operand 120")

    monkeypatch.setattr(checkpoint_files.torch, "load", old_torch_load)
    state = checkpoint_files.safe_torch_load(files["pmgsam"])
    assert state and all(torch.is_tensor(v) for v in state.values())
    with pytest.raises(CheckpointError, match=r"is a PMG-SAM checkpoint, not a U²-Net"):
        load_u2net_checkpoint(build_u2net("u2netp"), files["pmgsam"])
    data = files["pmgsam"].read_bytes()
    damaged = files["pmgsam"].with_name("damaged.safetensors")
    damaged.write_bytes(data[: 8 + int.from_bytes(data[:8], "little") + 10])  # tensors cut off
    with pytest.raises(CheckpointError, match=r"damaged.safetensors': a damaged safetensors"):
        checkpoint_files.safe_torch_load(damaged)

"""Branch checkpoints wrapped as training code saves them (``{"state_dict": ...}``,
``{"model": ..., "optimizer": ...}``, nn.DataParallel's ``module.`` prefix) load every tensor,
saying so in a log line naming the file; a file with no, or two, such wrappers is refused naming
it and its keys. Before, the U²-Net loader listed every weight as missing and the SAM loader
called a wrapped SAM file "not a segment-anything checkpoint"."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import pytest
import torch

from pmgsam.modeling.u2net import build_u2net
from pmgsam.modeling.weights import (
    CheckpointError,
    load_hiera_checkpoint,
    load_sam_into_decoder,
    load_u2net_checkpoint,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _u2netp_state() -> Dict[str, torch.Tensor]:
    """U²-Net† weights that differ from any fresh model's (its init is seeded)."""
    torch.manual_seed(5)
    state = build_u2net("u2netp").state_dict()
    return {k: v + torch.rand_like(v) if v.is_floating_point() else v for k, v in state.items()}


def _prefixed(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    return {f"module.{k}": v for k, v in state.items()}


@pytest.mark.parametrize(
    "wrap, said",
    [
        (lambda s: {"state_dict": s}, "its 'state_dict' entry"),
        (lambda s: {"model": s, "epoch": 7, "optimizer": {"lr": 0.1}}, "its 'model' entry"),
        (lambda s: {"state_dict": _prefixed(s)}, "'module.' prefix"),
        (_prefixed, "'module.' prefix"),
    ],
    ids=["state_dict", "model", "state_dict+module", "module"],
)
def test_a_wrapped_u2net_file_loads_every_weight_and_says_so(
    wrap, said: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = _u2netp_state()
    path = tmp_path / "u2netp_trained.pth"
    torch.save(wrap(state), path)
    model = build_u2net("u2netp")
    with caplog.at_level("INFO", logger="pmgsam"):
        load_u2net_checkpoint(model, path)
    loaded = model.state_dict()
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    lines = [r.getMessage() for r in caplog.records if str(path) in r.getMessage()]
    assert any(said in line for line in lines), lines


@pytest.mark.parametrize(
    "contents, named",
    [
        (lambda s: {"model": s, "state_dict": s}, r"each of \['state_dict', 'model'\]"),
        (lambda s: {"net": s, "epoch": 3}, r"no 'state_dict' entry .*\['epoch', 'net'\]"),
        # One weight under both names: stripping the prefix would keep only one of them.
        (lambda s: {**s, "module.outconv.bias": s["outconv.bias"] + 1}, "'module.outconv.bias'"),
    ],
    ids=["two wrappers", "unknown wrapper", "module clash"],
)
def test_a_file_whose_weights_cannot_be_told_is_refused_naming_it(
    contents, named: str, tmp_path: Path
) -> None:
    path = tmp_path / "u2netp_other.pth"
    torch.save(contents(_u2netp_state()), path)
    with pytest.raises(CheckpointError, match=named) as info:
        load_u2net_checkpoint(build_u2net("u2netp"), path)
    assert str(path) in str(info.value)


def test_a_hiera_file_under_state_dict_loads(tmp_path: Path) -> None:
    import hiera

    size = dict(embed_dim=8, num_heads=1, stages=(1, 1, 1, 1), input_size=(64, 64))
    torch.manual_seed(1)
    source = hiera.Hiera(num_classes=3, **size).state_dict()
    path = tmp_path / "hiera_finetuned.pth"
    torch.save({"state_dict": source, "epoch": 1}, path)  # not hiera-transformer's model_state
    trunk = hiera.Hiera(num_classes=3, **size)
    del trunk.norm, trunk.head  # as the Hiera branch builds it
    load_hiera_checkpoint(trunk, path)
    assert torch.equal(trunk.patch_embed.proj.weight, source["patch_embed.proj.weight"])


def test_a_sam_file_under_model_initialises_the_decoder(tmp_path: Path) -> None:
    from segment_anything.modeling import MaskDecoder, TwoWayTransformer

    from pmgsam.modeling.mask_decoder import GuidedMaskDecoder

    torch.manual_seed(0)
    transformer = TwoWayTransformer(depth=1, embedding_dim=32, mlp_dim=64, num_heads=2)
    sam = MaskDecoder(transformer_dim=32, transformer=transformer)
    path = tmp_path / "sam_decoder.pth"
    torch.save({"model": {f"mask_decoder.{k}": v for k, v in sam.state_dict().items()}}, path)
    decoder = GuidedMaskDecoder(dim=32, depth=1, num_heads=2, mlp_dim=64)
    report = load_sam_into_decoder(decoder, path)
    assert report["loaded"] and not report["shape_mismatch"]
    taken = decoder.state_dict()["transformer.layers.0.mlp.lin1.weight"]
    assert torch.equal(taken, sam.state_dict()["transformer.layers.0.mlp.lin1.weight"])

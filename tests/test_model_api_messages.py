"""Plain mistakes with build_model, save_model and load_pretrained get messages that name the
fix: the close name or field, where device and dtype go, the file type save_model takes, and what
a file given as PMG-SAM weights actually is (another project's state dict, PMG-SAM tensors saved
without their config, a copy cut short)."""

from __future__ import annotations

import copy
import re

import pytest
import torch
from safetensors.torch import save_file

import pmgsam
from pmgsam.modeling.checkpoint import save_model
from pmgsam.modeling.weights import CheckpointError
from pmgsam.utils.config import ConfigError


@pytest.mark.parametrize(
    ("name", "meant"), [("pmgsam_hiera_b", "pmgsam_hiera_b+"), ("PMGSAM-tiny", "pmgsam_tiny")]
)
def test_a_mistyped_model_name_gets_the_close_one(name, meant):
    with pytest.raises(ValueError, match=re.escape(f"did you mean '{meant}'?")):
        pmgsam.build_model(name)


def test_a_weights_file_given_as_a_model_name_points_to_load_pretrained(tmp_path):
    with pytest.raises(ValueError, match="loads with pmgsam.load_pretrained"):
        pmgsam.build_model(str(tmp_path / "mine.safetensors"))


def test_unknown_keywords_name_the_close_field_and_where_device_and_dtype_go():
    with pytest.raises(ConfigError) as caught:
        pmgsam.build_model("pmgsam_tiny", image_sise=128, device="cuda", dtype=torch.float16)
    message = str(caught.value)
    assert "'image_sise': did you mean 'image_size'?" in message
    assert "'device': " in message and "model.to('cuda')" in message
    assert "'dtype': " in message and "model.to(torch.bfloat16)" in message


def test_save_model_names_a_module_that_is_no_pmgsam_and_a_folder(small_tiny_model, tmp_path):
    with pytest.raises(TypeError, match="saves a PMG-SAM model .* got Linear$"):
        save_model(torch.nn.Linear(2, 2), tmp_path / "w.safetensors")

    class Wrapped(torch.nn.Module):  # how DistributedDataParallel holds the model
        def __init__(self) -> None:
            super().__init__()
            self.module = small_tiny_model

    with pytest.raises(TypeError, match=r"got Wrapped \(pass its \.module"):
        save_model(Wrapped(), tmp_path / "w.safetensors")
    with pytest.raises(CheckpointError, match=f"'{tmp_path}' is a folder: .*model.safetensors"):
        save_model(small_tiny_model, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_load_pretrained_says_what_a_foreign_file_is(small_tiny_model, tmp_path):
    other = tmp_path / "resnet.pth"  # a torchvision state dict, as another project saves one
    torch.save({"conv1.weight": torch.zeros(2, 3, 1, 1), "fc.bias": torch.zeros(2)}, other)
    with pytest.raises(CheckpointError, match=r"but a state dict of 2 tensors .*'conv1\.weight'"):
        pmgsam.load_pretrained(other)

    bare = tmp_path / "bare.safetensors"  # PMG-SAM's tensors, without save_model's metadata
    save_file(small_tiny_model.trainable_state_dict(), str(bare))
    with pytest.raises(CheckpointError, match="it holds PMG-SAM weights without the metadata"):
        pmgsam.load_pretrained(bare)

    whole = save_model(small_tiny_model, tmp_path / "w.safetensors").read_bytes()
    for cut in (len(whole) // 2, 40):  # the data, or the header itself, cut short
        (tmp_path / "cut.safetensors").write_bytes(whole[:cut])
        with pytest.raises(CheckpointError, match="damaged or cut short"):
            pmgsam.load_pretrained(tmp_path / "cut.safetensors")


def test_save_model_refuses_a_converted_model_whose_reload_would_not_match(
    small_tiny_model, tmp_path
):
    # Its frozen-branch digests would be of bfloat16 weights: load_pretrained, which rebuilds
    # them in float32, would then warn (random branches) or refuse (files) a good checkpoint.
    low = copy.deepcopy(small_tiny_model).to(torch.bfloat16)
    with pytest.raises(CheckpointError, match=r"stores float32 models.*torch\.bfloat16"):
        save_model(low, tmp_path / "low.safetensors")
    assert not (tmp_path / "low.safetensors").exists()


def test_the_package_offers_the_whole_notebook_api_beside_load_pretrained():
    from pmgsam.engine import predictor
    from pmgsam.modeling import checkpoint

    assert pmgsam.save_model is checkpoint.save_model
    assert pmgsam.Predictor is predictor.Predictor
    assert pmgsam.binary_mask is predictor.binary_mask
    assert {"save_model", "Predictor", "binary_mask"} <= set(pmgsam.__all__) & set(dir(pmgsam))

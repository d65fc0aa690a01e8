"""What a PMG-SAM weights file holds, and what loading it needs.

The file stores the trainable parts only: the frozen branches come from their own official
files (or the fixed-seed init), which the SHA-256 check then vouches for. The SAM checkpoint the
decoder started from is history: every decoder weight is in the file, so loading it must not
need that SAM file again (it is usually absent where a model is evaluated).
"""

from __future__ import annotations

import pytest
import torch
from safetensors import safe_open

import pmgsam
from pmgsam.modeling.build import model_config
from pmgsam.modeling.checkpoint import save_model
from pmgsam.modeling.pmgsam import FROZEN_BRANCHES
from pmgsam.modeling.weights import read_torch_checkpoint

S = 32

pytestmark = pytest.mark.usefixtures("small_branches")


def test_the_file_holds_every_trainable_parameter_and_no_frozen_branch(tmp_path) -> None:
    torch.manual_seed(0)
    model = pmgsam.build_model("pmgsam_tiny", image_size=S)
    with safe_open(str(save_model(model, tmp_path / "w.safetensors")), framework="pt") as f:
        stored = set(f.keys())
    assert not [k for k in stored if k.split(".")[0] in FROZEN_BRANCHES]
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and trainable <= stored


def test_a_model_started_from_sam_loads_where_that_sam_file_is_gone(tmp_path) -> None:
    # A one-tensor "SAM checkpoint" that fits the tiny decoder: its first MLP bias.
    key = "transformer.layers.0.mlp.lin1.bias"
    width = model_config("pmgsam_tiny").decoder_mlp_dim
    sam_file = tmp_path / "sam_vit_b.pth"
    torch.save({f"mask_decoder.{key}": torch.randn(width)}, sam_file)
    torch.manual_seed(0)
    model = pmgsam.build_model("pmgsam_tiny", image_size=S, sam_checkpoint=str(sam_file)).eval()
    sam_bias = read_torch_checkpoint(sam_file)[f"mask_decoder.{key}"]
    assert torch.equal(model.decoder.state_dict()[key], sam_bias)
    path = save_model(model, tmp_path / "w.safetensors")
    sam_file.unlink()  # evaluated on another machine, without the SAM file
    loaded = pmgsam.load_pretrained(path).eval()
    assert torch.equal(loaded.decoder.state_dict()[key], sam_bias)
    x = torch.rand(1, 3, S, S)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)["mask"], model(x)["mask"], atol=0, rtol=0)


def test_a_name_other_than_safetensors_is_refused_and_old_such_files_still_load(tmp_path) -> None:
    from pmgsam.modeling.weights import CheckpointError

    torch.manual_seed(0)
    model = pmgsam.build_model("pmgsam_tiny", image_size=S).eval()
    with pytest.raises(CheckpointError, match=r"'.*x\.pt' would be misnamed: .*ending in \.safe"):
        save_model(model, tmp_path / "x.pt")
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary
    save_model(model, tmp_path / "upper.SAFETENSORS")
    # A file an earlier release wrote as x.pt (safetensors inside) loads as before.
    (tmp_path / "upper.SAFETENSORS").rename(tmp_path / "old.pt")
    loaded = pmgsam.load_pretrained(tmp_path / "old.pt").eval()
    x = torch.rand(1, 3, S, S)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)["mask"], model(x)["mask"], atol=0, rtol=0)

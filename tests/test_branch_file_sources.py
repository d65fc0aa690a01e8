"""The messages about a missing or absent branch file say what that file must be and where it
comes from, for the model's own variants: weights/README.md, which has the table, is in the
source release only, so a pip-installed package's messages must carry that themselves."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pmgsam.modeling.build import build_model
from pmgsam.modeling.weights import CheckpointError

pytestmark = pytest.mark.usefixtures("one_thread")

# pmgsam_tiny is Hiera-T with U²-Net† (u2netp); the paper model Hiera-B+ with U²-Net.
EXPECTED = {
    (
        "pmgsam_tiny",
        "hiera_checkpoint",
    ): "https://dl.fbaipublicfiles.com/hiera/mae_hiera_tiny_224.pth",
    ("pmgsam_tiny", "u2net_checkpoint"): "saved_models/u2netp/u2netp.pth",
    ("pmgsam_hiera_b+", "hiera_checkpoint"): "hiera/mae_hiera_base_plus_224.pth",
    ("pmgsam_hiera_b+", "u2net_checkpoint"): "saved_models/u2net/u2net.pth",
    ("pmgsam_tiny", "sam_checkpoint"): "segment_anything/sam_vit_b_01ec64.pth",
}


@pytest.mark.parametrize("name, field", sorted(EXPECTED))
def test_a_missing_file_says_which_file_it_must_be_and_where_it_comes_from(
    tmp_path: Path, name: str, field: str
) -> None:
    with pytest.raises(CheckpointError) as err:
        build_model(name, **{field: str(tmp_path / "missing.pth")})
    assert EXPECTED[name, field] in str(err.value)
    assert "xuebinqin/U-2-Net" in str(err.value) or field != "u2net_checkpoint"


def test_the_random_branch_warning_names_each_field_and_its_file(small_branches, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="pmgsam.modeling.build"):
        build_model("pmgsam_tiny", image_size=64)
    (message,) = [r.getMessage() for r in caplog.records if "no pretrained" in r.getMessage()]
    hiera, u2net = message.split("Give ", 1)[1].split("; ")
    assert hiera.startswith("model.hiera_checkpoint: ")
    assert hiera.endswith(EXPECTED["pmgsam_tiny", "hiera_checkpoint"])
    assert u2net.startswith("model.u2net_checkpoint: the official u2netp.pth")
    assert "weights/README.md" not in message  # not shipped with a pip install

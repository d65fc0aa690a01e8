"""build_model warns about each frozen branch left at its fixed-seed random init, and only
about those (case found by mutation testing: no test read the warning). Masks of such a model
are meaningless for real results, and the warning is the only sign of it before training."""

from __future__ import annotations

import logging

import pytest
import torch

import pmgsam
from pmgsam.modeling.u2net import build_u2net

pytestmark = pytest.mark.usefixtures("one_thread")


def _random_branch_warnings(caplog: pytest.LogCaptureFixture) -> list:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "no pretrained checkpoint" in r.getMessage()
    ]


def test_without_files_both_branches_are_named(small_branches, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="pmgsam.modeling.build"):
        pmgsam.build_model("pmgsam_tiny", image_size=64)
    (message,) = _random_branch_warnings(caplog)
    assert message.startswith("Hiera and U²-Net branch(es) have no pretrained checkpoint")


def test_a_branch_with_its_file_is_not_named(small_branches, caplog, tmp_path) -> None:
    path = tmp_path / "u2netp.pth"
    torch.save(build_u2net("u2netp").state_dict(), path)
    with caplog.at_level(logging.WARNING, logger="pmgsam.modeling.build"):
        pmgsam.build_model("pmgsam_tiny", image_size=64, u2net_checkpoint=str(path))
    (message,) = _random_branch_warnings(caplog)
    assert message.startswith("Hiera branch(es) have no pretrained checkpoint")

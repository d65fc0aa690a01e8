"""Mutation audit of what ``python -m pmgsam.baselines.finetune_sam`` checks and reads besides
the recipe (:mod:`pmgsam.baselines.finetune_data`: ``--output``, the record beside the weights)
and of the recipe's settings and frozen parts (:mod:`pmgsam.baselines.finetune_recipe`). Small
files and stand-in modules only; nothing is fine-tuned."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest
import torch

from pmgsam.baselines.finetune_data import (
    RECORD_FORMAT,
    check_outputs,
    finetune_record,
    sidecar_path,
)
from pmgsam.baselines.finetune_recipe import FinetuneConfig, freeze_encoders
from pmgsam.utils.config import ConfigError
from pmgsam.utils.outputs import OutputError


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    path = tmp_path / "sam.pth"
    path.write_bytes(b"source weights")
    return path


def test_an_existing_output_is_replaced_only_with_overwrite(tmp_path: Path, source: Path) -> None:
    output = tmp_path / "ft.pth"
    output.write_bytes(b"earlier fine-tuning")
    with pytest.raises(OutputError, match=r"ft\.pth already exist\(s\); pass --overwrite"):
        check_outputs(output, source, overwrite=False)
    check_outputs(output, source, overwrite=True)


def test_an_existing_record_alone_is_refused_without_overwrite(tmp_path: Path, source) -> None:
    # The record would be replaced, and another fine-tuning's record lost with it.
    output = tmp_path / "ft.pth"
    sidecar_path(output).write_text("{}")
    with pytest.raises(OutputError, match=r"ft\.finetune\.json already exist"):
        check_outputs(output, source, overwrite=False)
    check_outputs(output, source, overwrite=True)


def test_an_output_under_a_file_is_refused_before_any_work(tmp_path: Path, source: Path) -> None:
    blocker = tmp_path / "weights"
    blocker.write_text("a file where --output's folder should be")
    with pytest.raises(OutputError, match=r"--output .*/weights' is a file, not a folder"):
        check_outputs(blocker / "ft.pth", source, overwrite=True)


def _record_beside(output: Path, sha256: str) -> dict:
    record = {"format": RECORD_FORMAT, "output_sha256": sha256, "data": {"limit": None}}
    sidecar_path(output).write_text(json.dumps(record))
    return record


def test_the_record_is_checked_against_the_given_sha256_without_hashing_again(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    output = tmp_path / "ft.pth"
    output.write_bytes(b"fine-tuned weights")
    digest = hashlib.sha256(b"fine-tuned weights").hexdigest()
    record = _record_beside(output, digest)
    assert finetune_record(output) == record  # hashed here
    assert finetune_record(output, sha256=digest) == record
    # The caller's hash is the one of the bytes it loads: a file changed since is not re-read.
    output.write_bytes(b"replaced later")
    assert finetune_record(output, sha256=digest) == record
    with caplog.at_level(logging.WARNING, logger="pmgsam.baselines.finetune_sam"):
        assert finetune_record(output) is None
        assert finetune_record(output, sha256="0" * 64) is None
    assert caplog.text.count("SHA-256 differs") == 2


def test_a_negative_seed_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"'finetune\.seed' must be a seed"):
        FinetuneConfig(seed=-1).validate()


class _Part(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(2))


class _Sam(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.image_encoder, self.prompt_encoder, self.mask_decoder = _Part(), _Part(), _Part()


def test_freezing_leaves_only_the_decoder_trainable_whatever_it_was() -> None:
    sam = _Sam()
    sam.requires_grad_(False)  # e.g. a model loaded frozen for inference
    trained = freeze_encoders(sam)
    assert trained == [sam.mask_decoder.weight] and sam.mask_decoder.weight.requires_grad
    for part in (sam.image_encoder, sam.prompt_encoder):
        assert not part.training and not part.weight.requires_grad

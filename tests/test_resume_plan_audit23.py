"""Prediction resume plan (pmgsam.engine.resume_plan), pinned where a plausible wrong version
passed the other tests: a weights file that cannot be read a second time costs the record of
its maps' producer, not the run."""

from __future__ import annotations

import logging

import pytest

from pmgsam.engine import resume_plan
from pmgsam.modeling.weights import CheckpointError


@pytest.mark.parametrize("error", [OSError("Input/output error"), CheckpointError("truncated")])
def test_an_unreadable_second_read_records_an_unknown_producer(monkeypatch, caplog, error):
    def unreadable(*args, **kwargs):
        raise error

    monkeypatch.setattr(resume_plan, "map_producer", unreadable)
    with caplog.at_level(logging.WARNING, logger="pmgsam.engine.inference"):
        assert resume_plan.recorded_producer("/w/model.safetensors", "bf16", "ab" * 32) is None
    assert "could not read '/w/model.safetensors' again" in caplog.text
    assert str(error) in caplog.text and "--skip-existing will not keep them" in caplog.text


def test_an_error_of_another_kind_is_not_taken_for_an_unreadable_file(monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("a bug, not a file")

    monkeypatch.setattr(resume_plan, "map_producer", broken)
    with pytest.raises(ValueError, match="a bug"):
        resume_plan.recorded_producer("/w/model.safetensors", "bf16")

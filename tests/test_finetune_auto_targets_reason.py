"""finetune.targets=auto falling back to object targets says why, per split: a configured
instance folder that is missing changes what the decoder learns without an error."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from pmgsam.baselines.finetune_targets import resolve_targets
from pmgsam.data.instance_labels import InstanceSource


def test_auto_fallback_names_each_splits_reason(caplog):
    missing = "instance folder 'data/own/train/instances' does not exist (data.instance_dir)"
    datasets = {
        "train": SimpleNamespace(instances=InstanceSource("none", reason=missing)),
        "test": SimpleNamespace(instances=InstanceSource("png", "data/own/test/instances")),
    }
    with caplog.at_level(logging.INFO, logger="pmgsam.baselines.finetune_sam"):
        assert resolve_targets("auto", datasets, "data/own") == "object"
    (line,) = [r.getMessage() for r in caplog.records]
    assert f"'train': {missing}" in line
    assert "'test'" not in line

"""evaluate.py --baseline refuses a --reduce that no score reads: box rows map their masks'
maximum, and COS data scores every automatic mask as an instance. It used to run, recording
the reduction in run.json (an ``oracle`` one as reading the GT) and writing maps made with it."""

from __future__ import annotations

import pytest
import yaml
from cli_cases import evaluate_main

from pmgsam.utils.cli import exit_status


@pytest.mark.parametrize(
    "dataset, baseline, reduce, error",
    [
        ("cod10k", "sam-auto", "oracle", "--reduce oracle only applies on DIS data: on cod10k"),
        ("nc4k", "esam", "largest", "--reduce largest only applies on DIS data: on nc4k"),
        ("dis5k", "sam-box", "oracle", "--reduce oracle only applies to automatic modes, not sam-"),
        ("dis5k", "sam2-box", "largest", "--reduce largest only applies to automatic modes, not"),
    ],
)
def test_a_reduce_no_score_reads_is_refused(tmp_path, capsys, dataset, baseline, reduce, error):
    splits = {
        "dis5k": ("DIS-TR", "DIS-TE1"),
        "cod10k": ("Train", "Test"),
        "nc4k": ("train", "test"),
    }
    train, test = splits[dataset]
    data = {"dataset": dataset, "root": str(tmp_path), "train_split": train, "val_split": None}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"data": dict(data, test_splits=[test])}))
    argv = ["--baseline", baseline, "--checkpoint", tmp_path / "sam.pth", "--config", config,
            "--reduce", reduce, "--output-dir", tmp_path / "run"]  # fmt: skip
    assert exit_status(evaluate_main, argv) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"error: {error}" in last, last
    assert not (tmp_path / "run").exists()

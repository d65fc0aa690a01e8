"""Baseline mode (``evaluate.py --baseline``) ends with the row's tables, as benchmark mode
ends with its own, then the line naming its run.json: ``--quiet`` hides the progress bars only
(as its ``--help`` and the README say, and as in benchmark mode). SAM itself is skipped: a
linear layer as the model, a map of 0.9 per box."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest
import torch
import yaml

import evaluate
from pmgsam.baselines import base
from pmgsam.baselines import sam as sam_family
from pmgsam.utils.config import to_dict


@pytest.fixture
def fake_sam(monkeypatch: pytest.MonkeyPatch) -> None:
    def predict(self: Any, image: np.ndarray, boxes: Optional[np.ndarray] = None) -> Any:
        maps = [np.full(image.shape[:2], 0.9, np.float32) for _ in boxes]
        return base.Prediction(maps, [0.9] * len(maps))

    monkeypatch.setattr(sam_family, "load", lambda *args: torch.nn.Linear(1, 1))
    monkeypatch.setattr(sam_family, "predictor", lambda model: None)
    monkeypatch.setattr(base.BoxBaseline, "predict", predict)


def _argv(data_config, dis5k_root: Path, tmp_path: Path, splits: str, limit: int) -> list:
    """A quiet sam-box row of ``splits`` (the first ``limit`` images each) into tmp_path/row."""
    checkpoint = tmp_path / "sam.pth"
    checkpoint.write_bytes(b"weights")  # hashed for the manifests, never read (load is faked)
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({"data": to_dict(data_config("dis5k", dis5k_root))}))
    argv = ["--baseline", "sam-box", "--checkpoint", str(checkpoint), "--config", str(config)]
    argv += ["--splits", splits, "--limit", str(limit), "--output-dir", str(tmp_path / "row")]
    return argv + ["--quiet", "--device", "cpu", "--speed-iters", "0", "--workers", "1"]


def test_a_quiet_baseline_row_prints_its_tables_and_where_it_wrote(
    fake_sam: None, data_config, dis5k_root: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "row"
    assert evaluate.main(_argv(data_config, dis5k_root, tmp_path, "DIS-VD,DIS-TE1", 1)) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"wrote {out / 'run.json'}"  # one line says where, and it comes last
    run = json.loads((out / "run.json").read_text())
    assert run["method"] == "SAM ViT-B GT box"
    # One DIS table per split, each with the row, above that line (the parameter count alone
    # makes the efficiency table).
    for heading in ("## DIS5K", "### DIS-VD", "### DIS-TE1", "## Efficiency"):
        assert heading in lines[:-1], heading
    rows = [line for line in lines if line.startswith("| SAM ViT-B GT box |")]
    assert len(rows) == 3, lines
    mae = f"{run['dis']['DIS-TE1']['MAE']:.3f}"
    assert f" {mae} " in rows[1]
    # --limit: the notes say the scores are not of the whole split.
    assert any("NOT the whole split" in line for line in lines)


def test_each_split_prints_as_benchmark_mode_and_logs_its_maps_folder(
    fake_sam: None, data_config, dis5k_root: Path, tmp_path: Path, capsys, caplog
) -> None:
    import logging

    out = tmp_path / "row"
    with caplog.at_level(logging.INFO, logger="pmgsam.baselines.runner"):
        assert evaluate.main(_argv(data_config, dis5k_root, tmp_path, "DIS-TE1", 2)) == 0
    said = [r.getMessage() for r in caplog.records]
    assert f"predicting 2 images of split DIS-TE1 → {out / 'pred' / 'DIS-TE1'}" in said
    scores = json.loads((out / "metrics" / "DIS-TE1.json").read_text())
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("DIS-TE1: "))
    # Four decimals and the image count, as benchmark mode's line (not 0.12139824082499243).
    assert line.startswith("DIS-TE1: [2 images] ")
    assert f"MAE={scores['MAE']:.4f}" in line.split() and f"HCE={scores['HCE']:.4f}" in line


def test_with_skip_existing_the_log_line_counts_only_the_maps_still_to_predict(
    fake_sam: None, data_config, dis5k_root: Path, tmp_path: Path, caplog
) -> None:
    import logging

    argv = _argv(data_config, dis5k_root, tmp_path, "DIS-TE1", 2) + ["--skip-existing"]
    pred = tmp_path / "row" / "pred" / "DIS-TE1"

    def predicting() -> list:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="pmgsam.baselines.runner"):
            assert evaluate.main(argv) == 0
        return [r.getMessage() for r in caplog.records if r.getMessage().startswith("predict")]

    assert predicting() == [f"predicting 2 images of split DIS-TE1 → {pred}"]
    assert predicting() == []  # every map kept
    sorted(pred.glob("*.png"))[0].unlink()
    assert predicting() == [f"predicting 1 image of split DIS-TE1 → {pred}"]

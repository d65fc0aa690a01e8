"""Audit test (mutation survivor): with --skip-existing, baseline mode's log line counts the
images it predicts, not the split's (none when every map is kept: no line)."""

from __future__ import annotations

import logging
from pathlib import Path

import yaml
from test_baseline_row_printout import fake_sam  # noqa: F401 (a fixture)

import evaluate
from pmgsam.utils.config import to_dict


def test_the_log_line_counts_only_the_maps_still_to_predict(
    fake_sam,
    data_config,
    dis5k_root: Path,
    tmp_path: Path,
    caplog,  # noqa: F811
) -> None:
    checkpoint = tmp_path / "sam.pth"
    checkpoint.write_bytes(b"weights")
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({"data": to_dict(data_config("dis5k", dis5k_root))}))
    out = tmp_path / "row"
    argv = ["--baseline", "sam-box", "--checkpoint", str(checkpoint), "--config", str(config)]
    argv += ["--splits", "DIS-TE1", "--limit", "2", "--output-dir", str(out), "--quiet"]
    argv += ["--device", "cpu", "--speed-iters", "0", "--workers", "1", "--skip-existing"]
    pred = out / "pred" / "DIS-TE1"

    def predicting() -> list:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="pmgsam.baselines.runner"):
            assert evaluate.main(argv) == 0
        return [r.getMessage() for r in caplog.records if r.getMessage().startswith("predict")]

    assert predicting() == [f"predicting 2 images of split DIS-TE1 → {pred}"]
    assert predicting() == []  # every map kept
    sorted(pred.glob("*.png"))[0].unlink()
    assert predicting() == [f"predicting 1 images of split DIS-TE1 → {pred}"]

"""COD10K with ``data.cam_only: false`` (the download's NonCAM images in the split) is refused by
every COS scorer, not only evaluate.py's benchmark mode: the SAM baselines' rows and the
overlapping-instance analysis would count the NonCAM images in their image totals and score
whatever is found on them as false positives."""

from __future__ import annotations

import pytest
import yaml
from test_overlap_analysis import _by_config

import evaluate
from pmgsam.analysis.__main__ import main as analysis_main
from pmgsam.utils.cli import exit_status
from pmgsam.utils.config import ConfigError, to_dict


def test_a_baseline_row_refuses_noncam_images_before_the_model_loads(
    sam_file, cod10k_root, data_config, tmp_path
) -> None:
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump({"data": to_dict(data_config("cod10k", cod10k_root))}))
    out = tmp_path / "row"
    argv = ["--baseline", "sam-auto", "--checkpoint", str(sam_file[0]), "--config", str(cfg),
            "--dataset", "cod10k", "--splits", "Test", "--device", "cpu", "--quiet",
            "--model-image-size", "64", "--output-dir", str(out),
            "data.cam_only=false"]  # fmt: skip
    with pytest.raises(ConfigError, match=r"data.cam_only is false .* data.cam_only=true"):
        evaluate.main(argv)
    assert not out.exists()


def test_the_overlap_analysis_refuses_noncam_images(cod10k_root, tmp_path, capsys) -> None:
    out = tmp_path / "o"
    argv = [*_by_config(cod10k_root), "data.cam_only=false", "--out", out]
    assert exit_status(analysis_main, argv) == 2
    err = capsys.readouterr().err
    assert "data.cam_only is false" in err and "NonCAM" in err, err
    assert not out.exists()
    # The same call with the CAM images only lists its subset.
    assert exit_status(analysis_main, [*_by_config(cod10k_root), "--out", out]) == 0

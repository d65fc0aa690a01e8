"""Plain helpers of the COS benchmark-mode tests (pytest's default import mode puts tests/ on
the path): :func:`small_nc4k`, a generated NC4K with three tiny test images and a config for it,
and :func:`evaluate`, ``evaluate.py``'s main run on it; :func:`tiny_config`, the config of the
tiny model at S=64 on a given data section; :func:`nc4k_config` and :func:`export_gt`, the COS
ground-truth export of such a config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Tuple

import yaml
from cli_cases import evaluate_main

from pmgsam.data import build_dataset, generate
from pmgsam.engine.config import ExperimentConfig
from pmgsam.evaluation import export_cos_gt
from pmgsam.modeling.build import model_config as registered_config
from pmgsam.utils.config import load_config, to_dict


def small_nc4k(tmp_path: Path, model_config: Any) -> Tuple[Path, List[Path]]:
    """(config, the test split's image files): NC4K with three 32x24 test images, for a model
    of ``model_config``."""
    root = generate("nc4k", tmp_path / "data", num=6, seed=0, size=(32, 24), progress=False)
    data = {"dataset": "nc4k", "root": str(root), "train_split": "train", "val_split": None}
    data.update(test_splits=["test"], test_fraction=0.5, split_dir=str(tmp_path / "splits"))
    data["num_workers"] = 0
    cfg = {"model": to_dict(model_config), "data": data, "train": {"device": "cpu"}}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    loaded = load_config(ExperimentConfig, config)
    images = build_dataset(loaded.data, "test", 64, train=False).image_paths
    assert len(images) == 3
    return config, [Path(p) for p in images]


def tiny_config(tmp_path: Path, data: Dict[str, Any]) -> Path:
    """``tmp_path / "config.yaml"``: the registered tiny model at S=64 on ``data`` (a data
    section), trained and run on the CPU."""
    model = to_dict(registered_config("pmgsam_tiny", image_size=64))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"model": model, "data": data, "train": {"device": "cpu"}}))
    return config


def evaluate(config: Path, weights: Path, run: Path, *extra: Any) -> int:
    """Benchmark mode of ``weights`` on ``config``'s test split into ``run`` (CPU, quiet)."""
    argv = ["--config", config, "--checkpoint", weights, "--device", "cpu", "--quiet",
            "--output-dir", run, *extra]  # fmt: skip
    return evaluate_main(argv)


def nc4k_config(tmp_path: Path, root: object) -> Path:
    """:func:`tiny_config` on the NC4K at ``root`` (its train split carved, split files under
    ``tmp_path / "splits"``)."""
    data = {"dataset": "nc4k", "root": str(root), "train_split": "train", "val_split": None}
    data.update(test_splits=["test"], num_workers=0, split_dir=str(tmp_path / "splits"))
    return tiny_config(tmp_path, data)


def export_gt(config: Path, split: str, out: Path, *extra: object) -> dict:
    """The COCO ground truth ``export_cos_gt`` writes to ``out`` for ``split`` of ``config``
    (the command must succeed)."""
    argv = ["--config", config, "--split", split, "--out", out, *extra]
    assert export_cos_gt.main([str(a) for a in argv]) == 0
    return json.loads(out.read_text())

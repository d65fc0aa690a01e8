"""Plain helpers of the COS benchmark-mode tests (pytest's default import mode puts tests/ on
the path): :func:`small_nc4k`, a generated NC4K with three tiny test images and a config for it,
and :func:`evaluate`, ``evaluate.py``'s main run on it; :func:`tiny_config`, the config of the
tiny model at S=64 on a given data section."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Dict, List, Tuple

import yaml

from pmgsam.data import build_dataset, generate
from pmgsam.engine.config import ExperimentConfig
from pmgsam.modeling.build import model_config as registered_config
from pmgsam.utils.config import load_config, to_dict

ROOT = Path(__file__).resolve().parents[1]


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
    spec = importlib.util.spec_from_file_location("evaluate_cli", ROOT / "evaluate.py")
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    argv = ["--config", config, "--checkpoint", weights, "--device", "cpu", "--quiet",
            "--output-dir", run, *extra]  # fmt: skip
    return cli.main([str(a) for a in argv])

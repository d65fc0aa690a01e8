"""The ablation grid: each config changes one component; the CLI trains, scores and tabulates."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import torch
from mask_cases import png_size

from pmgsam.ablate import GRID_FILE, load_grid, main, switched_keys
from pmgsam.engine.config import ExperimentConfig
from pmgsam.modeling.build import build_model
from pmgsam.utils.cli import exit_status
from pmgsam.utils.config import ConfigError, diff, load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
GRID = CONFIGS / "ablations"
BASE = CONFIGS / "pmgsam_dis5k.yaml"
# Demo-sized model: none of these keys is switched by an ablation config.
TINY = [
    "model.image_size=64",
    "model.hiera=tiny",
    "model.hiera_checkpoint=null",
    "model.u2net=u2netp",
    "model.u2net_checkpoint=null",
    "model.fpn_dim=32",
    "model.fusion_channels=[4,4,8,8,8,8]",
    "model.fusion_growth=[4,4,4,4,4,4]",
    "model.refiner_dim=4",
    "model.decoder_heads=2",
    "model.decoder_mlp_dim=32",
]
# One epoch on the CPU, loading in-process, no previews: a variant trained in seconds.
ONE_CPU_EPOCH = [
    "data.num_workers=0",
    "schedule.epochs=1",
    "schedule.warmup_epochs=0",
    "train.device=cpu",
    "train.amp=none",
    "train.num_threads=1",
    "train.preview_every=0",
]
# Which top-level module each switch may change; loss weights change no module.
COMPONENT = {
    "model.fusion": "fusion",
    "model.drfm_blocks": "fusion",
    "model.srb_iterations": "fusion",
    "model.high_res": "decoder",
    "model.decoder_depth": "decoder",
    "model.bidirectional": "decoder",
    "loss.iou_weight": None,
}
ABLATIONS = sorted(p for p in GRID.glob("*.yaml") if p.name != GRID_FILE)


def _modules(model) -> Dict[str, Tuple[str, Tuple]]:
    """name -> (module type, shapes of its own parameters)."""
    return {
        name: (type(m).__name__, tuple(tuple(p.shape) for p in m.parameters(recurse=False)))
        for name, m in model.named_modules()
    }


def _structure(path: Path) -> Dict[str, Tuple[str, Tuple]]:
    """The module structure of a config's demo-sized model."""
    # Only the structure is compared: drawing random weights (most of the build time) is
    # skipped, for this build only.
    with pytest.MonkeyPatch.context() as mp:
        for name in ("trunc_normal_", "kaiming_uniform_", "normal_", "uniform_"):
            mp.setattr(torch.nn.init, name, lambda tensor, *args, **kwargs: tensor)
        return _modules(build_model(load_config(ExperimentConfig, path, TINY).model))


@pytest.fixture(scope="module")
def base_modules() -> Dict[str, Tuple[str, Tuple]]:
    return _structure(BASE)


@pytest.mark.parametrize("path", ABLATIONS, ids=lambda p: p.stem)
def test_config_differs_from_base_in_one_component(path: Path, base_modules) -> None:
    cfg = load_config(ExperimentConfig, path)
    base = load_config(ExperimentConfig, BASE)
    changed = {d.split(":")[0] for d in diff(base, cfg)}
    switched = switched_keys(path)
    assert changed == set(switched) | {"output_dir"}
    assert len(switched) == (0 if path.stem == "full" else 1)
    if not switched:
        return
    component = COMPONENT[switched[0]]
    modules = _structure(path)
    differing = {
        n for n in set(modules) | set(base_modules) if modules.get(n) != base_modules.get(n)
    }
    if component is None:
        assert not differing
    else:
        assert differing, "the switch changed no module"
        outside = sorted(n for n in differing if n.split(".")[0] != component)
        assert not outside, f"modules outside '{component}' changed: {outside[:5]}"


def test_grid_names_existing_configs() -> None:
    spec, paths = load_grid(GRID)
    assert set(paths) == {p.stem for p in ABLATIONS}
    assert [r.config for r in spec.table.rows][-1] == "full"


def _read_csv(path: Path) -> List[Dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_ablate_trains_two_configs_and_writes_table_and_plot(
    tmp_path, dis5k_root, capsys, small_branches
):
    # small_branches: the two variants' four builds (training, scoring) of Hiera-T took seconds.
    out = tmp_path / "abl"
    overrides = TINY + [
        f"data.root={dis5k_root}",
        f"data.split_dir={tmp_path / 'splits'}",
        *ONE_CPU_EPOCH,
    ]
    args = ["--grid", str(GRID), "--output-dir", str(out), "--only", "highres_none,baim_n1"]
    args += ["--device", "cpu", "--quiet", "--no-hce", "--train", "--evaluate"]
    assert main(args + overrides) == 0
    rows = {r["method"]: r for r in _read_csv(out / "ablation.csv")}
    assert len(rows) == 6
    scored = [m for m, r in rows.items() if r["Overall (TE1-4) MAE↓"]]
    assert scored == ["(b) No high-res features"]
    # DIS-TE1..4 of the fixture hold 2 images each: all 8 were scored as one set.
    run = (out / "highres_none" / "metrics" / "DIS-TE1-4.per_image.csv").read_text()
    assert len(run.strip().splitlines()) == 1 + 8
    w, h = png_size(out / "fig9c_baim_blocks.png")
    assert (w, h) == (round(7.16 * 300), round(3.6 * 300))
    assert (out / "ablation.tex").read_text().count(r"\\") >= 7

    # A second call finds both runs finished and scored: nothing is retrained or re-scored.
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.safetensors")}
    stamps.update({p: p.stat().st_mtime_ns for p in out.rglob("metrics/*.json")})
    assert len(stamps) >= 4
    assert main(args + overrides) == 0
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    # Other settings would put a row trained otherwise beside the new ones: refused, by name.
    changed = [o for o in overrides if o != "schedule.epochs=1"] + ["schedule.epochs=2"]
    with pytest.raises(ConfigError, match=r"finished in .* another config .*schedule.epochs"):
        main(args + changed)
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    # Without --no-hce the kept maps are scored again, now with HCE (which used to stay
    # empty: the scores were newer than the training); nothing is predicted again.
    maps = {p: p.stat().st_mtime_ns for p in out.rglob("pred/*/*.png")}
    assert len(maps) == 2 * 8  # both variants, DIS-TE1..4 of 2 images each
    assert main([a for a in args if a != "--no-hce"] + overrides) == 0
    assert all(p.stat().st_mtime_ns == t for p, t in maps.items())
    rows = {r["method"]: r for r in _read_csv(out / "ablation.csv")}
    assert float(rows["(b) No high-res features"]["Overall (TE1-4) HCE↓"]) >= 0


def test_override_of_an_ablated_key_is_refused(tmp_path, capsys) -> None:
    args = ["--grid", str(GRID), "--output-dir", str(tmp_path), "model.high_res=none"]
    assert exit_status(main, args) == 2
    assert "highres" in capsys.readouterr().err

"""SAM2.1 baselines: strict loading, the missing-extra error, box and automatic modes.

SAM2.1 tiny runs at a 256-px input (random, seeded weights) on the CPU. Its image encoder is
memoised on (input, weights) for this module, so an image is encoded once however many passes
prompt it; the cached output is the one a recomputation would give.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import evaluate
from pmgsam.baselines.base import family
from pmgsam.data import build_dataset
from pmgsam.modeling.weights import CheckpointError
from pmgsam.utils.cli import MissingDependencyError, exit_status
from pmgsam.utils.config import to_dict

sam2_pkg = pytest.importorskip("sam2", reason="the optional sam2 extra is not installed")
from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator  # noqa: E402
from sam2.build_sam import build_sam2  # noqa: E402
from sam2.modeling.sam2_base import SAM2Base  # noqa: E402
from sam2.sam2_image_predictor import SAM2ImagePredictor  # noqa: E402

SIDE = 256
FAST = ["--device", "cpu", "--quiet", "--model-image-size", str(SIDE), "--speed-iters", "1"]
FAST += ["--speed-warmup", "0", "--model-type", "tiny"]


def _clone_features(out: dict) -> dict:
    return {k: v.clone() if torch.is_tensor(v) else [t.clone() for t in v] for k, v in out.items()}


@pytest.fixture(scope="module", autouse=True)
def memoised_image_encoder(memoise):
    # Every weight enters the key: the decoder's convolutions are used on these features too.
    return memoise(SAM2Base, "forward_image", _clone_features)


@pytest.fixture(scope="module")
def sam2_file(tmp_path_factory: pytest.TempPathFactory):
    """A checkpoint in the released layout ({"model": state}) from sam2's own build_sam2."""
    torch.manual_seed(0)
    model = build_sam2(
        "configs/sam2.1/sam2.1_hiera_t.yaml", None, device="cpu",
        hydra_overrides_extra=[f"++model.image_size={SIDE}"],
    )  # fmt: skip
    path = tmp_path_factory.mktemp("sam2") / "sam2.1_hiera_tiny_random.pt"
    torch.save({"model": model.state_dict()}, path)
    return path, model


def _run(tmp_path: Path, argv: list) -> dict:
    assert evaluate.main(FAST + argv) == 0  # argv's options win over FAST's
    return json.loads((Path(argv[argv.index("--output-dir") + 1]) / "run.json").read_text())


def _argv(baseline, ckpt, data_cfg, tmp_path, dataset, split) -> list:
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump({"data": to_dict(data_cfg)}))
    out = tmp_path / "run"
    return ["--baseline", baseline, "--checkpoint", str(ckpt), "--config", str(cfg),
            "--dataset", dataset, "--splits", split, "--output-dir", str(out)]  # fmt: skip


def test_sam2_checkpoint_from_build_sam2_loads_strictly(sam2_file, tmp_path: Path) -> None:
    path, model = sam2_file
    loaded = family("sam2").load("tiny", path, "cpu", SIDE)
    reference, got = model.state_dict(), loaded.state_dict()
    assert got.keys() == reference.keys()
    for key, value in reference.items():
        assert torch.equal(got[key], value), key
    state = dict(reference)
    state["sam_mask_decoder.extra_head.weight"] = torch.zeros(3)
    del state["no_obj_ptr"]
    bad = tmp_path / "bad_sam2.pt"
    torch.save({"model": state}, bad)
    with pytest.raises(CheckpointError) as err:
        family("sam2").load("tiny", bad, "cpu", SIDE)
    for text in ("bad_sam2.pt", "unexpected", "sam_mask_decoder.extra_head.weight", "no_obj_ptr"):
        assert text in str(err.value)


def test_missing_sam2_extra_names_the_install_command(
    monkeypatch, dis5k_root, data_config, tmp_path, capsys
) -> None:
    monkeypatch.delitem(sys.modules, "pmgsam.baselines.sam2", raising=False)
    for name in [m for m in sys.modules if m == "sam2" or m.startswith("sam2.")]:
        monkeypatch.setitem(sys.modules, name, None)  # import of a None entry raises ImportError
    with pytest.raises(MissingDependencyError) as err:
        family("sam2")
    text = str(err.value)
    assert 'pip install -e ".[sam2]"' in text
    assert "SAM2_BUILD_CUDA=0 pip install --no-build-isolation sam2" in text
    argv = _argv("sam2-box", "x.pt", data_config("dis5k", dis5k_root), tmp_path, "dis5k", "DIS-TE1")
    assert exit_status(evaluate.main, argv + FAST) == 2
    assert "SAM2_BUILD_CUDA=0 pip install --no-build-isolation sam2" in capsys.readouterr().err


def test_sam2_box_dis_equals_sam2_image_predictor(
    sam2_file, dis5k_root, data_config, tmp_path, memoised_image_encoder
):
    path, model = sam2_file
    data_cfg = data_config("dis5k", dis5k_root)
    run = _run(tmp_path, _argv("sam2-box", path, data_cfg, tmp_path, "dis5k", "DIS-TE1"))
    assert len(memoised_image_encoder) == 2  # the two DIS-TE1 images; timing and reference reuse
    dataset = build_dataset(data_cfg, "DIS-TE1", 1024, train=False)
    image, gt = dataset.load(1)
    ys, xs = np.nonzero(gt)
    predictor = SAM2ImagePredictor(model)
    predictor._bb_feat_sizes = [(64, 64), (32, 32), (16, 16)]  # a 256 input's backbone grids
    predictor.set_image(image)
    box = np.array([xs.min(), ys.min(), xs.max(), ys.max()])
    logits, _, _ = predictor.predict(box=box, multimask_output=False, return_logits=True)
    expected = np.rint(torch.sigmoid(torch.from_numpy(logits[0])).numpy() * 255).astype(np.uint8)
    import cv2

    png = cv2.imread(str(tmp_path / "run" / "pred" / "DIS-TE1" / f"{dataset.names[1]}.png"), 0)
    np.testing.assert_array_equal(png, expected)
    assert run["method"] == "SAM2.1 tiny GT box"
    n_params = sum(p.numel() for p in model.parameters()) / 1e6
    assert run["efficiency"]["params_total_M"] == pytest.approx(n_params)
    assert run["dis"]["DIS-TE1"]["num_images"] == len(dataset)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_sam2_auto_cos_instances_are_the_generator_masks(
    sam2_file, cod10k_root, data_config, tmp_path, monkeypatch
):
    calls = []
    original = SAM2AutomaticMaskGenerator.generate

    def generate(self, image):
        calls.append(original(self, image))
        return calls[-1]

    monkeypatch.setattr(SAM2AutomaticMaskGenerator, "generate", generate)
    argv = _argv("sam2-auto", sam2_file[0], data_config("cod10k", cod10k_root), tmp_path,
                 "cod10k", "Test")  # fmt: skip
    argv += ["--points-per-side", "3", "--pred-iou-thresh", "0", "--stability-score-thresh", "0"]
    run = _run(tmp_path, argv + ["--limit", "1", "--use-m2m"])
    records = calls[0]
    assert records
    results = json.loads((tmp_path / "run" / "metrics" / "Test.results.json").read_text())
    assert [r["score"] for r in results] == pytest.approx([r["predicted_iou"] for r in records])
    settings = "points-per-side 3, pred-iou-thresh 0, stability-score-thresh 0, use-m2m"
    assert run["method"] == f"SAM2.1 tiny auto [{settings}]"  # other than sam2's defaults
    assert run["meta"]["auto_settings"] == {
        "points_per_side": 3, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0,
        "use_m2m": True,
    }  # fmt: skip
    assert run["cos"]["COD10K"]["num_results"] == len(records)


def test_esam_mode_on_sam2_dis_map_is_the_largest_entity(
    sam2_file, dis5k_root, data_config, tmp_path, monkeypatch
):
    from pmgsam.baselines.esam import EsamBaseline

    entities = []
    original = EsamBaseline.predict

    def predict(self, image, boxes=None):
        entities.append(original(self, image, boxes))
        return entities[-1]

    monkeypatch.setattr(EsamBaseline, "predict", predict)
    data_cfg = data_config("dis5k", dis5k_root)
    argv = _argv("esam", sam2_file[0], data_cfg, tmp_path, "dis5k", "DIS-TE1")
    argv += ["--limit", "1", "--reduce", "largest", "--speed-iters", "0"]
    # Random weights are unconfident: open the filters so every stage has masks to work on.
    for name, value in [("points-per-side", 4), ("pred-iou-thresh", 0), ("gallery-iou-thresh", 0),
                        ("stability-score-thresh", 0), ("gallery-points-per-side", 6),
                        ("repair-iou-thresh", 0), ("max-repair-prompts", 4)]:  # fmt: skip
        argv += [f"--esam-{name}", str(value)]
    run = _run(tmp_path, argv)
    masks = [m > 0 for m in entities[0].masks]
    settings = (
        "points-per-side 4, pred-iou-thresh 0, stability-score-thresh 0, "
        "gallery-points-per-side 6, gallery-iou-thresh 0, repair-iou-thresh 0, "
        "max-repair-prompts 4"
    )  # the --esam-* values other than the defaults
    assert masks and run["method"] == f"E-SAM-style SAM2.1 tiny [{settings}] (largest)"
    import cv2

    dataset = build_dataset(data_cfg, "DIS-TE1", 1024, train=False)
    png = cv2.imread(str(tmp_path / "run" / "pred" / "DIS-TE1" / f"{dataset.names[0]}.png"), 0)
    largest = masks[int(np.argmax([m.sum() for m in masks]))]
    np.testing.assert_array_equal(png, largest.astype(np.uint8) * 255)
    assert run["meta"]["family"] == "sam2" and run["meta"]["reduce"] == "largest"
    assert "fps" not in run["efficiency"] and run["efficiency"]["params_total_M"] > 0

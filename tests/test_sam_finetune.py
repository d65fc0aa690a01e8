"""SAM fine-tuning for automatic mode (``python -m pmgsam.baselines.finetune_sam``).

The loss and step tests use a seeded SAM ViT-B at a 64-px input, its frozen image encoder
memoised (``conftest.memoise``). The command-line tests shrink
ViT-B's image encoder to 2 blocks of width 64 (``sam._ENCODERS``, which both the builder and the
strict loader read, so the written file still loads strictly): the full ViT-B state dict is
360 MB, which would spend seconds in each save and load without testing anything more.
The embedding cache is tested in ``test_sam_finetune_cache.py``, the targets in
``test_sam_finetune_targets.py``.
"""

from __future__ import annotations

import copy
import json
import math
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any, List

import numpy as np
import pytest
import torch
import yaml
from sam_finetune_cases import SIDE, ArrayDataset, command, pairs, sha
from segment_anything import SamPredictor
from torchvision.ops import sigmoid_focal_loss

import evaluate
from pmgsam.baselines import finetune_data, finetune_sam, sam
from pmgsam.baselines import finetune_record as finetune_record_module
from pmgsam.baselines.finetune_data import finetune_record
from pmgsam.baselines.finetune_recipe import (
    FinetuneConfig,
    dice_loss,
    focal_loss,
    freeze_encoders,
    mask_iou,
    prepare,
    prompt_losses,
)
from pmgsam.baselines.finetune_sam import PromptedImages, run_epoch
from pmgsam.baselines.finetune_targets import sample_points
from pmgsam.data.io import DataError
from pmgsam.modeling import checkpoint as checkpoint_module
from pmgsam.modeling.weights import CheckpointError
from pmgsam.utils.cli import exit_status
from pmgsam.utils.config import to_dict
from pmgsam.utils.io import file_sha256

pytestmark = pytest.mark.usefixtures("one_thread", "memoised_sam_encoder")


def test_focal_and_dice_match_torchvision_and_hand_computation() -> None:
    torch.manual_seed(1)
    logits = torch.randn(2, 3, 4, 5) * 3
    target = (torch.rand(1, 1, 4, 5) > 0.5).float()
    expected = sigmoid_focal_loss(logits, target.expand_as(logits), reduction="none")
    torch.testing.assert_close(focal_loss(logits, target), expected.mean(dim=(-2, -1)))
    # p = 0.5, 0.75, 0.25, 1 against GT 1, 1, 0, 0: 1 - (2 * 1.25 + 1) / (2.5 + 2 + 1)
    logits = torch.tensor([[0.0, math.log(3)], [-math.log(3), 40.0]])
    gt = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    assert dice_loss(logits, gt).item() == pytest.approx(1 - 3.5 / 5.5, abs=1e-6)


def test_mask_loss_is_the_smallest_of_the_three_masks_per_prompt() -> None:
    gt = torch.zeros(6, 6)
    gt[1:4, 2:5] = 1
    good, bad, flat = 8 * (2 * gt - 1), -8 * (2 * gt - 1), torch.zeros(6, 6)
    half = good.clone()
    half[:, :3] = 0  # half right
    # prompt 0: best mask 0; prompt 1: best mask 2; the mean of the two minima is the loss.
    logits = torch.stack([torch.stack([good, bad, flat]), torch.stack([bad, flat, half])])
    cfg = FinetuneConfig(iou_weight=0.0)
    focal = sigmoid_focal_loss(logits, gt.expand_as(logits), reduction="none")
    per_mask = 20 * focal.mean(dim=(-2, -1)) + dice_loss(logits, gt)
    assert per_mask[0].argmin() == 0 and per_mask[1].argmin() == 2
    losses = prompt_losses(logits, torch.zeros(2, 3), gt, cfg)
    expected = (per_mask[0, 0] + per_mask[1, 2]) / 2
    assert losses["mask_loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert losses["loss"].item() == pytest.approx(expected.item(), rel=1e-6)  # iou_weight 0
    assert abs(per_mask.mean().item() - expected.item()) > 0.1  # a mean gives another number


def test_iou_target_is_each_masks_iou_with_the_gt() -> None:
    gt = torch.zeros(4, 4)
    gt[:2, :2] = 1  # 4 pixels
    top_row = torch.full((4, 4), -0.5)
    top_row[0] = 0.5  # logits > 0 (SAM's threshold): 4 pixels, 2 in the GT, so IoU 2 / 6
    logits = torch.stack([top_row, torch.full((4, 4), -5.0), 10 * (2 * gt - 1)])[None]
    torch.testing.assert_close(mask_iou(logits, gt), torch.tensor([[1 / 3, 0.0, 1.0]]))
    iou_pred = torch.tensor([[0.5, 0.5, 0.5]])
    losses = prompt_losses(logits, iou_pred, gt, FinetuneConfig())
    expected = ((1 / 3 - 0.5) ** 2 + 0.25 + 0.25) / 3
    assert losses["iou_loss"].item() == pytest.approx(expected, rel=1e-6)


def test_points_lie_in_the_foreground_in_sams_input_frame(vit_b: Any) -> None:
    # 48 x 128 image, object in the right part: (row, col) read as (x, y) falls off the image.
    image = np.random.default_rng(0).integers(0, 256, (48, 128, 3), dtype=np.uint8)
    mask = np.zeros((48, 128), np.uint8)
    mask[8:32, 70:122] = 1
    mask[8:12, 70:122] = 0
    mask[8:12, 110:122] = 1  # an L, so no symmetry hides a swap
    points = sample_points(mask, 50, np.random.default_rng(1))
    assert points.shape == (50, 2)
    assert all(mask[int(y), int(x)] for x, y in points)
    sample = prepare(image, mask, points, SIDE)  # input frame: 24 x 64 (scale 1/2 exactly)
    assert tuple(sample.targets.shape[-2:]) == (24, 64) and tuple(sample.image.shape) == (3, 24, 64)
    cols, rows = sample.points.floor().long().unbind(1)
    assert bool(sample.targets[0][rows, cols].all())
    # Exactly what SamPredictor feeds the model: same coordinates, same image embedding.
    predictor = SamPredictor(vit_b)
    predictor.set_image(image)
    coords = predictor.transform.apply_coords(points, image.shape[:2])
    torch.testing.assert_close(sample.points, torch.as_tensor(coords, dtype=torch.float32))
    with torch.no_grad():
        ours = vit_b.image_encoder(vit_b.preprocess(sample.image[None].float()))
    torch.testing.assert_close(ours, predictor.features)
    assert sample_points(np.zeros((4, 4), np.uint8), 3, np.random.default_rng(0)) is None


def test_steps_change_only_the_mask_decoder_and_lower_the_loss(vit_b: Any) -> None:
    model = copy.deepcopy(vit_b)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = FinetuneConfig(lr=1e-3, batch_size=2, points=4)
    optimizer = torch.optim.AdamW(freeze_encoders(model), lr=cfg.lr)
    items = PromptedImages(ArrayDataset(pairs(2)), [0, 1], SIDE, cfg.points, (0, 0))
    device = torch.device("cpu")
    start, _, _ = run_epoch(model, items, cfg, device, progress=False)
    for _ in range(3):
        _, _, steps = run_epoch(model, items, cfg, device, optimizer, progress=False)
        assert steps == 1
    end, _, _ = run_epoch(model, items, cfg, device, progress=False)
    assert end["loss"] < 0.8 * start["loss"], (start, end)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("mask_decoder.") for k in changed)
    assert any(k.startswith("mask_decoder.iou_prediction_head") for k in changed)
    assert all(p.grad is None for p in model.image_encoder.parameters())
    assert all(p.grad is None for p in model.prompt_encoder.parameters())


def test_images_without_foreground_are_skipped_and_named(vit_b: Any, caplog) -> None:
    cfg = FinetuneConfig(batch_size=3, points=2)
    items = PromptedImages(ArrayDataset(pairs(3, empty=(1,))), [0, 1, 2], SIDE, 2, (0, 1))
    device = torch.device("cpu")
    losses, skipped, _ = run_epoch(vit_b, items, cfg, device, progress=False)
    assert skipped == ["im1"] and math.isfinite(losses["loss"])
    with caplog.at_level("WARNING", logger="pmgsam.baselines.finetune_sam"):
        finetune_sam.log_skipped("DIS-TR", skipped, 3)
    assert "skipped 1 of 3 images without GT foreground" in caplog.text
    empty = PromptedImages(ArrayDataset(pairs(2, empty=(0, 1))), [0, 1], SIDE, 2, (0, 1))
    with pytest.raises(DataError, match="none of the 2 images has GT foreground"):
        run_epoch(vit_b, empty, cfg, device, progress=False)


@pytest.fixture(scope="module")
def small_encoder() -> Any:
    patch = pytest.MonkeyPatch()
    patch.setitem(sam._ENCODERS, "vit_b", (64, 2, 2, (1,)))
    yield
    patch.undo()


@pytest.fixture(scope="module")
def finetuned(small_encoder: Any, dis5k_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """One epoch on the first two DIS-TR images (validated on two DIS-VD ones), and the files
    the run hashed (path -> times)."""
    tmp = tmp_path_factory.mktemp("finetune")
    data = {"dataset": "dis5k", "root": str(dis5k_root), "num_workers": 0}
    data.update(split_dir=str(tmp / "splits"), test_splits=["DIS-TE1"])
    source, out, argv = command(tmp, data)
    hashed: Counter = Counter()

    def counted(path: Any) -> str:
        hashed[Path(path)] += 1
        return file_sha256(path)

    with pytest.MonkeyPatch.context() as patch:
        for module in (checkpoint_module, finetune_data, finetune_record_module):
            patch.setattr(module, "file_sha256", counted)
        assert exit_status(finetune_sam.main, argv) == 0
    return source, out, argv, tmp, data, hashed


def test_written_state_dict_loads_strictly_and_runs_sam_auto(finetuned: Any) -> None:
    source, out, _, tmp, data, hashed = finetuned
    record = json.loads(finetune_sam.sidecar_path(out).read_text())
    assert record["source_sha256"] == sha(source) and record["output_sha256"] == sha(out)
    assert hashed == {Path(source): 1, Path(out): 1}  # ViT-H's are 2.5 GB: each read once
    assert record["best_epoch"] >= 1 and len(record["epochs"]) == 2
    assert record["best_val_loss"] == min(e["val_loss"] for e in record["epochs"])
    assert record["config_values"]["finetune"]["lr"] == 1e-3  # --lr over the config
    assert record["targets"] == "object"  # auto on DIS5K, which has no instance labels
    assert (record["data"]["train_images"], record["data"]["val_images"]) == (2, 2)
    tuned, original = sam.load("vit_b", out, "cpu", SIDE), sam.load("vit_b", source, "cpu", SIDE)
    a, b = tuned.state_dict(), original.state_dict()
    assert a.keys() == b.keys()
    assert not all(torch.equal(a[k], b[k]) for k in a if k.startswith("mask_decoder."))
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("mask_decoder."))
    exp = tmp / "exp.yaml"
    exp.write_text(yaml.safe_dump({"data": to_dict(data)}))
    run = tmp / "sam-auto-ft"
    argv = ["--baseline", "sam-auto", "--model-type", "vit_b", "--checkpoint", str(out)]
    argv += ["--config", str(exp), "--dataset", "dis5k", "--splits", "DIS-TE1", "--limit", "1"]
    argv += ["--output-dir", str(run), "--device", "cpu", "--quiet", "--model-image-size"]
    argv += [str(SIDE), "--speed-iters", "0", "--points-per-side", "2", "--pred-iou-thresh", "0"]
    argv += ["--stability-score-thresh", "0"]
    assert evaluate.main(argv) == 0
    written = json.loads((run / "run.json").read_text())
    meta = written["meta"]
    assert meta["checkpoint"] == str(out) and meta["split DIS-TE1"]["num_images"] == 1
    # The row says it is fine-tuned (the untuned model's row is "SAM ViT-B auto (union)"), and
    # on the first 2 images of each split only (command()'s --limit 2): not the real baseline.
    assert written["method"] == (
        "SAM ViT-B fine-tuned on a subset (--limit 2) auto [points-per-side 2, pred-iou-thresh 0, "
        "stability-score-thresh 0] (union)"
    )
    assert meta["finetune"]["data"]["limit"] == 2
    assert meta["finetune"]["source_sha256"] == sha(source)
    assert meta["finetune"]["best_epoch"] == record["best_epoch"]
    # Trainable: the mask decoder fine-tuning trained, not all of SAM (Table 1's point).
    decoder = sum(p.numel() for p in tuned.mask_decoder.parameters())
    assert written["efficiency"]["params_trainable_M"] == pytest.approx(decoder / 1e6)
    total = sum(p.numel() for p in tuned.parameters())
    assert written["efficiency"]["params_total_M"] == pytest.approx(total / 1e6)
    assert decoder < total  # the frozen encoders (shrunk here) are not counted


def test_a_record_of_another_file_is_ignored(finetuned: Any, tmp_path: Path, caplog) -> None:
    source, out, _, _, _, _ = finetuned
    dup = tmp_path / "copy.pth"
    assert finetune_record(out)["output_sha256"] == sha(out)
    shutil.copy(out, dup)
    assert finetune_record(dup) is None  # no record beside the copy
    shutil.copy(finetune_sam.sidecar_path(out), finetune_sam.sidecar_path(dup))
    assert finetune_record(dup)["source_sha256"] == sha(source)
    shutil.copy(source, dup)  # the weights replaced after fine-tuning: the record is stale
    with caplog.at_level("WARNING", logger="pmgsam.baselines.finetune_sam"):
        assert finetune_record(dup) is None
    assert "records the fine-tuning of another file" in caplog.text


def test_existing_output_and_the_input_checkpoint_are_refused(finetuned: Any, capsys) -> None:
    source, out, argv, _, _, _ = finetuned
    stamps = {p: (p.stat().st_mtime_ns, sha(p)) for p in (out, source)}
    assert exit_status(finetune_sam.main, argv) == 2
    assert "already exist(s); pass --overwrite" in capsys.readouterr().err
    onto_source = argv[: argv.index("--output") + 1] + [source] + argv[argv.index("--output") + 2 :]
    assert exit_status(finetune_sam.main, onto_source + ["--overwrite"]) == 2
    assert "would replace the input --checkpoint" in capsys.readouterr().err
    assert {p: (p.stat().st_mtime_ns, sha(p)) for p in (out, source)} == stamps


def test_bad_config_key_and_missing_checkpoint_are_one_line_errors(finetuned: Any, capsys) -> None:
    _, _, argv, tmp, data, _ = finetuned
    bad = tmp / "bad.yaml"
    bad.write_text(yaml.safe_dump({"data": data, "finetune": {"learning_rate": 1e-4}}))
    config_at = argv.index("--config") + 1
    assert exit_status(finetune_sam.main, [*argv[:config_at], bad, *argv[config_at + 1 :]]) == 2
    assert "unknown config key(s) 'finetune.learning_rate'" in capsys.readouterr().err
    argv = [*argv, "--overwrite"]
    argv[argv.index("--checkpoint") + 1] = tmp / "missing.pth"
    assert exit_status(finetune_sam.main, argv) == 2
    assert "missing.pth' does not exist" in capsys.readouterr().err


def test_command_line_settings_reach_the_optimiser(finetuned: Any, tmp_path: Path) -> None:
    root = Path(finetuned[4]["root"])
    moved = tmp_path / "moved"
    moved.symlink_to(root, target_is_directory=True)  # the same images, under another name
    argv = [*finetuned[2], "--overwrite", "finetune.weight_decay=0.05", "--data-root", moved]
    run = finetune_sam.setup(finetune_sam.build_parser().parse_args([str(a) for a in argv]))
    (group,) = run.optimizer.param_groups
    assert (group["lr"], group["weight_decay"]) == (1e-3, 0.05)  # --lr, key=value
    assert {id(p) for p in group["params"]} == {id(p) for p in run.sam.mask_decoder.parameters()}
    assert (run.cfg.finetune.points, run.cfg.finetune.batch_size) == (3, 2)
    assert run.cfg.data.root == str(moved) and f'data.root="{moved}"' in run.overrides


def test_without_a_better_epoch_the_starting_decoder_is_kept(finetuned: Any, caplog) -> None:
    argv = [str(a) for a in [*finetuned[2], "--overwrite", "finetune.epochs=2"]]
    run = finetune_sam.setup(finetune_sam.build_parser().parse_args(argv))
    start = run.decoder_state()
    val_losses = iter([0.5, 0.5, 0.7])  # epoch 0, then one as good and one worse

    def epoch(embed, items, desc, train=False, gt_empty=None):
        if train:  # a step that changes the decoder
            with torch.no_grad():
                for p in run.sam.mask_decoder.parameters():
                    p.add_(1.0)
            return {"loss": 0.1}, [], 1
        return {"loss": next(val_losses)}, [], 0

    run.epoch = epoch
    with caplog.at_level("WARNING", logger="pmgsam.baselines.finetune_sam"):
        result = finetune_sam.train(run, embed=None)
    assert (result["best_epoch"], result["best_val_loss"]) == (0, 0.5)
    assert (
        "no epoch lowered the validation loss below the starting weights' (0.5000)" in caplog.text
    )
    for key, value in run.sam.mask_decoder.state_dict().items():
        assert torch.equal(value, start[key]), key


def test_a_model_side_that_is_no_multiple_of_16_is_refused(finetuned: Any, capsys) -> None:
    argv = [str(a) for a in finetuned[2]]
    argv[argv.index("--model-image-size") + 1] = "40"
    assert exit_status(finetune_sam.main, argv) == 2
    assert "--model-image-size must be a multiple of 16 for SAM models (e.g. 32), got 40" in (
        capsys.readouterr().err
    )


def test_a_checkpoint_replaced_while_it_loads_is_refused(finetuned: Any, monkeypatch) -> None:
    """The record's source_sha256 must be of the weights fine-tuned: a file renamed over the
    checkpoint while SAM loads (after it was hashed) stops the run, naming the file."""
    source, _, argv, tmp, _, _ = finetuned
    moving = Path(shutil.copy(source, tmp / "moving.pth"))
    real_load = sam.load

    def load(*args: Any, **kwargs: Any) -> Any:
        model = real_load(*args, **kwargs)
        other = tmp / "other.pth"
        other.write_bytes(moving.read_bytes() + b"\0")
        other.replace(moving)
        return model

    monkeypatch.setattr(sam, "load", load)
    argv = [str(a) for a in [*argv, "--overwrite"]]
    argv[argv.index("--checkpoint") + 1] = str(moving)
    changed = rf"'{moving}' changed between hashing and loading"
    with pytest.raises(CheckpointError, match=changed) as refused:
        finetune_sam.setup(finetune_sam.build_parser().parse_args(argv))
    # Fine-tuning predicts and evaluates nothing: the message must not say it does.
    assert not re.search(r"maps|predicted|evaluate", str(refused.value)), refused.value


def test_a_non_finite_loss_stops_the_fine_tune(finetuned: Any) -> None:
    argv = [str(a) for a in [*finetuned[2], "--overwrite", "finetune.epochs=3"]]
    run = finetune_sam.setup(finetune_sam.build_parser().parse_args(argv))
    trained: List[str] = []

    def epoch(embed, items, desc, train=False, gt_empty=None):
        if train:  # the second epoch diverges
            trained.append(desc)
            return {"loss": float("nan") if len(trained) == 2 else 0.3}, [], 1
        return {"loss": 0.5}, [], 0

    run.epoch = epoch
    with pytest.raises(FloatingPointError, match=r"epoch 2: non-finite fine-tuning loss \(loss"):
        finetune_sam.train(run, embed=None)
    assert trained == ["epoch 1/3", "epoch 2/3"]  # no third epoch on NaN weights


def test_a_diverged_run_is_a_one_line_error_not_a_traceback(capsys) -> None:
    def diverged(argv: Any) -> None:
        raise FloatingPointError("epoch 2: non-finite fine-tuning loss (loss nan)")

    assert exit_status(diverged, []) == 2
    err = capsys.readouterr().err
    assert "error: epoch 2: non-finite fine-tuning loss (loss nan)" in err
    assert "Traceback" not in err

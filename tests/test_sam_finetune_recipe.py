"""SAM fine-tuning for automatic mode, checked against segment-anything's own code and against
mutations of the recipe (``test_sam_finetune.py`` runs the command line).

A seeded SAM ViT-B at a 64-px input, its frozen image encoder memoised (``conftest.memoise``,
which keys on the weights and the input, not on autocast: bf16 checks clear it).
"""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any, List

import numpy as np
import pytest
import torch
from sam_finetune_cases import SIDE, ArrayDataset
from segment_anything import SamPredictor
from torchvision.ops import sigmoid_focal_loss

from pmgsam.baselines import finetune_sam, sam
from pmgsam.baselines.finetune_cache import Embedder, MemoryCache
from pmgsam.baselines.finetune_recipe import (
    FinetuneConfig,
    SamFinetuneConfig,
    batch_losses,
    decode,
    encode,
    freeze_encoders,
    image_key,
    input_frame,
    mask_iou,
    prepare,
    prompt_losses,
)
from pmgsam.baselines.finetune_sam import PromptedImages, run_epoch
from pmgsam.baselines.finetune_targets import sample_points
from pmgsam.modeling.weights import CheckpointError
from pmgsam.utils.config import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread", "memoised_sam_encoder")


def _pairs(count: int) -> List[tuple]:
    """Images of different sizes (so a batch pads them differently), a dark box each."""
    rng = np.random.default_rng(3)
    pairs = []
    for i in range(count):
        image = rng.integers(0, 256, (48 + 8 * i, 80 - 8 * i, 3), dtype=np.uint8)
        mask = np.zeros(image.shape[:2], np.uint8)
        mask[8 + 4 * i : 30, 20 : 60 - 5 * i] = 1
        image[mask == 1] //= 3
        pairs.append((image, mask))
    return pairs


def test_training_forward_is_sam_predictors_for_the_clicked_pixel(vit_b: Any) -> None:
    # One foreground pixel, row 21, column 37: every drawn point is the click (37, 21) that
    # SamPredictor takes for it (its prompt encoder adds the half pixel; adding it here too
    # moved every training point half a pixel off the generator's convention).
    image = _pairs(1)[0][0]
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[21, 37] = 1
    points = sample_points(mask, 2, np.random.default_rng(0))
    np.testing.assert_array_equal(points, [[37, 21], [37, 21]])
    sample = prepare(image, mask, points, SIDE)  # 48 x 80 -> 38 x 64
    predictor = SamPredictor(vit_b)
    predictor.set_image(image)
    _, iou, low_res = predictor.predict(
        np.array([[37, 21]]), np.array([1]), multimask_output=True, return_logits=True
    )
    with torch.no_grad():
        ours_low, ours_iou = decode(vit_b, sample.points, encode(vit_b, [sample.image])[0])
        torch.testing.assert_close(ours_low[1], torch.as_tensor(low_res))
        torch.testing.assert_close(ours_iou[1], torch.as_tensor(iou))
        # The loss frame: postprocess_masks' upsampling and crop (its last resize is to h x w).
        frame = input_frame(vit_b, ours_low, (38, 64))
        torch.testing.assert_close(frame, vit_b.postprocess_masks(ours_low, (38, 64), (38, 64)))


def test_gt_in_the_input_frame_keeps_its_area_and_thin_lines() -> None:
    # A 20 x 30 box and a 1-px line, scaled by 84 / 80 = 1.05: torch's "area" resize (adaptive
    # average pooling: 2-pixel windows of weight 1/2 each) gave every edge pixel 0.5, so the GT
    # lost 15% of its area and the whole line.
    mask = np.zeros((48, 80), np.uint8)
    mask[10:30, 20:50] = 1
    mask[36, 5:75] = 1
    sample = prepare(np.zeros((48, 80, 3), np.uint8), mask, np.array([[25.0, 15.0]]), 84)
    assert tuple(sample.targets.shape[-2:]) == (50, 84)
    exact = mask.sum() * 50 * 84 / (48 * 80)
    assert abs(sample.targets[0].sum().item() - exact) < 0.03 * exact
    assert bool(sample.targets[0][34:, 8:76].any(dim=0).all())  # the line, every column inside it


def test_points_are_distinct_pixels_while_the_mask_has_enough() -> None:
    mask = np.zeros((6, 7), np.uint8)
    mask[2, 1:6] = 1  # exactly 5 pixels for 5 points: each once
    points = sample_points(mask, 5, np.random.default_rng(0))
    assert sorted(map(tuple, points.tolist())) == [(c, 2.0) for c in range(1, 6)]


def test_cache_key_tells_apart_equal_pixels_of_another_shape() -> None:
    # Two blank images of transposed sizes have the same bytes, not the same embedding.
    blank = torch.zeros(3, 24, 64, dtype=torch.uint8)
    assert image_key(blank) != image_key(torch.zeros(3, 64, 24, dtype=torch.uint8))
    assert image_key(blank) == image_key(blank.clone()) != image_key(blank + 1)


def test_loss_weights_and_an_empty_prediction_of_an_empty_gt() -> None:
    torch.manual_seed(2)
    logits, gt = torch.randn(2, 3, 5, 6) * 3, (torch.rand(5, 6) > 0.5).float()
    cfg = FinetuneConfig(focal_weight=2.0, dice_weight=3.0, iou_weight=0.0)
    # The terms by torchvision and by the Dice formula, not by the functions under test.
    focal = sigmoid_focal_loss(logits, gt.expand_as(logits), reduction="none").mean(dim=(-2, -1))
    p = torch.sigmoid(logits)
    dice = 1 - (2 * (p * gt).sum(dim=(-2, -1)) + 1) / (p.sum(dim=(-2, -1)) + gt.sum() + 1)
    per_mask = 2 * focal + 3 * dice
    expected = per_mask.min(dim=1).values.mean().item()
    assert prompt_losses(logits, torch.zeros(2, 3), gt, cfg)["loss"].item() == pytest.approx(
        expected
    )
    # A GT that vanished in the resize, and a mask that is empty too: IoU 1, not 0.
    empty = torch.full((1, 3, 4, 4), -3.0)
    empty[0, 1, 0, 0] = 3.0
    torch.testing.assert_close(mask_iou(empty, torch.zeros(4, 4)), torch.tensor([[1.0, 0.0, 1.0]]))


class ScriptedRun:
    """What :func:`finetune_sam.train` uses of a Run, with scripted validation losses; each
    training epoch sets the one-weight "decoder" to its number."""

    def __init__(self, val_losses: List[float]) -> None:
        self.cfg = SamFinetuneConfig()
        self.cfg.finetune.epochs, self.cfg.finetune.seed = len(val_losses) - 1, 7
        self.splits, self.counts = ("tr", "va"), {"tr": 6, "va": 2}
        self.targets = "object"
        self.sam = SimpleNamespace(mask_decoder=torch.nn.Linear(1, 1, bias=False))
        self.losses, self.train_calls = iter(val_losses), []  # type: Any, List[tuple]

    def val_items(self) -> List[int]:
        return [0, 1]

    def items(self, split: str, order: Any, seed: Any) -> List[int]:
        self.train_calls.append((split, list(order), tuple(seed)))
        return list(order)

    def epoch(self, embed: Any, items: Any, desc: str, train: bool = False, gt_empty=None) -> tuple:
        if gt_empty is not None:  # every pass over a split meets the same disagreeing image
            gt_empty.append(f"{'tr' if train else 'va'}_img")
        if not train:
            return {"loss": next(self.losses)}, [], 0
        with torch.no_grad():
            self.sam.mask_decoder.weight.fill_(len(self.train_calls))
        return {"loss": 1.0}, [], 3

    def decoder_state(self) -> dict:
        return finetune_sam.Run.decoder_state(self)  # type: ignore[arg-type]


def test_best_epoch_is_the_first_lowest_and_its_decoder_is_kept() -> None:
    run = ScriptedRun([3.0, 2.0, 1.0, 1.0, 5.0])  # epoch 2 lowest, 3 ties, 4 worse
    result = finetune_sam.train(run, embed=None)  # type: ignore[arg-type]
    assert (result["best_epoch"], result["best_val_loss"]) == (2, 1.0)
    assert run.sam.mask_decoder.weight.item() == 2.0  # epoch 2's weights, not the last
    assert [e["val_loss"] for e in result["epochs"]] == [3.0, 2.0, 1.0, 1.0, 5.0]
    # Every epoch: a new seeded image order and new points (the seed names the epoch).
    orders = [order for _, order, _ in run.train_calls]
    assert all(sorted(order) == list(range(6)) for order in orders)
    assert len({tuple(order) for order in orders}) > 1 and orders[0] != list(range(6))
    assert [seed for _, _, seed in run.train_calls] == [(7, 0, e) for e in range(1, 5)]


def test_images_with_instances_but_an_empty_gt_are_named_once_per_split(caplog) -> None:
    run = ScriptedRun([3.0, 2.0, 1.0])  # 3 validation passes, 2 training epochs
    with caplog.at_level("WARNING", logger="pmgsam.baselines.finetune_sam"):
        finetune_sam.train(run, embed=None)  # type: ignore[arg-type]
    named = [r.getMessage() for r in caplog.records if "empty GT mask" in r.getMessage()]
    assert len(named) == 2
    assert named[0].startswith("va: 1 of 2 images") and named[0].endswith(": va_img")
    assert named[1].startswith("tr: 1 of 6 images") and named[1].endswith(": tr_img")


def test_prompt_points_are_new_each_epoch_and_image_and_repeat_for_one_seed() -> None:
    # Two copies of one all-foreground image: their points can differ only by the draw. Two
    # independent draws of 8 of its 1024 pixels coincide with probability about 1024**-8.
    pair = (np.zeros((32, 32, 3), np.uint8), np.ones((32, 32), np.uint8))
    data = ArrayDataset([pair, pair])

    def points(order: List[int], seed: tuple) -> List[torch.Tensor]:
        items = PromptedImages(data, order, SIDE, 8, seed)
        return [items[i][1].points for i in range(len(order))]

    epoch1, epoch2 = points([0, 1], (7, 0, 1)), points([0, 1], (7, 0, 2))
    again = points([0, 1], (7, 0, 1))
    assert all(torch.equal(a, b) for a, b in zip(epoch1, again))  # a rerun draws the same
    assert not any(torch.equal(a, b) for a, b in zip(epoch1, epoch2))  # each epoch new points
    assert not torch.equal(epoch1[0], epoch1[1])  # each image its own
    validation = points([0, 1], (7, 1))
    assert not any(torch.equal(a, b) for a, b in zip(epoch1, validation))
    # An image's points follow the image, not its place in the epoch's shuffled order.
    shuffled = points([1, 0], (7, 0, 1))
    assert torch.equal(shuffled[0], epoch1[1]) and torch.equal(shuffled[1], epoch1[0])


def test_weights_are_replaced_atomically(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    out = tmp_path / "ft.pth"
    out.write_bytes(b"the previous weights")
    run = SimpleNamespace(sam=torch.nn.Linear(2, 2), args=SimpleNamespace(output=str(out)))
    save = torch.save

    def full_disk(obj: Any, path: Any) -> None:
        Path(path).write_bytes(b"half a")
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match="No space"):
        finetune_sam.write_weights(run)  # type: ignore[arg-type]
    assert out.read_bytes() == b"the previous weights" and sorted(tmp_path.iterdir()) == [out]
    monkeypatch.setattr(torch, "save", save)
    finetune_sam.write_weights(run)  # type: ignore[arg-type]
    assert torch.load(out, weights_only=True).keys() == run.sam.state_dict().keys()


def test_epoch_loss_is_the_image_mean_and_steps_do_not_accumulate(vit_b: Any) -> None:
    model = copy.deepcopy(vit_b)
    cfg = FinetuneConfig(batch_size=2, points=2)  # 3 images: batches of 2 and 1
    items = PromptedImages(ArrayDataset(_pairs(3)), [0, 1, 2], SIDE, cfg.points, (0, 0))
    device = torch.device("cpu")
    losses, _, _ = run_epoch(model, items, cfg, device, progress=False)
    each = [batch_losses(model, [items[i][1]], cfg)["loss"].item() for i in range(3)]
    assert losses["loss"] == pytest.approx(sum(each) / 3, rel=1e-5)
    # lr 0: the same batch twice gives the same gradients, not twice them.
    optimizer = torch.optim.AdamW(freeze_encoders(model), lr=0.0)
    one = PromptedImages(ArrayDataset(_pairs(1)), [0], SIDE, cfg.points, (0, 0))
    grads = []
    for _ in range(2):
        run_epoch(model, one, cfg, device, optimizer, progress=False)
        grads.append([p.grad.clone() for p in model.mask_decoder.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*grads))


def test_cached_bf16_embeddings_are_bf16_and_need_no_graph(
    vit_b: Any, memoised_sam_encoder: Any
) -> None:
    samples = [prepare(*pair, np.array([[30.0, 20.0]]), SIDE) for pair in _pairs(2)]
    for sample in samples:
        sample.key = image_key(sample.image)
    images = [s.image for s in samples]
    results = {}
    for name, run in [
        ("fp32", lambda: encode(vit_b, images, "fp32")),
        ("bf16", lambda: encode(vit_b, images, "bf16")),
        ("plain", lambda: Embedder(vit_b, "bf16")(samples)),
        ("cached", lambda: Embedder(vit_b, "bf16", MemoryCache())(samples)),
    ]:
        memoised_sam_encoder.clear()
        results[name] = run()
    memoised_sam_encoder.clear()
    assert not results["fp32"].requires_grad  # vit_b is not frozen: encode needs no_grad
    assert not torch.equal(results["fp32"], results["bf16"])
    for name in ("plain", "cached"):
        torch.testing.assert_close(results[name], results["bf16"], rtol=0, atol=1e-6)


def test_a_checkpoint_of_another_model_type_names_it(monkeypatch, tmp_path: Path) -> None:
    # Small encoders (the real ViT-H is 2.5 GB): ViT-B width 64, ViT-L width 96, 2 blocks each.
    monkeypatch.setitem(sam._ENCODERS, "vit_b", (64, 2, 2, (1,)))
    monkeypatch.setitem(sam._ENCODERS, "vit_l", (96, 2, 2, (1,)))
    path = tmp_path / "sam_vit_b.pth"
    torch.save(sam.build("vit_b", SIDE).state_dict(), path)
    with pytest.raises(
        CheckpointError, match="holds a SAM ViT-B image encoder .*--model-type vit_b"
    ):
        sam.load("vit_l", path, image_size=SIDE)
    with pytest.raises(CheckpointError, match="--model-image-size 64") as err:  # the side first
        sam.load("vit_b", path, image_size=2 * SIDE)
    assert "--model-type" not in str(err.value)


@pytest.mark.parametrize("key", ["weight_decay", "focal_weight", "dice_weight", "iou_weight"])
def test_a_negative_loss_weight_or_weight_decay_is_refused_zero_allowed(key: str) -> None:
    # A negative weight makes the step climb that loss: refused, naming the key; 0 turns it off.
    FinetuneConfig(**{key: 0.0}).validate()
    with pytest.raises(ConfigError, match=f"finetune.{key}"):
        FinetuneConfig(**{key: -1.0}).validate()


def test_images_skipped_are_listed_under_their_own_split() -> None:
    class Skipping(ScriptedRun):
        def epoch(self, embed: Any, items: Any, desc: str, train: bool = False, gt_empty=None):
            losses, _, steps = super().epoch(embed, items, desc, train, gt_empty)
            return losses, ["tr_b", "tr_a"] if train else ["va_x"], steps

    run = Skipping([3.0, 2.0])
    result = finetune_sam.train(run, embed=None)  # type: ignore[arg-type]
    assert result["skipped"] == {"tr": ["tr_a", "tr_b"], "va": ["va_x"]}

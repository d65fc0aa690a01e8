"""Per-point targets of SAM fine-tuning (``finetune.targets``, ``finetune_targets.py``): with
instance labels each point prompt learns the instance under it, not the union of the image's
instances (automatic mode is scored per instance with COCO AP on COD10K / NC4K).

A hand-built image holds two boxes, instances 1 and 2 of its instance PNG; a seeded SAM ViT-B
at a 64-px input, its frozen image encoder memoised (``conftest.memoise``); the command-line
runs shrink its encoder (``test_sam_finetune.py`` says why).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from sam_finetune_cases import SIDE, command

from pmgsam.baselines import finetune_sam, sam
from pmgsam.baselines.finetune_recipe import (
    FinetuneConfig,
    batch_losses,
    decode,
    encode,
    input_frame,
    prepare,
    prompt_losses,
)
from pmgsam.baselines.finetune_sam import PromptedImages, run_epoch
from pmgsam.baselines.finetune_targets import (
    InstanceMasks,
    resolve_targets,
    sample_instance_points,
)
from pmgsam.data import build_dataset
from pmgsam.data.datasets import SegmentationDataset
from pmgsam.data.instance_labels import InstanceSource
from pmgsam.data.io import DataError
from pmgsam.utils.cli import exit_status
from pmgsam.utils.config import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread", "memoised_sam_encoder")
LEFT, RIGHT = (slice(8, 30), slice(10, 50)), (slice(14, 44), slice(70, 120))  # 48 x 128


@pytest.fixture(scope="module")
def two_boxes(tmp_path_factory: pytest.TempPathFactory) -> SegmentationDataset:
    """Image ``a``: two dark boxes, instances 1 (left) and 2 (right), GT their union; image
    ``b``: a GT box but an all-zero instance map (no instance)."""
    root = tmp_path_factory.mktemp("two_boxes")
    for folder in ("im", "gt", "inst"):
        (root / folder).mkdir()
    rng = np.random.default_rng(5)
    for name, boxes in (("a", (LEFT, RIGHT)), ("b", ())):
        image = rng.integers(0, 256, (48, 128, 3), dtype=np.uint8)
        label = np.zeros((48, 128), np.uint8)
        for value, box in enumerate(boxes, 1):
            label[box] = value
            image[box] //= 3
        gt = label > 0
        if not boxes:
            gt[10:30, 20:60] = True
        cv2.imwrite(str(root / "im" / f"{name}.png"), image)
        cv2.imwrite(str(root / "gt" / f"{name}.png"), gt.astype(np.uint8) * 255)
        cv2.imwrite(str(root / "inst" / f"{name}.png"), label)
    images = [root / "im" / f"{n}.png" for n in "ab"]
    masks = [root / "gt" / f"{n}.png" for n in "ab"]
    source = InstanceSource("png", root / "inst")
    return SegmentationDataset(images, masks, SIDE, instances=source, description="boxes train")


def _instances(two_boxes: SegmentationDataset, points: int = 12) -> PromptedImages:
    return PromptedImages(two_boxes, [0, 1], SIDE, points, (0, 1), False, InstanceMasks(two_boxes))


def test_each_point_targets_the_instance_under_it_in_sams_input_frame(two_boxes) -> None:
    name, sample = _instances(two_boxes)[0]
    image, mask = two_boxes.load(0)
    boxes = [np.zeros((48, 128), np.uint8) for _ in range(2)]
    boxes[0][LEFT], boxes[1][RIGHT] = 1, 1
    assert name == "a" and sample.targets.dtype == torch.bool
    assert tuple(sample.targets.shape) == (2, 24, 64)  # 48 x 128 -> 24 x 64, two instances
    for k, box in enumerate(boxes):  # each resized exactly as a binary GT is
        alone = prepare(image, box, np.zeros((0, 2)), SIDE).targets[0]
        assert torch.equal(sample.targets[k], alone)
    assert set(sample.owner.tolist()) == {0, 1}  # points on both instances
    per_prompt = sample.prompt_targets()
    assert tuple(per_prompt.shape) == (12, 24, 64)
    cols, rows = sample.points.floor().long().unbind(1)
    for p, (owner, col, row) in enumerate(zip(sample.owner, cols, rows)):
        assert per_prompt[p, row, col] == 1  # its own instance holds the point ...
        assert torch.equal(per_prompt[p].bool(), sample.targets[owner])
        assert not (per_prompt[p].bool() & sample.targets[1 - owner]).any()  # ... not the other
    # The points, drawn in the original frame, lie in the instance called their owner there.
    x, y = (2 * sample.points.numpy()).astype(int).T  # scale 1/2 exactly
    assert [int(boxes[1][r, c]) for c, r in zip(x, y)] == sample.owner.tolist()
    assert _instances(two_boxes)[1] == ("b", None)  # GT, but no instance: nothing to prompt


def test_a_prompts_losses_use_its_own_instance(two_boxes, vit_b: Any, caplog) -> None:
    _, sample = _instances(two_boxes, points=4)[0]
    cfg = FinetuneConfig()
    embeddings = encode(vit_b, [sample.image])
    with torch.no_grad():
        got = batch_losses(vit_b, [sample], cfg, embeddings)
        low_res, iou_pred = decode(vit_b, sample.points, embeddings[0])
        logits = input_frame(vit_b, low_res, (24, 64))
    own = [prompt_losses(logits[p : p + 1], iou_pred[p : p + 1], sample.targets[k].float(), cfg)
           for p, k in enumerate(sample.owner.tolist())]  # fmt: skip
    union = prompt_losses(logits, iou_pred, sample.targets.any(0).float(), cfg)
    for key in ("loss", "mask_loss", "iou_loss"):
        expected = sum(losses[key] for losses in own) / len(own)
        assert got[key].item() == pytest.approx(expected.item(), rel=1e-5)
    assert abs(union["loss"].item() - got["loss"].item()) > 0.05 * got["loss"].item()
    # A hand case: prompt 0 predicts the left box, prompt 1 the right one, both exactly.
    targets = torch.zeros(2, 4, 6)
    targets[0, :, :3], targets[1, :, 3:] = 1, 1
    exact = (20 * (2 * targets - 1))[:, None].expand(2, 3, 4, 6)
    own = prompt_losses(exact, torch.ones(2, 3), targets, cfg)
    assert own["loss"].item() < 1e-3  # each prompt right on its own target
    assert prompt_losses(exact, torch.ones(2, 3), targets.amax(0), cfg)["loss"].item() > 0.5
    # Batched and skipped: image b has GT but no instance; counted as an empty GT is.
    losses, skipped, _ = run_epoch(vit_b, _instances(two_boxes, 4), cfg, torch.device("cpu"),
                                   progress=False)  # fmt: skip
    assert skipped == ["b"] and losses["loss"] == pytest.approx(got["loss"].item(), rel=1e-5)
    with caplog.at_level("WARNING", logger="pmgsam.baselines.finetune_sam"):
        finetune_sam.log_skipped("boxes train", skipped, 2, "instance")
    assert "skipped 1 of 2 images without instances" in caplog.text


def test_an_image_with_instances_but_an_empty_gt_is_named_in_a_warning(
    tmp_path: Path, vit_b: Any, caplog
) -> None:
    # "a": GT = its one instance; "c": the same instance, but an all-zero GT mask.
    for folder in ("im", "gt", "inst"):
        (tmp_path / folder).mkdir()
    label = np.zeros((48, 128), np.uint8)
    label[LEFT] = 1
    for name, gt in (("a", label > 0), ("c", np.zeros_like(label, bool))):
        cv2.imwrite(str(tmp_path / "im" / f"{name}.png"), np.full((48, 128, 3), 90, np.uint8))
        cv2.imwrite(str(tmp_path / "gt" / f"{name}.png"), gt.astype(np.uint8) * 255)
        cv2.imwrite(str(tmp_path / "inst" / f"{name}.png"), label)
    paths = [[tmp_path / folder / f"{n}.png" for n in "ac"] for folder in ("im", "gt")]
    source = InstanceSource("png", tmp_path / "inst")
    data = SegmentationDataset(*paths, SIDE, instances=source, description="gt train")
    items = PromptedImages(data, [0, 1], SIDE, 2, (0, 1), False, InstanceMasks(data))
    assert [s.gt_empty for _, s in items] == [False, True]  # both trained on the instance
    assert not PromptedImages(data, [0], SIDE, 2, (0, 1))[0][1].gt_empty  # object targets
    empty: list = []
    _, skipped, _ = run_epoch(vit_b, items, FinetuneConfig(), torch.device("cpu"),
                              progress=False, gt_empty=empty)  # fmt: skip
    assert empty == ["c"] and skipped == []
    with caplog.at_level("WARNING", logger="pmgsam.baselines.finetune_sam"):
        finetune_sam.log_empty_gt("gt train", empty, 2)
        finetune_sam.log_empty_gt("gt val", [], 2)  # nothing to name: no warning
    assert len(caplog.records) == 1
    assert "gt train: 1 of 2 images have instances but an empty GT mask" in caplog.text
    assert caplog.text.rstrip().endswith(": c")


def test_instance_labels_from_coco_json_and_pngs_agree_and_skip_crowds(
    cod10k_root: Path, data_config: Any, tmp_path: Path
) -> None:
    cfg = data_config("cod10k", cod10k_root, cam_only=True)
    from_json = build_dataset(cfg, "Train", SIDE, train=False)
    assert from_json.instances.kind == "json"
    png = InstanceSource("png", cod10k_root / "Train" / "GT_Instance")
    from_png = SegmentationDataset(from_json.image_paths, from_json.mask_paths, SIDE,
                                   names=from_json.names, instances=png)  # fmt: skip
    read_json, read_png = InstanceMasks(from_json), InstanceMasks(from_png)
    counts = []
    for i in range(len(from_json)):
        shape = from_json.load(i)[1].shape
        a, b = read_json(i, shape), read_png(i, shape)
        assert sorted(m.tobytes() for m in a) == sorted(m.tobytes() for m in b)
        counts.append(len(a))
    assert max(counts) >= 2  # the generated COD10K has images of several instances
    coco = json.loads(from_json.instances.path.read_text())
    first = coco["images"][0]["id"]
    anns = [a for a in coco["annotations"] if a["image_id"] == first]
    anns[0]["iscrowd"] = 1
    coco["annotations"] = anns
    crowd = tmp_path / "crowd.json"
    crowd.write_text(json.dumps(coco))
    from_json.instances = InstanceSource("json", crowd)
    index = from_json.names.index(Path(coco["images"][0]["file_name"]).stem)
    shape = from_json.load(index)[1].shape
    assert len(InstanceMasks(from_json)(index, shape)) == len(anns) - 1  # the crowd left out
    other = next(i for i in range(len(from_json)) if i != index)
    assert len(InstanceMasks(from_json)(other, from_json.load(other)[1].shape)) == 0
    coco["images"][0]["height"] += 1  # a file for other images
    crowd.write_text(json.dumps(coco))
    with pytest.raises(DataError, match=r"crowd.json' gives image .* size \("):
        InstanceMasks(from_json)(index, shape)


def _split(instances: InstanceSource) -> Any:
    return SimpleNamespace(instances=instances, names=["a", "b"], description="split 'T'")


def test_a_split_without_instances_or_a_bad_coco_file_is_named(tmp_path: Path) -> None:
    none = InstanceSource("none", reason="no GT_Instance folder")
    with pytest.raises(DataError, match=r"^split 'T' has no instance labels: no GT_Instance fol"):
        InstanceMasks(_split(none))
    path = tmp_path / "inst.json"
    images = [{"id": 1, "file_name": "a.jpg", "height": 4, "width": 4}]
    seg = [[0.0, 0.0, 3.0, 0.0, 3.0, 3.0, 0.0, 3.0]]  # a polygon
    cases = [
        ("{", r"^COCO instance file '.*inst.json' is not valid JSON: .*line 1 column 2"),
        ({"annotations": []}, r"^COCO instance file '.*inst.json' has no 'images' list$"),
        ({"images": images, "annotations": [{"id": 7}]},
         r"^COCO instance file '.*inst.json': annotations\[0\] has no 'image_id' \(a number\)$"),
        ({"images": images, "annotations": [{"id": 7, "image_id": 1}]},
         r"'.*inst.json' annotation 7 has no 'segmentation'$"),
        ({"images": [{"id": 1, "file_name": "z.jpg"}], "annotations": []},
         r"^COCO instance file '.*inst.json' lists none of the images of split 'T'$"),
    ]  # fmt: skip
    for content, words in cases:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        with pytest.raises(DataError, match=words):
            InstanceMasks(_split(InstanceSource("json", path)))
    # A crowd region without a segmentation is skipped before it is looked at.
    anns = [{"id": 7, "image_id": 1, "iscrowd": 1}, {"id": 8, "image_id": 1, "segmentation": seg}]
    # A degenerate (zero-area) polygon covers no pixel: no target, not an empty one.
    anns.append({"id": 9, "image_id": 1, "segmentation": [[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]})
    path.write_text(json.dumps({"images": images, "annotations": anns}))
    assert InstanceMasks(_split(InstanceSource("json", path)))(0, (4, 4)).shape == (1, 4, 4)


def test_where_instances_overlap_a_point_targets_the_smallest() -> None:
    masks = np.zeros((3, 10, 12), bool)
    masks[0, 1:9, 1:11] = True  # a large instance (first in file order) ...
    masks[1, 3:6, 3:6] = True  # ... holding a small one
    masks[2, 0, 11] = True  # and a 1-pixel instance outside both
    points, owner = sample_instance_points(masks, 80, np.random.default_rng(0))
    x, y = points.astype(int).T
    smallest = np.where(masks[2, y, x], 2, np.where(masks[1, y, x], 1, 0))
    assert owner.tolist() == smallest.tolist() and set(owner.tolist()) == {0, 1, 2}
    assert sample_instance_points(masks[:0], 3, np.random.default_rng(0)) is None
    # Instances that cover no pixel (a degenerate polygon): no point, as with none.
    assert sample_instance_points(masks & False, 3, np.random.default_rng(0)) is None


def test_auto_targets_are_instances_where_the_splits_have_instance_labels(
    dis5k_root: Path, cod10k_root: Path, nc4k_root: Path, data_config: Any
) -> None:
    def splits(dataset: str, root: Path, *names: str) -> dict:
        cfg = data_config(dataset, root)
        return {s: build_dataset(cfg, s, SIDE, train=False) for s in names}

    dis5k = splits("dis5k", dis5k_root, "DIS-TR", "DIS-VD")
    cod10k = splits("cod10k", cod10k_root, "Train:train", "Train:val")
    nc4k = splits("nc4k", nc4k_root, "train:train", "train:val")
    assert resolve_targets("auto", dis5k, str(dis5k_root)) == "object"
    assert resolve_targets("auto", cod10k, str(cod10k_root)) == "instance"
    assert resolve_targets("auto", nc4k, str(nc4k_root)) == "instance"
    assert resolve_targets("object", cod10k, str(cod10k_root)) == "object"
    with pytest.raises(ConfigError, match=r"split 'DIS-TR' of data.root '.*DIS5K' has no inst"):
        resolve_targets("instance", dis5k, str(dis5k_root))
    with pytest.raises(ConfigError, match="'finetune.targets' must be one of"):
        FinetuneConfig(targets="instances").validate()


@pytest.fixture(scope="module")
def shrunk_encoder() -> Any:
    patch = pytest.MonkeyPatch()
    patch.setitem(sam._ENCODERS, "vit_b", (64, 2, 2, (1,)))
    yield
    patch.undo()


def _data(dataset: str, root: Path, tmp: Path) -> dict:
    data = {"dataset": dataset, "root": str(root), "num_workers": 0}
    if dataset == "cod10k":  # trained on Test, whose first 2 images hold 1 and 3 instances
        data.update(train_split="Test", val_split="Train", test_splits=["Test"])
    return {**data, "split_dir": str(tmp / "splits")}


def test_the_record_says_which_targets_and_the_cache_keeps_the_pairing(
    shrunk_encoder: Any, cod10k_root: Path, tmp_path: Path, caplog
) -> None:
    _, out, argv = command(tmp_path, _data("cod10k", cod10k_root, tmp_path))
    decoders, records = {}, {}
    for cache in ("memory", "none"):
        argv[argv.index("--output") + 1] = out = tmp_path / f"{cache}.pth"
        with caplog.at_level("INFO", logger="pmgsam.baselines.finetune_sam"):
            assert exit_status(finetune_sam.main, [*argv, "--embedding-cache", cache]) == 0
        records[cache] = record = json.loads(finetune_sam.sidecar_path(out).read_text())
        assert record["targets"] == "instance"  # auto, on a split with instance labels
        assert record["config_values"]["finetune"]["targets"] == "auto"
        decoders[cache] = torch.load(out, weights_only=True)
    assert "instance targets" in caplog.text
    for key, value in decoders["none"].items():
        torch.testing.assert_close(decoders["memory"][key], value, rtol=0, atol=1e-6)
    losses = [[e["val_loss"] for e in records[c]["epochs"]] for c in ("memory", "none")]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    argv[argv.index("--output") + 1] = out = tmp_path / "object.pth"
    assert exit_status(finetune_sam.main, [*argv, "--targets", "object"]) == 0
    record = json.loads(finetune_sam.sidecar_path(out).read_text())
    assert record["targets"] == "object"
    assert record["epochs"][1]["train_loss"] != records["memory"]["epochs"][1]["train_loss"]
    changed = [k for k, v in torch.load(out, weights_only=True).items()
               if not torch.equal(v, decoders["memory"][k])]  # fmt: skip
    assert changed and all(k.startswith("mask_decoder.") for k in changed)


def test_instance_targets_without_instance_labels_are_refused(
    shrunk_encoder: Any, dis5k_root: Path, tmp_path: Path, capsys
) -> None:
    _, out, argv = command(tmp_path, _data("dis5k", dis5k_root, tmp_path))
    assert exit_status(finetune_sam.main, [*argv, "--targets", "instance"]) == 2
    err = capsys.readouterr().err
    assert f"split 'DIS-TR' of data.root '{dis5k_root}' has no instance labels" in err
    assert "finetune.targets=instance" in err and not out.exists()

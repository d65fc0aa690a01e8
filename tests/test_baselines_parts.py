"""SAM baselines' parts that run no prediction: GT boxes, mask reductions, SAM checkpoints.

The end-to-end SAM-box and SAM-auto runs are in tests/test_baselines.py; ``sam_file`` (a random
SAM ViT-B saved at a 64-px input) is shared with them from conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from mask_cases import coco_dict

from pmgsam.baselines import sam
from pmgsam.baselines.base import BoxBaseline, family, gt_box, instance_boxes, reduce_masks
from pmgsam.baselines.settings import family_of
from pmgsam.evaluation.coco_gt import load_coco
from pmgsam.modeling.weights import CheckpointError
from pmgsam.utils.rle import encode_rle

SIDE = 64  # the side sam_file was saved at

pytestmark = pytest.mark.usefixtures("one_thread")


def test_gt_box_of_a_hand_made_mask() -> None:
    mask = np.zeros((10, 12), np.uint8)
    mask[2:5, 3:8] = 1  # rows 2..4, columns 3..7
    mask[7, 1] = 1
    np.testing.assert_array_equal(gt_box(mask), [1, 2, 7, 7])
    assert gt_box(np.zeros((4, 4), np.uint8)) is None


def test_instance_boxes_from_hand_made_coco_instances() -> None:
    a = np.zeros((8, 10), np.uint8)
    a[1:3, 2:6] = 1  # rows 1..2, columns 2..5
    b = np.zeros((8, 10), np.uint8)
    b[4:8, 0:2] = 1  # rows 4..7, columns 0..1
    empty = np.zeros((8, 10), np.uint8)
    # Boxes come from the masks: the stored bbox fields (all wrong) do not decide.
    anns = [
        {"id": k + 1, "image_id": im, "category_id": 1, "segmentation": encode_rle(m),
         "area": float(m.sum()), "bbox": [0, 0, 1, 1], "iscrowd": 0}
        for k, (im, m) in enumerate([(1, a), (1, empty), (1, b), (2, a)])
    ]  # fmt: skip
    coco = load_coco(coco_dict((8, 10), anns, ["1.jpg", "2.jpg", "3.jpg"]))
    boxes, n_empty = instance_boxes(coco, 1)
    np.testing.assert_array_equal(boxes, [[2, 1, 5, 2], [0, 4, 1, 7]])
    assert n_empty == 1
    boxes, n_empty = instance_boxes(coco, 3)  # no instances at all
    assert boxes.shape == (0, 4) and n_empty == 0


def test_reduce_variants_on_hand_made_masks() -> None:
    a = np.zeros((4, 4), bool)
    a[:2] = True  # 8 px
    b = np.zeros((4, 4), bool)
    b[:, 0] = True  # 4 px
    c = np.zeros((4, 4), bool)
    c[3, 3] = True  # 1 px
    gt = np.zeros((4, 4), np.uint8)
    gt[1:, 0] = 1  # IoU: a 1/10, b 3/4, c 0
    np.testing.assert_array_equal(reduce_masks([a, b, c], "union", (4, 4)), a | b | c)
    np.testing.assert_array_equal(reduce_masks([c, b, a], "largest", (4, 4)), a)
    np.testing.assert_array_equal(reduce_masks([a, b, c], "oracle", (4, 4), gt), b)
    far = np.zeros((4, 4), np.uint8)
    far[2, 2] = 1  # overlaps nothing: the oracle keeps nothing
    assert not reduce_masks([a, b, c], "oracle", (4, 4), far).any()
    empty = reduce_masks([], "union", (3, 5))
    assert empty.shape == (3, 5) and not empty.any()
    with pytest.raises(ValueError, match="GT"):
        reduce_masks([a], "oracle", (4, 4))
    with pytest.raises(ValueError, match="reduce"):
        reduce_masks([a], "mean", (4, 4))


def test_reduce_oracle_is_iou_not_precision_or_recall_and_ties_go_first() -> None:
    gt = np.zeros((4, 4), np.uint8)
    gt[:2] = 1  # rows 0-1: 8 px
    d = np.ones((4, 4), bool)  # 16 px: IoU 8/16 = .5, precision .5, recall 1
    e = np.zeros((4, 4), bool)
    e[0, :3] = True  # 3 px inside the GT: IoU 3/8, precision 1, recall 3/8
    g = np.zeros((4, 4), bool)
    g[:3] = True  # 12 px: IoU 8/12, precision 8/12, recall 1
    # IoU picks g; precision would pick e, recall or the raw overlap (8 px) d.
    np.testing.assert_array_equal(reduce_masks([d, e, g], "oracle", (4, 4), gt), g)
    # Ties go to the earliest mask: p and q have 2 px each and IoU 2/4 with a row-0 GT.
    p = np.zeros((4, 4), bool)
    p[0, :2] = True
    q = np.zeros((4, 4), bool)
    q[0, 2:] = True
    row0 = np.zeros((4, 4), np.uint8)
    row0[0] = 1
    np.testing.assert_array_equal(reduce_masks([p, q], "largest", (4, 4)), p)
    np.testing.assert_array_equal(reduce_masks([q, p], "largest", (4, 4)), q)
    np.testing.assert_array_equal(reduce_masks([p, q], "oracle", (4, 4), row0), p)
    np.testing.assert_array_equal(reduce_masks([q, p], "oracle", (4, 4), row0), q)


def test_load_sam_strict_and_names_bad_keys(sam_file, tmp_path: Path) -> None:
    path, model = sam_file
    loaded = sam.load("vit_b", path, "cpu", SIDE).state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(loaded[key], value), key
    state = dict(model.state_dict())
    del state["mask_decoder.iou_token.weight"]
    state["extra.weight"] = torch.zeros(1)
    bad = tmp_path / "bad_sam.pth"
    torch.save(state, bad)
    with pytest.raises(CheckpointError) as err:
        sam.load("vit_b", bad, "cpu", SIDE)
    for text in ("bad_sam.pth", "mask_decoder.iou_token.weight", "extra.weight"):
        assert text in str(err.value)
    assert "--model-image-size" not in str(err.value)  # saved at the side it is loaded at
    with pytest.raises(ValueError, match="model type"):
        sam.load("vit_x", path)


def test_load_sam_at_another_side_names_the_checkpoint_side(sam_file) -> None:
    # Saved at 64 (pos_embed: a 4x4 grid of 16-pixel patches), loaded at the default 1024.
    with pytest.raises(CheckpointError, match=r"pass --model-image-size 64$"):
        sam.load("vit_b", sam_file[0])


def test_unknown_families_and_model_types_name_the_known_ones() -> None:
    with pytest.raises(
        ValueError, match=r"^unknown baseline family 'sam3'; choose from \['sam', 'sam2'\]$"
    ):
        family("sam3")
    known = "sam: vit_b, vit_l, vit_h; sam2: tiny, small, base_plus, large"
    with pytest.raises(ValueError, match=rf"^unknown model type 'vit_x' \({known}\)$"):
        family_of("vit_x")


def test_sam2_build_names_the_known_model_types() -> None:
    # pmgsam.baselines.sam2 imports the optional sam2 package; without it the rest of this
    # file still runs (the GPU machine has no sam2 wheel).
    pytest.importorskip("sam2", reason="the optional sam2 extra is not installed")
    from pmgsam.baselines import sam2

    with pytest.raises(
        ValueError, match=r"must be one of \('tiny', 'small', 'base_plus', 'large'\), got 'huge'"
    ):
        sam2.build("huge")


def test_sam2_model_types_build_the_configs_sam2_releases_them_with() -> None:
    pytest.importorskip("sam2", reason="the optional sam2 extra is not installed")
    from sam2.build_sam import HF_MODEL_ID_TO_FILENAMES

    from pmgsam.baselines import sam2

    # sam2's own table of released SAM2.1 checkpoints and the config each is built with: a
    # swapped entry would build e.g. Hiera-T for "small", refused only at loading a real file.
    for model_type, config in sam2.CONFIGS.items():
        model_id = "facebook/sam2.1-hiera-" + model_type.replace("_", "-")
        assert config == HF_MODEL_ID_TO_FILENAMES[model_id][0], model_type


def test_side_hint_only_for_a_position_embedding_of_another_grid() -> None:
    key = "image_encoder.pos_embed"
    own = {key: torch.zeros(1, 64, 64, 768)}  # ViT-B at the released 1024-px input
    hint = sam.side_hint(own, {key: torch.zeros(1, 4, 4, 768)})
    assert hint.endswith("saved for a 64-pixel input, not 1024: pass --model-image-size 64")
    # ViT-L at 1024 (another width, the same grid): its side is right, a side hint would be
    # wrong (model_type_hint names the cause instead).
    assert sam.side_hint(own, {key: torch.zeros(1, 64, 64, 1024)}) == ""
    assert sam.side_hint(own, {key: torch.zeros(1, 4, 8, 768)}) == ""  # not square
    assert sam.side_hint(own, {key: torch.zeros(1, 64, 64, 768)}) == ""  # the model's own


def test_model_type_hint_names_only_a_known_encoder() -> None:
    key = "image_encoder.patch_embed.proj.weight"
    own = {key: torch.zeros(768, 3, 16, 16)}  # ViT-B's patch embedding

    def saved(width: int, blocks: int) -> dict:
        state = {key: torch.zeros(width, 3, 16, 16)}
        state.update(
            {f"image_encoder.blocks.{i}.norm1.weight": torch.zeros(1) for i in range(blocks)}
        )
        return state

    assert sam.model_type_hint(own, saved(1024, 24)).endswith("pass --model-type vit_l")
    assert sam.model_type_hint(own, saved(1024, 12)) == ""  # ViT-L's width, ViT-B's depth
    assert sam.model_type_hint(own, saved(768, 24)) == ""  # the model's own width


def test_a_box_baseline_without_boxes_predicts_nothing_and_reads_no_image() -> None:
    box = BoxBaseline.__new__(BoxBaseline)  # no model: the predictor must not be reached
    box.predictor = None
    for boxes in (None, np.zeros((0, 4))):
        pred = box.predict(np.zeros((4, 4, 3), np.uint8), boxes)
        assert pred.masks == [] and pred.scores == []

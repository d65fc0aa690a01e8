"""The overlapping-instance subset (:mod:`pmgsam.analysis.overlap`) on hand-drawn instances.

Each case is drawn so that a plausible slip gives another subset: a 4-connected dilation (two
masks meeting only at a corner), crowd regions counted as instances, only the first pair of
instances compared, the ``--touch-distance`` option not passed on, the prediction folder not
guarded.
"""

from __future__ import annotations

import json
import warnings
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from mask_cases import coco_annotation, coco_dict

from pmgsam.analysis.__main__ import main as analysis_main
from pmgsam.analysis.overlap import (
    boxes_overlap,
    masks_touch,
    overlapping_image_ids,
    scoring_settings,
)
from pmgsam.evaluation.coco_gt import load_coco
from pmgsam.evaluation.instances import UnscoredPredictionWarning
from pmgsam.utils.cli import exit_status
from pmgsam.utils.config import ConfigError

S = 20
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def square(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """A (S, S) uint8 mask, 1 on rows y0..y1-1 and columns x0..x1-1."""
    m = np.zeros((S, S), np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


def coco_of(*images) -> dict:
    """A COCO dict: image i + 1 holds the masks (or ``(mask, extra-fields)``) of images[i]."""
    anns = []
    for img_id, masks in enumerate(images, 1):
        for m in masks:
            mask, extra = m if isinstance(m, tuple) else (m, {})
            anns.append(coco_annotation(len(anns) + 1, img_id, mask, **extra))
    return coco_dict((S, S), anns, [f"im{i}.jpg" for i in range(1, len(images) + 1)])


def test_masks_meeting_only_at_a_corner_touch_8_connected() -> None:
    a, b = square(0, 3, 0, 3), square(3, 6, 3, 6)  # pixel (2, 2) and pixel (3, 3)
    assert masks_touch(a, b, 1) and masks_touch(b, a, 1)
    assert not masks_touch(a, b, 0)  # no shared pixel
    far = square(4, 6, 4, 6)  # two diagonal steps from (2, 2)
    assert not masks_touch(a, far, 1) and masks_touch(a, far, 2)


def test_box_overlap_reads_width_and_height_from_their_own_fields() -> None:
    # COCO boxes are [x, y, w, h]. A wide bar (x 0..10, y 0..2) and a tall bar through its
    # right end (x 8..10, y 0..10) share the 2x2 square x 8..10, y 0..2. Square boxes (as in the
    # other cases) cannot tell w from h.
    wide, tall = [0, 0, 10, 2], [8, 0, 2, 10]
    assert boxes_overlap(wide, tall) and boxes_overlap(tall, wide)
    # A tall bar (x 0..2, y 0..10) and a wide bar across its foot (x 0..10, y 8..10): 2x2 too.
    assert boxes_overlap([0, 0, 2, 10], [0, 8, 10, 2])
    # The wide bar and a tall bar just below it (y from 3): 1 row apart, no shared area.
    assert not boxes_overlap(wide, [8, 3, 2, 10])


def test_crowd_regions_and_later_pairs() -> None:
    crowd = (square(0, 10, 0, 10), {"iscrowd": 1})
    data = coco_of(
        [square(2, 5, 2, 5), crowd],  # 1: a crowd region over the only instance: not a pair
        [square(0, 3, 0, 3), square(10, 13, 10, 13), square(11, 15, 11, 15)],  # 2: pair (2, 3)
        [square(0, 3, 0, 3), square(10, 13, 10, 13), square(15, 18, 0, 3)],  # 3: all apart
    )
    coco = load_coco(data)
    assert overlapping_image_ids(coco, "either") == [2]
    assert overlapping_image_ids(coco, "box") == [2]
    assert overlapping_image_ids(coco, "touch") == [2]


def test_instances_meeting_only_in_the_last_row_or_column_of_their_boxes_touch() -> None:
    # Touching is looked for inside the box around both masks, whose last row and column hold
    # the only contact here: a window that ends one short misses it.
    data = coco_of(
        [square(2, 6, 1, 4), square(5, 6, 4, 7)],  # 1: (5, 3) beside (5, 4), the last row
        [square(2, 5, 1, 4), square(5, 8, 3, 4)],  # 2: (4, 3) above (5, 3), the last column
        [square(2, 6, 1, 4), square(5, 6, 5, 8)],  # 3: column 4 between them: 2 pixels apart
    )
    coco = load_coco(data)
    assert overlapping_image_ids(coco, "box", progress=False) == []  # no shared box area
    assert overlapping_image_ids(coco, "touch", progress=False) == [1, 2]
    assert overlapping_image_ids(coco, "touch", distance=2, progress=False) == [1, 2, 3]


def test_cli_passes_the_touch_distance_and_guards_the_prediction_folder(tmp_path, capsys):
    # Image 1: two squares 4 pixels apart (columns 3 and 7): touching at distance 4, not 3.
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(coco_of([square(0, 3, 0, 4), square(0, 3, 7, 10)])))
    base = ["overlap", "--gt-json", gt, "--rule", "touch", "--name", "T"]
    for distance, listed in ((3, ""), (4, "im1.jpg\n")):
        out = tmp_path / f"d{distance}"
        assert exit_status(analysis_main, [*base, "--touch-distance", distance, "--out", out]) == 0
        assert (out / "overlap_images.txt").read_text() == listed
        assert json.loads((out / "overlap_summary.json").read_text())["touch_distance"] == distance
    pred = tmp_path / "pred"
    pred.mkdir()
    (pred / "im1.png").write_bytes(b"user map")
    argv = [*base, "--out", pred, "--pred-dir", pred]
    assert exit_status(analysis_main, argv) == 2
    assert "--out" in capsys.readouterr().err
    assert sorted(p.name for p in pred.iterdir()) == ["im1.png"]


def test_a_missing_or_unreadable_gt_json_or_no_gt_at_all_is_named(tmp_path, capsys):
    gt = tmp_path / "gt.json"
    base = ["overlap", "--name", "T", "--out", tmp_path / "o"]
    gt.write_text('{"images": [')
    folder = tmp_path / "elsewhere" / "gt.json"  # a folder named like the file
    folder.mkdir(parents=True)
    cases = [
        (["--gt-json", tmp_path / "none.json"], f"--gt-json '{tmp_path / 'none.json'}' does not"),
        (["--gt-json", gt], f"--gt-json '{gt}' is not valid JSON"),
        (["--gt-json", folder], f"--gt-json '{folder}' is not a file"),
        (["--split", "Test"], "overlap needs --gt-json, or --config and --split"),
    ]
    for extra, words in cases:
        assert exit_status(analysis_main, [*base, *extra]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err, err
    assert not (tmp_path / "o").exists()
    with pytest.raises(
        ValueError, match=r"rule must be one of \['touch', 'box', 'either'\], got 'both'"
    ):
        overlapping_image_ids(load_coco(coco_of([square(0, 3, 0, 4)])), rule="both")


def test_out_may_not_be_a_folder_of_the_split(tmp_path, cod10k_root, capsys):
    # The user's COD10K-v3: Test/{Image, GT_Object, GT_Edge, GT_Instance} and the COCO file
    # Test/CAM_Instance_Test.json, which names the images but not the folders they live in.
    import shutil

    from test_analysis import DEMO

    root = tmp_path / "COD10K-v3"
    shutil.copytree(cod10k_root, root)
    test = root / "Test"
    before = {p: p.read_bytes() for p in test.rglob("*") if p.is_file()}
    by_json = ["overlap", "--name", "COD10K", "--gt-json", test / "CAM_Instance_Test.json"]
    by_config = ["overlap", "--name", "COD10K", "--config", DEMO, "--split", "Test",
                 "data.dataset=cod10k", f"data.root={root}", "data.train_split=Train",
                 "data.val_split=null", "data.test_splits=[Test]"]  # fmt: skip
    for argv in (by_json, by_config):
        for out in (test / "GT_Instance", test / "Image", test / "GT_Object" / "sub"):
            assert exit_status(analysis_main, [*argv, "--out", out]) == 2
            err = capsys.readouterr().err
            assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
            assert f"--out '{out}'" in err and str(out.relative_to(root).parts[1]) in err, err
    assert {p: p.read_bytes() for p in test.rglob("*") if p.is_file()} == before
    # Next to the data, in a folder of its own, the subset files are fine.
    assert exit_status(analysis_main, [*by_json, "--out", test / "overlap"]) == 0
    assert (test / "overlap" / "overlap_images.txt").is_file()


def _maps(folder, data: dict) -> None:
    """Perfect maps: the union of each image's instances."""
    from pycocotools import mask as mask_utils

    folder.mkdir()
    for im in data["images"]:
        union = np.zeros((S, S), np.uint8)
        for a in data["annotations"]:
            if a["image_id"] == im["id"]:
                union |= mask_utils.decode(a["segmentation"])
        cv2.imwrite(str(folder / f"im{im['id']}.png"), union * 255)


def test_the_subset_scores_without_a_warning_about_the_other_maps(tmp_path) -> None:
    # Image 1 holds two touching squares, image 2 one: the subset is image 1, and the map of
    # image 2 in the folder is expected, not a stray of another split.
    data = coco_of([square(0, 3, 0, 3), square(3, 6, 0, 3)], [square(0, 3, 0, 3)])
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(data))
    _maps(tmp_path / "pred", data)
    argv = ["overlap", "--gt-json", gt, "--name", "T", "--out", tmp_path / "o"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnscoredPredictionWarning)
        assert exit_status(analysis_main, [*argv, "--pred-dir", tmp_path / "pred"]) == 0
    cos = json.loads((tmp_path / "o" / "overlap_summary.json").read_text())["cos"]
    assert cos["T overlap"]["num_images"] == 1 and cos["T"]["num_images"] == 2


def _by_config(cod10k_root) -> list:
    from test_analysis import DEMO

    return ["overlap", "--name", "COD10K", "--config", DEMO, "--split", "Test",
            "data.dataset=cod10k", f"data.root={cod10k_root}", "data.train_split=Train",
            "data.val_split=null", "data.test_splits=[Test]"]  # fmt: skip


def test_run_without_pred_dir_scores_its_split_folder_or_is_refused(
    tmp_path, cod10k_root, capsys
) -> None:
    import shutil

    run, out = tmp_path / "run", tmp_path / "o"
    # Without a split there is no RUN/pred/<split> to score: refused before anything is written.
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(coco_of([square(0, 3, 0, 3)])))
    argv = ["overlap", "--gt-json", gt, "--name", "T", "--out", out, "--run", run]
    assert exit_status(analysis_main, argv) == 2
    err = capsys.readouterr().err
    assert "--run needs --pred-dir" in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists() and not run.exists()
    # With --split, the maps evaluate.py writes to RUN/pred/Test: the GT masks of the 3 CAM
    # test images (the NonCAM one has no instance GT).
    shutil.copytree(cod10k_root / "Test" / "GT_Object", run / "pred" / "Test")
    assert exit_status(analysis_main, [*_by_config(cod10k_root), "--out", out, "--run", run]) == 0
    cos = json.loads((run / "run.json").read_text())["cos"]
    assert cos["COD10K"]["num_images"] == 3
    assert str(run / "pred" / "Test") in capsys.readouterr().out


def test_a_wrong_pred_dir_writes_no_subset_file(tmp_path, capsys) -> None:
    data = coco_of([square(0, 3, 0, 3), square(3, 6, 0, 3)], [square(0, 3, 0, 3)])
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(data))
    _maps(tmp_path / "pred", data)
    (tmp_path / "pred" / "im2.png").unlink()
    out, run = tmp_path / "o", tmp_path / "run"
    argv = ["overlap", "--gt-json", gt, "--name", "T", "--out", out, "--run", run]
    for pred in (tmp_path / "pred", tmp_path / "nope"):
        assert exit_status(analysis_main, [*argv, "--pred-dir", pred]) == 2
        err = capsys.readouterr().err
        assert str(pred) in err and len(err.strip().splitlines()) == 1, err
        assert not out.exists() and not run.exists()


def _scored_run(tmp_path, protocol: str = "matched", resize: bool = False):
    """A run whose maps hit every GT instance and add a false positive per image, its full-set
    AP of 'T' recorded as evaluate.py would (``protocol``, threshold 0.3, min area 2). With
    ``resize``, image 2's map is at twice its size (each pixel a 2 x 2 block, which a bilinear
    halving gives back exactly) and the run scored it with --resize-pred."""
    from pmgsam.evaluation.instances import PROTOCOLS, evaluate_cos_folder
    from pmgsam.evaluation.run_json import write_run_json

    data = coco_of([square(0, 3, 0, 3), square(3, 6, 0, 3)], [square(0, 3, 0, 3)])
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(data))
    run = tmp_path / "run"
    pred = run / "pred" / "Test"
    pred.parent.mkdir(parents=True)
    _maps(pred, data)
    for im in data["images"]:  # the false positive: counted by 'all', dropped by 'matched'
        path = str(pred / f"im{im['id']}.png")
        cv2.imwrite(path, np.maximum(cv2.imread(path, 0), square(12, 16, 12, 16) * 255))
    if resize:
        big = np.kron(cv2.imread(str(pred / "im2.png"), 0), np.ones((2, 2), np.uint8))
        cv2.imwrite(str(pred / "im2.png"), big)
    kwargs = dict(protocol=protocol, resize_pred=resize, progress=False)
    scores = evaluate_cos_folder(pred, data, 0.3, 2, **kwargs)
    ap = {p: evaluate_cos_folder(pred, data, **{**kwargs, "protocol": p})["AP"] for p in PROTOCOLS}
    assert ap["all"] < ap["matched"]
    write_run_json(run, "ours", cos={"T": scores})
    argv = ["overlap", "--gt-json", gt, "--name", "T", "--out", tmp_path / "o", "--run", run]
    return [*argv, "--pred-dir", pred], run, scores


def test_with_run_the_subset_is_scored_as_the_runs_full_set_was(tmp_path, capsys) -> None:
    # The run's COD10K-like entry was scored 'matched' (threshold 0.3, min area 2): the
    # subset beside it and the summary's full set are scored so too, not with the defaults.
    argv, run, recorded = _scored_run(tmp_path)
    assert exit_status(analysis_main, argv) == 0
    assert "protocol matched, threshold 0.3, min area 2" in capsys.readouterr().out
    cos = json.loads((run / "run.json").read_text())["cos"]
    assert cos["T"] == recorded  # the run's own full-set entry stays
    settings = {"protocol": "matched", "threshold": 0.3, "min_area": 2}
    assert {k: cos["T overlap"][k] for k in settings} == settings
    full = json.loads((tmp_path / "o" / "overlap_summary.json").read_text())["cos"]["T"]
    assert {k: full[k] for k in settings} == settings and full["AP"] == recorded["AP"]
    # Given and equal to the run's, an option is accepted.
    assert exit_status(analysis_main, [*argv, "--protocol", "matched"]) == 0


def test_a_protocol_other_than_the_runs_is_refused(tmp_path, capsys) -> None:
    argv, run, _ = _scored_run(tmp_path)
    before = (run / "run.json").read_bytes()
    for option, value, had in (("--protocol", "all", "matched"), ("--threshold", 0.5, 0.3)):
        assert exit_status(analysis_main, [*argv, option, value]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        assert f"{option} {value} differs from the" in err and f" {had} that --run" in err, err
        assert (run / "run.json").read_bytes() == before and not (tmp_path / "o").exists()


def test_a_run_scored_with_resize_pred_is_resized_without_the_option(tmp_path, capsys) -> None:
    # The run's full-set AP was scored with --resize-pred: so are the subset and the full set
    # here, not refused for the map of another size.
    argv, run, recorded = _scored_run(tmp_path, resize=True)
    assert recorded["resize_pred"] is True
    assert exit_status(analysis_main, argv) == 0
    assert "min area 2, maps resized to their GT's size" in capsys.readouterr().out
    cos = json.loads((run / "run.json").read_text())["cos"]
    assert cos["T overlap"]["resize_pred"] is True and cos["T overlap"]["num_images"] == 1
    full = json.loads((tmp_path / "o" / "overlap_summary.json").read_text())["cos"]["T"]
    assert full["resize_pred"] is True and full["AP"] == recorded["AP"]


def test_resize_pred_is_refused_for_a_run_scored_without_it(tmp_path, capsys) -> None:
    argv, run, recorded = _scored_run(tmp_path)
    assert recorded["resize_pred"] is False  # evaluate_cos_folder records it
    before = (run / "run.json").read_bytes()
    assert exit_status(analysis_main, [*argv, "--resize-pred"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "--resize-pred differs from the resize_pred false that --run" in err, err
    assert (run / "run.json").read_bytes() == before and not (tmp_path / "o").exists()


def test_without_run_the_defaults_still_apply(tmp_path) -> None:
    argv, _, _ = _scored_run(tmp_path)
    i = argv.index("--run")
    assert exit_status(analysis_main, argv[:i] + argv[i + 2 :]) == 0
    full = json.loads((tmp_path / "o" / "overlap_summary.json").read_text())["cos"]["T"]
    assert (full["protocol"], full["threshold"], full["min_area"]) == ("all", 0.5, 0)
    assert full["resize_pred"] is False


# --- scoring_settings ---------------------------------------------------------------------------


def _args(**given):
    values = {"protocol": None, "threshold": None, "min_area": None, "resize_pred": None}
    return SimpleNamespace(run="runs/r", name="COD10K", **{**values, **given})


def test_an_unknown_recorded_protocol_is_refused_not_passed_on() -> None:
    # Another tool's run.json may say "standard": neither of the two protocols this scorer
    # knows, so the subset's AP could not be scored as the full set's was.
    with pytest.raises(ConfigError, match="unknown COS protocol 'standard'"):
        scoring_settings(_args(), {"protocol": "standard", "threshold": 0.5, "min_area": 0})
    # The recorded one is taken where none is given, the default where none is recorded.
    got = scoring_settings(_args(), {"protocol": "matched", "threshold": 0.3})
    assert got == {"protocol": "matched", "threshold": 0.3, "min_area": 0, "resize_pred": False}


def test_resize_pred_is_taken_from_the_run_or_given_where_a_run_json_predates_it() -> None:
    assert scoring_settings(_args(), {"resize_pred": True})["resize_pred"] is True
    # An older run.json records no resize_pred: the option is taken as given, like the others.
    assert scoring_settings(_args(resize_pred=True), {"protocol": "all"})["resize_pred"] is True
    with pytest.raises(ConfigError, match="resize_pred 'yes' for COD10K, not true or false"):
        scoring_settings(_args(), {"resize_pred": "yes"})


def test_maps_of_another_size_are_refused_unless_resize_pred(tmp_path, capsys) -> None:
    # Image 2's map at twice the size, each pixel a 2 x 2 block: a bilinear halving gives the
    # map back exactly, so with --resize-pred the AP is that of the maps at the right size.
    data = coco_of([square(0, 3, 0, 3), square(3, 6, 0, 3)], [square(0, 3, 0, 3)])
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(data))
    _maps(tmp_path / "pred", data)
    argv = ["overlap", "--gt-json", gt, "--name", "T", "--pred-dir", tmp_path / "pred"]
    assert exit_status(analysis_main, [*argv, "--out", tmp_path / "same"]) == 0
    big = cv2.imread(str(tmp_path / "pred" / "im2.png"), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(tmp_path / "pred" / "im2.png"), np.kron(big, np.ones((2, 2), np.uint8)))
    capsys.readouterr()
    assert exit_status(analysis_main, [*argv, "--out", tmp_path / "refused"]) == 2
    err = capsys.readouterr().err
    assert "im2.png 40x40 vs GT 20x20" in err and "--resize-pred" in err, err
    assert not (tmp_path / "refused").exists()
    argv += ["--resize-pred", "--out", tmp_path / "resized"]
    assert exit_status(analysis_main, argv) == 0
    want, got = (json.loads((tmp_path / d / "overlap_summary.json").read_text())["cos"]
                 for d in ("same", "resized"))  # fmt: skip
    for entry in want.values():  # the one difference: how the maps were taken
        entry["resize_pred"] = True
    assert got == want and got["T"]["num_images"] == 2

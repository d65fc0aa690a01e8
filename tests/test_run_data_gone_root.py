"""A row's recorded data root that is gone since: the data moved, or another dataset took its
place. One split the row already holds tells them apart: its GT masks under the new root must
have the fingerprint its entry recorded (benchmark and baseline rows' ``data_root``, folder
rows' ``--gt-dir``). Nothing to compare (the new root lacks those splits) says nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pmgsam.data import build_dataset
from pmgsam.evaluation import run_data
from pmgsam.evaluation.run_data import check_same_data, check_same_gt_root, record_ground_truth
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.evaluation.table_gt import GT_KEY, mask_record


@pytest.fixture
def data(dis5k_root, tmp_path) -> Path:
    return Path(shutil.copytree(dis5k_root, tmp_path / "data" / "DIS5K"))


def _redraw_first_mask(root: Path, split: str) -> None:
    mask = sorted((root / split / "gt").iterdir())[0]
    pixels = np.asarray(Image.open(mask).convert("L")).copy()
    pixels[: pixels.shape[0] // 2] = 255 - pixels[: pixels.shape[0] // 2]
    Image.fromarray(pixels).save(mask)


def _datasets(data_config, root: Path, splits) -> dict:
    cfg = data_config("dis5k", root)
    return {s: build_dataset(cfg, s, 32, train=False) for s in splits}


def _row(run: Path, data_config, root: Path, splits=("DIS-TE2", "DIS-TE3")) -> None:
    """A benchmark row of ``splits`` read from ``root``, recorded as benchmark mode does."""
    dis = {s: {"maxFm": 0.5, "HCE": None} for s in splits}
    record_ground_truth("dis5k", splits, _datasets(data_config, root, splits), {}, dis, {}, root)
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"method": "M", "dis": dis}))


def _add(run: Path, data_config, root: Path, split: str = "DIS-TE1") -> None:
    check_same_data(run, "dis5k", [split], root, _datasets(data_config, root, [split]), {})


def test_gone_root_with_another_dataset_in_its_place_is_refused(data, data_config, tmp_path):
    run = tmp_path / "run"
    _row(run, data_config, data)
    other = Path(shutil.copytree(data, tmp_path / "other" / "DIS5K"))
    _redraw_first_mask(other, "DIS-TE2")  # a cleaned DIS5K: DIS-TE2's GT is other
    shutil.rmtree(data)
    with pytest.raises(EvaluationInputError) as err:
        _add(run, data_config, other)
    message = str(err.value)
    assert "DIS-TE2, DIS-TE3" in message and "gone" in message
    assert str(data.resolve()) in message and str(other.resolve()) in message


def test_gone_root_moved_or_with_nothing_to_compare_is_accepted(
    data, data_config, tmp_path, monkeypatch
):
    run = tmp_path / "run"
    _row(run, data_config, data)
    calls = []
    fingerprint = run_data._masks_fingerprint
    monkeypatch.setattr(run_data, "_masks_fingerprint", lambda f: calls.append(f) or fingerprint(f))
    _add(run, data_config, data)  # the recorded root itself: no fingerprint taken
    assert calls == []
    moved = data.rename(tmp_path / "moved")
    _add(run, data_config, moved)
    assert len(calls) == 1  # one split of the row fingerprinted, not each
    # A root holding none of the row's splits (only DIS-TE1): nothing tells, accepted.
    bare = tmp_path / "bare"
    shutil.copytree(moved / "DIS-TE1", bare / "DIS-TE1")
    _add(run, data_config, bare)


def test_gone_root_split_scored_again_with_other_gt_is_refused(data, data_config, tmp_path):
    run = tmp_path / "run"
    _row(run, data_config, data)
    other = Path(shutil.copytree(data, tmp_path / "other" / "DIS5K"))
    _redraw_first_mask(other, "DIS-TE2")
    shutil.rmtree(data)
    # DIS-TE2 scored again from the new root, DIS-TE3 kept: their GT differ from the recorded.
    with pytest.raises(EvaluationInputError, match=r"\(DIS-TE3\).*gone since"):
        _add(run, data_config, other, "DIS-TE2")


def _folder_row(run: Path, root: Path, splits=("DIS-TE2", "DIS-TE3")) -> None:
    """A folder-scored row (evaluate.py --pred-dir ... --run) of ``splits`` under ``root``."""
    dis, maps = {}, {}
    for split in splits:
        gt = root / split / "gt"
        masks = sorted(gt.iterdir())
        dis[split] = {"maxFm": 0.5, GT_KEY: mask_record(masks)}
        maps[f"dis/{split}"] = {"pred_dir": str(gt), "gt": str(gt.resolve())}
    run.mkdir()
    row = {"method": "M", "dis": dis, "meta": {"scored_maps": maps}}
    (run / "run.json").write_text(json.dumps(row))


def test_folder_row_gone_root_compares_a_split_it_holds(data, tmp_path):
    run = tmp_path / "run"
    _folder_row(run, data)
    other = Path(shutil.copytree(data, tmp_path / "other" / "DIS5K"))
    _redraw_first_mask(other, "DIS-TE2")
    (tmp_path / "moved").mkdir()
    moved = data.rename(tmp_path / "moved" / "DIS5K")
    with pytest.raises(EvaluationInputError, match=r"\(DIS-TE2, DIS-TE3\).*gone since"):
        check_same_gt_root(run, "dis", "DIS-TE1", other / "DIS-TE1" / "gt")
    check_same_gt_root(run, "dis", "DIS-TE1", moved / "DIS-TE1" / "gt")

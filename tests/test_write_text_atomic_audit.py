"""Mutation audit of utils.io.write_text_atomic and the writers moved onto it (benchmark's COS
scores and GT, ablate's done record and scores, premask's summary, overlap's GT subset, the
CLIPSeg record): each writes its file where it did, and a write that fails part-way (disk full)
leaves the earlier file whole, and no file where there was none, rather than a truncated one
that the next command cannot read.

Expectation: a plain ``Path.write_text`` (the writers before) leaves the half-written file.
"""

from __future__ import annotations

import json
import pathlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pmgsam.utils.io import temporary_target, write_text_atomic

OLD = '{"earlier": "record, whole"}\n'


def _fail_writes_to(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Writes of text to a file named ``name`` (or to its temporary) stop half-way with ENOSPC."""
    original = pathlib.Path.write_text

    def write_text(self: Path, data: str, *args, **kwargs) -> int:
        if name in (self.name, temporary_target(self.name)):
            original(self, data[: len(data) // 2], *args, **kwargs)
            raise OSError(28, "No space left on device")
        return original(self, data, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", write_text)


def _only_file(folder: Path, name: str) -> None:
    """No temporary of ``name`` is left in ``folder``."""
    left = [p.name for p in folder.iterdir() if temporary_target(p.name) == name]
    assert not left, left


def test_write_text_atomic_writes_utf8_into_a_new_folder_and_keeps_the_earlier_file(
    tmp_path, monkeypatch
) -> None:
    path = tmp_path / "new" / "deeper" / "r.json"
    assert write_text_atomic(str(path), "é ✓\n") == path
    assert path.read_bytes() == "é ✓\n".encode()
    path.write_text(OLD)
    _fail_writes_to(monkeypatch, "r.json")
    with pytest.raises(OSError, match="No space"):
        write_text_atomic(path, json.dumps({"new": "x" * 100}))
    assert path.read_text() == OLD
    _only_file(path.parent, "r.json")


def test_ablate_scores_keep_their_earlier_record(tmp_path, monkeypatch) -> None:
    from pmgsam.ablation.scoring import _record_settings
    from pmgsam.ablation.settings import SCORED_WITH

    out = tmp_path / "DIS-VD.json"
    summary = _record_settings(out, {"maxF": 0.5}, {"threshold": 0.5})
    assert json.loads(out.read_text()) == summary == {"maxF": 0.5, SCORED_WITH: {"threshold": 0.5}}
    out.write_text(OLD)
    _fail_writes_to(monkeypatch, out.name)
    with pytest.raises(OSError):
        _record_settings(out, {"maxF": 0.7}, {"threshold": 0.5})
    assert out.read_text() == OLD


def test_an_ablation_variant_stopped_writing_its_done_record_is_not_finished(
    tmp_path, monkeypatch
) -> None:
    import pmgsam.engine.state as state
    import pmgsam.engine.trainer as trainer
    from pmgsam.ablate import train_variant
    from pmgsam.ablation.checks import DONE_FILE

    class Trained:
        data_sample_fingerprint = "f" * 8

        def __init__(self, cfg, resume=None) -> None:
            pass

        def fit(self) -> dict:
            return {"best_val_loss": 0.25}

    monkeypatch.setattr(trainer, "Trainer", Trained)
    monkeypatch.setattr(state, "experiment_config", lambda *a, **k: None)
    _fail_writes_to(monkeypatch, DONE_FILE)
    with pytest.raises(OSError):
        train_variant(tmp_path / "a.yaml", tmp_path / "a", [])
    # A half record would pass for a finished variant at the next run (and not parse).
    assert not (tmp_path / "a" / "train" / DONE_FILE).exists()
    monkeypatch.undo()
    monkeypatch.setattr(trainer, "Trainer", Trained)
    monkeypatch.setattr(state, "experiment_config", lambda *a, **k: None)
    train_variant(tmp_path / "a.yaml", tmp_path / "a", [])
    done = json.loads((tmp_path / "a" / "train" / DONE_FILE).read_text())
    assert done["best_val_loss"] == 0.25 and done["data_sample_fingerprint"] == "f" * 8


@pytest.mark.parametrize("failing", ["Test.gt.json", "Test.json"])
def test_benchmark_cos_files_keep_their_earlier_versions(tmp_path, monkeypatch, failing) -> None:
    import cv2
    from test_cos_resize_recorded import H, W, _gt

    from pmgsam.evaluation.benchmark_cos import score_cos_split

    (tmp_path / "pred").mkdir()
    cv2.imwrite(str(tmp_path / "pred" / "a.png"), np.zeros((H, W), np.uint8))
    args = SimpleNamespace(threshold=0.5, min_area=0, protocol="all", resize_pred=False, quiet=True)
    out = tmp_path / "metrics" / "Test.json"  # metrics/ made by the write
    score_cos_split(args, _gt(), tmp_path / "pred", out)
    assert json.loads((tmp_path / "metrics" / "Test.gt.json").read_text()) == _gt()
    assert "AP" in json.loads(out.read_text())
    (tmp_path / "metrics" / failing).write_text(OLD)
    _fail_writes_to(monkeypatch, failing)
    with pytest.raises(OSError):
        score_cos_split(args, _gt(), tmp_path / "pred", out)
    assert (tmp_path / "metrics" / failing).read_text() == OLD


def test_premask_summary_keeps_its_earlier_version(tmp_path, monkeypatch) -> None:
    from test_analysis import _write_maps

    from pmgsam.analysis.premask import FINAL, PREMASK, analyse

    gt = np.zeros((4, 8), np.uint8)
    gt[:, :4] = 255
    gts = _write_maps(tmp_path / "gt", {"a": gt})
    maps = _write_maps(tmp_path / "m", {"a": gt})
    out = tmp_path / "out"
    summary = analyse(["a"], gts, {PREMASK: maps, FINAL: maps}, out, figure_size=(1, 1))
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))
    (out / "summary.json").write_text(OLD)
    _fail_writes_to(monkeypatch, "summary.json")
    with pytest.raises(OSError):
        analyse(["a"], gts, {PREMASK: maps, FINAL: maps}, out, figure_size=(1, 1))
    assert (out / "summary.json").read_text() == OLD


def test_overlap_gt_subset_keeps_its_earlier_version(tmp_path, monkeypatch) -> None:
    from test_analysis import _coco_with_cases

    from pmgsam.analysis.__main__ import main

    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(_coco_with_cases()))
    args = ["overlap", "--gt-json", str(gt), "--rule", "touch", "--name", "TOY"]
    args += ["--out", str(tmp_path / "ov")]
    assert main(args) == 0
    subset = json.loads((tmp_path / "ov" / "overlap_gt.json").read_text())
    assert [im["id"] for im in subset["images"]] == [1]
    (tmp_path / "ov" / "overlap_gt.json").write_text(OLD)
    _fail_writes_to(monkeypatch, "overlap_gt.json")
    with pytest.raises(OSError):
        main(args)
    assert (tmp_path / "ov" / "overlap_gt.json").read_text() == OLD


def test_a_clipseg_record_rewritten_for_new_images_stays_readable(tmp_path, monkeypatch) -> None:
    import cv2
    from test_clipseg_prior import _prompted_clipseg

    import pmgsam.analysis.clipseg as clipseg

    monkeypatch.setattr(clipseg, "_load", _prompted_clipseg)
    images = []
    for stem in ("a", "b"):
        images.append(tmp_path / f"{stem}.png")
        cv2.imwrite(str(images[-1]), np.zeros((6, 5, 3), np.uint8))
    out, model = tmp_path / "maps", tmp_path / "model"
    clipseg.clipseg_maps(model, "everything", images[:1], ["a"], out, progress=False)
    record = (out / clipseg.RECORD).read_text()
    _fail_writes_to(monkeypatch, clipseg.RECORD)
    with pytest.raises(OSError):
        clipseg.clipseg_maps(model, "everything", images, ["a", "b"], out, progress=False)
    assert (out / clipseg.RECORD).read_text() == record
    monkeypatch.undo()  # the next run goes on with the folder (a half record is refused)
    monkeypatch.setattr(clipseg, "_load", _prompted_clipseg)
    clipseg.clipseg_maps(model, "everything", images, ["a", "b"], out, progress=False)
    assert (out / "b.png").is_file()


def test_tables_written_again_keep_the_earlier_files_when_a_write_fails(
    tmp_path, monkeypatch
) -> None:
    from pmgsam.evaluation.table_rendering import Column, Table, write_table

    col = Column("AP", "AP", "AP", True, "{:.1f}".format)
    table = Table("T", [("", (col,))], [("m", {("", "AP"): 50.0})], [])
    written = write_table(table, tmp_path, "cos")
    assert [p.name for p in written] == ["cos.md", "cos.csv", "cos.tex"]
    before = {p.name: p.read_text() for p in written}
    assert "50.0" in before["cos.md"]
    _fail_writes_to(monkeypatch, "cos.csv")
    again = Table("T", [("", (col,))], [("m", {("", "AP"): 61.0})], [])
    with pytest.raises(OSError, match="No space"):
        write_table(again, tmp_path, "cos")
    assert (tmp_path / "cos.csv").read_text() == before["cos.csv"]
    _only_file(tmp_path, "cos.csv")

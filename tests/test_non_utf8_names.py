"""A file name that is not UTF-8 ('café.png' in Latin-1 from an old archive, which Python holds
as 'caf\\udce9.png') is scored and trained on like any other: it raised UnicodeEncodeError with
a traceback when evaluate.py wrote its per-image CSV and where a data fingerprint hashed it."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from pmgsam.ablation.settings import data_digest
from pmgsam.analysis.figures import _per_image_hce
from pmgsam.analysis.premask import _write_per_image_csv
from pmgsam.analysis.scored_images import _scored_stems
from pmgsam.engine.train_data import data_fingerprint, paths_fingerprint, sizes_fingerprint
from pmgsam.evaluation.dis_results import write_dis_results
from pmgsam.evaluation.table_gt import mask_record

LATIN1_NAME = os.fsdecode(b"caf\xe9.png")  # 'caf\udce9.png' on a UTF-8 file system


def _row(name: str) -> SimpleNamespace:
    return SimpleNamespace(
        fm_curve=[0.5, 0.5], em_curve=[0.5, 0.5], row=lambda: {"name": name, "MAE": 0.1}
    )


def test_per_image_csv_keeps_the_name_bytes_and_reads_them_back(tmp_path: Path) -> None:
    out = tmp_path / "run" / "metrics" / "DIS-VD.json"
    _, side = write_dis_results(out, {"num_images": 2}, [_row(LATIN1_NAME), _row("ok.png")])
    # The file's bytes, as `ls > names.txt` would hold them, not an escape of them.
    assert side.read_bytes().splitlines()[1:] == [b"caf\xe9.png,0.1", b"ok.png,0.1"]
    # The analyses match these names to the split's files: the same string comes back.
    assert _scored_stems(tmp_path / "run", "DIS-VD") == (side, {LATIN1_NAME, "ok.png"})


def test_figures_read_the_hce_of_such_a_name(tmp_path: Path) -> None:
    row = _row(LATIN1_NAME)
    row.row = lambda: {"name": LATIN1_NAME, "HCE": 7.0}
    write_dis_results(tmp_path / "run" / "metrics" / "DIS-VD.json", {"num_images": 1}, [row])
    assert _per_image_hce(tmp_path / "run", "DIS-VD") == {("DIS-VD", LATIN1_NAME): 7.0}


def test_premask_csv_keeps_the_name_bytes(tmp_path: Path) -> None:
    path = tmp_path / "premask.per_image.csv"
    scores = {"premask": [{"IoU": 0.5, "Smeasure": 0.5, "MAE": 0.1}]}
    _write_per_image_csv(path, [LATIN1_NAME], scores)
    assert path.read_bytes().splitlines()[1].startswith(b"caf\xe9.png,")


def _made(folder: Path, name: str) -> Path:
    path = folder / name
    try:
        path.write_bytes(b"pixels")
    except (OSError, UnicodeEncodeError):  # file systems that allow only UTF-8 names
        pytest.skip("this file system refuses names that are not UTF-8")
    return path


FINGERPRINTS = {
    "training data": lambda root, data: data_fingerprint(root, data),
    "training data (sizes, older states)": lambda root, data: sizes_fingerprint(root, data),
    "training data (paths, older states)": lambda root, data: paths_fingerprint(root, data),
    "ablation scoring data": lambda root, data: data_digest(root, {"part": data}),
    "benchmark GT record": lambda root, data: mask_record(data.image_paths),
}


@pytest.mark.parametrize("name", FINGERPRINTS)
def test_fingerprints_of_a_name_that_is_not_utf8(tmp_path: Path, name: str) -> None:
    # Each raised UnicodeEncodeError (train.py at set-up, evaluate.py benchmark mode after
    # scoring, pmgsam.ablate): a name differing in that byte alone must still differ.
    image = _made(tmp_path, LATIN1_NAME)
    mask = _made(tmp_path, "mask.png")
    other = _made(tmp_path, os.fsdecode(b"caf\xe8.png"))  # same size and bytes, other name

    def fingerprint(image_path: Path):
        data = SimpleNamespace(image_paths=[image_path], mask_paths=[mask], names=["x"])
        return FINGERPRINTS[name](str(tmp_path), data)

    assert fingerprint(image) != fingerprint(other)

"""Audit of pmgsam.ablation.maps (``ablate --evaluate`` guarding a variant's map folders) and of
the refusal's account of edited maps (pmgsam.utils.outputs): what the refusal says would be
replaced, that a folder the dataset reads is refused before the model loads, that the check
looks at every part, that options built without ``--overwrite`` mean without it, that scores
that stand never check the folders (a missing map included), and that a folder holding both a
file pmgsam did not write and an edited map names the edited map as changed."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Dict

import pytest
from map_cases import PRODUCER_A, replace_by_hand, run_into
from test_ablate_run_record import scored  # noqa: F401 (the trained variant)

from pmgsam import ablate
from pmgsam.ablation.maps import check_map_folders, overwrite_given
from pmgsam.utils.outputs import OutputError, check_output_dir


def _dataset(*stems: str, images: Path = Path("/data/images")) -> SimpleNamespace:
    """What check_map_folders reads of a dataset: its image names and the files it reads."""
    return SimpleNamespace(
        names=list(stems),
        image_paths=[images / f"{s}.jpg" for s in stems],
        mask_paths=[Path("/data/masks") / f"{s}.png" for s in stems],
    )


def _predicted(run: Path, part: str, *stems: str) -> Path:
    folder = run / "pred" / part
    run_into(folder, [f"{s}.png" for s in stems], PRODUCER_A)
    return folder


def test_options_built_without_overwrite_do_not_overwrite() -> None:
    assert overwrite_given(argparse.Namespace()) is False
    assert overwrite_given(argparse.Namespace(overwrite=True)) is True


def test_an_edited_map_in_a_later_part_is_refused_saying_it_would_be_replaced(tmp_path) -> None:
    run = tmp_path / "k1"
    _predicted(run, "DIS-TE1", "a", "b")
    folder = _predicted(run, "DIS-TE2", "c", "d")
    edited_bytes = replace_by_hand(folder / "d.png")
    datasets = {"DIS-TE1": _dataset("a", "b"), "DIS-TE2": _dataset("c", "d")}
    with pytest.raises(OutputError) as refused:
        check_map_folders(run, datasets, overwrite=False)
    message = str(refused.value)
    assert f"'{folder}' holds 1 map(s) changed since pmgsam wrote them (d.png)" in message
    # The edit is one of the maps the call writes: it would be lost, not merely sit beside.
    assert "1 of them would be replaced (d.png)" in message
    assert "--overwrite" in message
    check_map_folders(run, datasets, overwrite=True)
    assert (folder / "d.png").read_bytes() == edited_bytes  # checked only: nothing written


def test_a_map_folder_the_dataset_reads_is_refused_before_the_model_loads(tmp_path) -> None:
    # The maps would be written over the dataset's own files (an image folder of that name).
    run = tmp_path / "k1"
    folder = _predicted(run, "DIS-TE1", "a")
    with pytest.raises(OutputError, match="--output-dir"):
        check_map_folders(run, {"DIS-TE1": _dataset("a", images=folder)}, overwrite=False)


def test_a_foreign_file_beside_an_edited_map_names_the_map_as_changed(tmp_path) -> None:
    out = tmp_path / "maps"
    run_into(out, ["a.png", "b.png"], PRODUCER_A)
    replace_by_hand(out / "a.png")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputError) as refused:
        check_output_dir(out, ["a.png", "b.png"])
    message = str(refused.value)
    assert "1 file(s) this tool did not write (notes.txt)" in message
    assert "(it also holds 1 map(s) changed since pmgsam wrote them (a.png)" in message
    assert "cannot be read" not in message  # a.png is there and readable: changed bytes


@pytest.fixture
def trained(request, small_branches) -> Dict[str, object]:
    """test_ablate_run_record's ``scored``: k1 trained and scored with --no-hce, once."""
    return request.getfixturevalue("scored")


def test_scores_that_stand_check_no_folder_even_with_a_map_missing(trained, tmp_path) -> None:
    # Scores that stand are kept without their maps (a deleted one is not predicted again):
    # the call predicts nothing, so an edited map is not in its way.
    run = Path(shutil.copytree(trained["out"], tmp_path / "out")) / "k1"
    maps = sorted((run / "pred" / "DIS-TE1").glob("*.png"))
    edited_bytes = replace_by_hand(maps[0])
    maps[1].unlink()
    args = ["--grid", trained["grid"], "--output-dir", run.parent, "--only", "k1"]
    args += ["--device", "cpu", "--quiet", "--evaluate", "--no-hce", *trained["overrides"]]
    assert ablate.main([str(a) for a in args]) == 0
    assert maps[0].read_bytes() == edited_bytes and not maps[1].exists()

"""Audit tests (mutation survivors) of this round's bad-input messages: a broken link is not
called a loop, only pathlib's loop error becomes a user error, a category that is no object is
named, a file of one byte is not called empty, and a user's own train.py beside the package is
not taken for the source folder's script."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmgsam.data.errors import DataError
from pmgsam.data.io import load_mask
from pmgsam.evaluation.coco_gt import checked_coco_dict
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.modeling.checkpoint_files import CheckpointError, safe_torch_load
from pmgsam.utils import command_names
from pmgsam.utils.cli import exit_status, symlink_loop_error


def test_a_broken_link_is_called_broken_not_a_loop(tmp_path: Path) -> None:
    # stat() of a dangling link fails too (ENOENT): only ELOOP makes it a loop.
    link = tmp_path / "m.png"
    link.symlink_to(tmp_path / "gone.png")
    with pytest.raises(DataError) as err:
        load_mask(link)
    assert str(err.value) == (
        f"mask file '{link}' is a broken symbolic link (to '{tmp_path / 'gone.png'}')"
    )


def test_only_a_runtime_error_of_pathlib_is_read_as_a_loop() -> None:
    # Another exception carrying the same words is a bug of its own: it keeps its traceback.
    assert symlink_loop_error(ValueError("Symlink loop from '/x'")) is None
    assert isinstance(symlink_loop_error(RuntimeError("Symlink loop from '/x'")), OSError)

    def main(argv) -> int:
        raise ValueError("Symlink loop from '/x'")

    with pytest.raises(ValueError):
        exit_status(main, [])


@pytest.mark.parametrize("category", [7, None, ["id", 1]])
def test_a_category_that_is_no_object_is_named(category: object) -> None:
    # `"id" in 7` raised TypeError; `"id" in ["id", 1]` is True, and ["id"] a TypeError.
    gt = {
        "images": [{"id": 1, "file_name": "k.jpg", "height": 8, "width": 8}],
        "annotations": [],
        "categories": [{"id": 1}, category],
    }
    with pytest.raises(EvaluationInputError, match=r"^gt: categories\[1\] needs an integer 'id'"):
        checked_coco_dict(gt, "gt")


def test_a_file_of_one_byte_is_not_called_empty(tmp_path: Path) -> None:
    path = tmp_path / "state.pt"
    path.write_bytes(b"\x80")
    with pytest.raises(CheckpointError) as err:
        safe_torch_load(path, "training state")
    assert "empty" not in str(err.value) and str(path) in str(err.value)


def test_a_users_own_train_py_beside_the_package_is_not_the_script(tmp_path, monkeypatch):
    # A project with pmgsam copied in and a train.py of its own that uses it: messages must
    # not tell its user to run that script with pmgsam's options.
    (tmp_path / "train.py").write_text("from pmgsam import utils\n\nutils.run()\n")
    monkeypatch.setattr(command_names, "PACKAGE_PARENT", tmp_path)
    monkeypatch.setattr(command_names, "started_as_pmgsam_module", lambda: False)
    assert command_names.command_name("train") == "python -m pmgsam.train"

"""Named output files (``evaluate.py``'s scores file and its side file, which may lie in two
folders) are recorded each in its own folder's manifest: a re-run replaces both without
``--overwrite``, and a user's file of the same name in either folder is still refused."""

from __future__ import annotations

import pytest

from pmgsam.analysis.output_files import check_output_paths, record_output_paths
from pmgsam.utils.outputs import OutputError


def test_files_in_two_folders_are_recorded_in_their_own_folders(tmp_path) -> None:
    scores, side = tmp_path / "a" / "scores.csv", tmp_path / "b" / "scores.json"
    check_output_paths([scores, side])
    record_output_paths([scores, side], "evaluate.py")
    for path in (scores, side):
        path.write_text("written by pmgsam")
    check_output_paths([scores, side])  # a re-run: both are pmgsam's
    # A file of the user's with the side file's name in the scores folder is not pmgsam's.
    mine = tmp_path / "a" / "scores.json"
    mine.write_text("mine")
    with pytest.raises(
        OutputError, match=r"1 file\(s\) .*pmgsam did not write them \(.*a/scores.json\)"
    ):
        check_output_paths([scores, mine])
    assert mine.read_text() == "mine"
    check_output_paths([scores, mine], overwrite=True)

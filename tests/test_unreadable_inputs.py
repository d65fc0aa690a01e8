"""What a prediction run says and keeps when input files cannot be read (engine.unreadable):
the error record of a skipped file, the final error's count, list and first reason, which
stale maps go, and inference's handling of a map an earlier run wrote for an image that is now
unreadable (stop mode, and runs where no image left to predict can be read)."""

from __future__ import annotations

import json
import logging

import pytest
from cli_cases import cli, one_error_line
from test_cli_errors_inference import cached, good_images, saved  # noqa: F401 (fixtures)

from pmgsam.data.io import DataError
from pmgsam.engine import inference
from pmgsam.engine.unreadable import FailedInputs, record_failures, split_failures_error
from pmgsam.utils.outputs import MANIFEST, MANIFEST_FORMAT, write_manifest

pytestmark = pytest.mark.usefixtures("one_thread")


def test_keep_going_names_each_file_in_an_error_record_as_it_fails(caplog):
    failures = FailedInputs(True, "split DIS-TE1")
    with caplog.at_level(logging.ERROR, logger="pmgsam.engine.unreadable"):
        failures("b", "cannot read image file 'b.jpg': truncated")
    assert [r.getMessage() for r in caplog.records] == [
        "skipped b (split DIS-TE1): cannot read image file 'b.jpg': truncated; "
        "it gets no map (--keep-going)"
    ]


def test_without_keep_going_the_first_file_stops_the_run_and_is_still_recorded():
    failures = FailedInputs(False, "split DIS-TE1")
    with pytest.raises(DataError, match=r"^cannot read 'b.jpg': the run stopped there"):
        failures("b", "cannot read 'b.jpg'")
    assert failures.failed == {"b": "cannot read 'b.jpg'"}  # its stale map goes too


def test_the_final_error_counts_lists_sorted_and_quotes_the_first_failure():
    failures = FailedInputs(True, "--input 'in'")
    failures("zeta", "zeta.jpg: truncated")  # failed first, listed last
    failures("alpha", "alpha.png: not an image")
    message = str(failures.error())
    assert message.startswith(
        "2 input file(s) of --input 'in' could not be read and got no map: alpha, zeta "
        "(first: zeta.jpg: truncated); "
    )
    # The command names them by file name instead.
    assert ": alpha.png, zeta.jpg (first: " in str(failures.error(["alpha.png", "zeta.jpg"]))


def test_the_error_of_several_splits_names_files_by_split_and_the_splits():
    err = split_failures_error(
        {"DIS-TE1": {"x": "x.jpg: truncated"}, "DIS-TE3": {"y": "y.jpg: empty", "w": "w: bad"}}
    )
    assert str(err).startswith(
        "3 input file(s) could not be read and got no map: DIS-TE1/x, DIS-TE3/y, DIS-TE3/w "
        "(first: x.jpg: truncated); the splits holding them (DIS-TE1, DIS-TE3) were not scored"
    )
    assert err.failed == {"DIS-TE1/x": "x.jpg: truncated", "DIS-TE3/y": "y.jpg: empty",
                          "DIS-TE3/w": "w: bad"}  # fmt: skip


def test_only_a_map_the_manifest_vouches_for_is_removed(tmp_path):
    write_manifest(
        tmp_path,
        {
            "format": MANIFEST_FORMAT,
            "files": ["b.png", "c.png"],
            "sources": {"b.png": 1, "c.png": 2},
        },
    )
    for name in ("a.png", "b.png", "c.png"):
        (tmp_path / name).write_bytes(name.encode())
    record_failures(tmp_path, {"a": "a.jpg: truncated", "b": "b.jpg: truncated"})
    # a.png is a user's file of that name (not ours): kept; b.png was our map: removed.
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["a.png", "c.png"]
    record = json.loads((tmp_path / MANIFEST).read_text())
    assert record["files"] == ["c.png"] and record["sources"] == {"c.png": 2}
    assert record["failed"] == {"a": "a.jpg: truncated", "b": "b.jpg: truncated"}


@pytest.fixture
def run_then_corrupt(cached, tmp_path, capsys):  # noqa: F811 (the fixture imported above)
    """A finished inference run into ``out``, then its input ok1.png truncated to nothing."""
    images = good_images(tmp_path / "in")
    out = tmp_path / "out"
    argv = ["--checkpoint", cached, "--input", images, "--out", out, "--num-workers", 0]
    assert cli(inference.main, argv, capsys)[0] == 0
    (images / "ok1.png").write_bytes(b"")
    return argv, out


def _maps_and_manifest(out):
    record = json.loads((out / MANIFEST).read_text())
    return sorted(p.name for p in out.glob("*.png")), record["files"], sorted(record["failed"])


def test_a_stopped_run_removes_the_earlier_map_of_an_unreadable_image(run_then_corrupt, capsys):
    argv, out = run_then_corrupt
    code, err = cli(inference.main, argv, capsys)
    assert code == 2 and "1 input file(s) in" in one_error_line(err)
    assert "nothing was predicted" in one_error_line(err)
    # ok1.png is no map of the file as it now is: scoring it would hide the failure.
    assert _maps_and_manifest(out) == (["ok0.png"], ["ok0.png"], ["ok1"])


@pytest.mark.parametrize("flags", [["--skip-existing", "--keep-going"], ["--keep-going"]])
def test_keep_going_with_no_readable_image_left_records_it_as_failed(
    run_then_corrupt, capsys, tmp_path, flags
):
    argv, out = run_then_corrupt
    if flags == ["--keep-going"]:  # the unreadable image alone, as a single --input file
        argv[3] = tmp_path / "in" / "ok1.png"
    code, err = cli(inference.main, [*argv, *flags], capsys)
    line = one_error_line(err)
    # Before: 'none of the 1 images ... can be read', and the earlier ok1.png map stayed.
    assert code == 2 and "1 input file(s) of --input" in line and ": ok1.png (first: " in line
    assert _maps_and_manifest(out) == (["ok0.png"], ["ok0.png"], ["ok1"])


def test_a_users_file_stays_after_the_run_recorded_its_name(tmp_path, caplog):
    # --overwrite into a folder holding the user's a.png: the run records a.png among the maps
    # it will write before it finds a.jpg unreadable. What vouches for a map is the manifest
    # as it was before the run, so the user's file is kept, with a warning.
    from pmgsam.utils.outputs import prepare_output_dir

    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").write_bytes(b"a user's file")
    failures = FailedInputs(True, "--input 'in'", [out, None])
    prepare_output_dir(out, ["a.png", "b.png"], overwrite=True)
    failures("a", "a.jpg: truncated")
    with caplog.at_level(logging.WARNING, logger="pmgsam.engine.unreadable"):
        failures.record([out, None])
    assert f"kept '{out / 'a.png'}'" in caplog.records[-1].getMessage()
    assert (out / "a.png").read_bytes() == b"a user's file"
    record = json.loads((out / MANIFEST).read_text())
    assert record["files"] == ["b.png"] and record["failed"] == {"a": "a.jpg: truncated"}

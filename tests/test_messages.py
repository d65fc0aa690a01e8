"""The message helpers of pmgsam.utils.messages: a shortened list's count, an error's one line
(empty, multi-line, and a DataLoader worker's traceback), and the named-files count that no
file's bit may overwrite."""

from __future__ import annotations

import zlib

import pytest

from pmgsam.utils.messages import FilesNamedOnce, one_line, preview
from pmgsam.utils.outputs import OutputError


@pytest.mark.parametrize(
    "items, expected",
    [
        (["a", "b"], "a, b"),  # exactly the limit: nothing left out, no "and 0 more"
        (["a", "b", "c", "d", "e"], "a, b ... and 3 more"),
        ([], ""),
    ],
)
def test_preview_shows_the_first_items_and_counts_the_rest(items, expected):
    assert preview(items, 2) == expected


def test_one_line_of_an_empty_or_multi_line_message():
    assert one_line(OutputError("")) == "OutputError"  # never 'prog: error: ' and nothing
    assert one_line(OutputError("  \n ")) == "OutputError"
    assert one_line(ValueError("first part\n   second part\n")) == "first part second part"


WORKER = (
    "Caught DataError in DataLoader worker process 0.\n"
    "Original Traceback (most recent call last):\n"
)


@pytest.mark.parametrize(
    "last, cause",
    [
        (
            "pmgsam.data.io.DataError: cannot read 'a.png': truncated",
            "cannot read 'a.png': truncated",
        ),
        # Not '<type>: <message>': the line is the cause as it stands.
        ("cannot read 'a.png': truncated", "cannot read 'a.png': truncated"),
        ("pmgsam.data.io.DataError", "pmgsam.data.io.DataError"),
    ],
)
def test_one_line_of_a_worker_traceback_is_its_last_line_without_the_type(last, cause):
    text = f'{WORKER}  File "x.py", line 3, in f\n    raise DataError(msg)\n{last}\n'
    assert one_line(RuntimeError(text)) == f"{cause} (raised in a data-loading worker)"


def test_a_file_whose_bit_is_among_the_first_does_not_change_the_count():
    # crc32 % BITS of this name is 6: a bit the 4-byte count before the bits could overlap.
    early = "mask28196.png"
    assert zlib.crc32(early.encode()) % FilesNamedOnce.BITS < 32
    named = FilesNamedOnce()
    assert named.first("other.png") == 0
    assert named.first(early) == 1
    assert named.first("third.png") == 2
    assert named.first(early) is None and named.first("other.png") is None
    assert named.first("fourth.png") == 3

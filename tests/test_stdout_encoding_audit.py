"""Mutation audit of utils.cli.printable_stdout: a strict stdout is switched to escapes, a UTF-8
one too (it cannot encode the surrogates of a path that is not UTF-8:
test_stdout_surrogates.py); a stream whose error handler the user chose
(PYTHONIOENCODING=cp1252:replace) keeps it, and a stream that cannot be reconfigured (or none,
under pythonw) is left alone rather than raising.

Expectations: Python's own stream attributes (``errors``) after the call.
"""

from __future__ import annotations

import io
import sys

import pytest

from pmgsam.utils.cli import printable_stdout


@pytest.mark.parametrize(
    "encoding, errors, want",
    [
        ("cp1252", "strict", "backslashreplace"),
        ("cp1252", "replace", "replace"),  # the user's choice
        ("UTF-8", "strict", "backslashreplace"),
        ("utf-8", "surrogateescape", "surrogateescape"),  # Python's own, in UTF-8 mode
        ("ascii", "strict", "backslashreplace"),
    ],
)
def test_only_a_strict_stdout_is_switched(monkeypatch, encoding, errors, want):
    stream = io.TextIOWrapper(io.BytesIO(), encoding=encoding, errors=errors)
    monkeypatch.setattr(sys, "stdout", stream)
    printable_stdout()
    assert stream.errors == want


class _Plain:
    """A stdout replacement with an encoding but no reconfigure()."""

    encoding, errors = "cp1252", "strict"

    def write(self, text: str) -> int:
        return len(text)


@pytest.mark.parametrize("stream", [None, _Plain(), io.StringIO()])
def test_a_stdout_that_cannot_be_reconfigured_is_left_alone(monkeypatch, stream) -> None:
    monkeypatch.setattr(sys, "stdout", stream)
    printable_stdout()
    assert sys.stdout is stream

"""Audit test (mutation survivor): figures' note naming --labels is for a long method name the
user did not choose; a long label given with --labels is headed as given, without the note."""

from __future__ import annotations

import pytest
from test_figure_labels import LONG, _drawn_headers

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_long_label_given_gets_no_note(tmp_path, monkeypatch, capsys) -> None:
    drawn = _drawn_headers(tmp_path, monkeypatch, width=3.5, labels=["Ours", LONG])
    assert drawn[0][3:] == ["Ours", LONG]
    assert "--labels" not in capsys.readouterr().out

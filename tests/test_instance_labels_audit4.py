"""UnreadableLabelsError.advised puts the raising command's advice after the original message:
advised again (by a command that wraps another), the advice is replaced, not added twice."""

from __future__ import annotations

from pmgsam.data.instance_labels import UnreadableLabelsError


def test_advice_follows_the_message_once() -> None:
    err = UnreadableLabelsError("2 image file(s) cannot be read; fix or remove them")
    first = err.advised("or pass --keep-going")
    assert str(first) == "2 image file(s) cannot be read; fix or remove them or pass --keep-going"
    assert str(first.advised("or use --x")) == (
        "2 image file(s) cannot be read; fix or remove them or use --x"
    )

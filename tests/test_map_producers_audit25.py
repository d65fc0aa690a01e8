"""How a refusal names the producer of a folder's maps (:func:`describe_producer`): a
baseline has no frozen branches, so none are named for it, while a PMG-SAM model without any
says so."""

from __future__ import annotations

from pmgsam.utils.map_producers import describe_producer

BASELINE = {
    "weights": "sam.pth",
    "weights_sha256": "0123456789abcdef" * 4,
    "frozen_sha256": None,
    "image_size": 1024,
    "amp": "none",
    "maps": "final",
    "settings": {"reduce": "max"},
}


def test_a_baseline_is_named_without_frozen_branches() -> None:
    assert describe_producer(BASELINE) == (
        "'sam.pth' (SHA-256 0123456789ab; image size 1024, amp none, final maps; "
        '{"reduce": "max"})'
    )


def test_a_model_without_frozen_branches_says_none() -> None:
    text = describe_producer({**BASELINE, "frozen_sha256": {}, "settings": None})
    assert (
        text
        == "'sam.pth' (SHA-256 0123456789ab, frozen none; image size 1024, amp none, final maps)"
    )

"""Output-folder rules of pmgsam.utils.outputs that a resumed run (--skip-existing) relies on and
no other test pins: a run whose producer is unknown (the weights could not be read again to
record them) marks a folder of another producer's maps mixed, so a later run of that producer
never keeps the unknown run's maps as its own; and a map the user deleted is predicted again."""

from __future__ import annotations

import pytest
from map_cases import PRODUCER_A, run_into

from pmgsam.utils.map_producers import PRODUCER_FIELDS, producer_changes
from pmgsam.utils.outputs import (
    OutputError,
    finished_maps,
    read_manifest,
)


def test_an_unknown_producer_differs_in_everything():
    everything = list(PRODUCER_FIELDS.values())
    assert producer_changes(None, PRODUCER_A) == everything
    assert producer_changes(PRODUCER_A, None) == everything
    assert producer_changes(PRODUCER_A, dict(PRODUCER_A)) == []


def test_maps_of_an_unknown_producer_are_never_kept_as_a_known_ones(tmp_path, recwarn):
    out = tmp_path / "pred"
    run_into(out, ["a.png", "b.png"], PRODUCER_A, "A")
    # A run that could not record its weights replaces a.png only: b.png stays A's.
    run_into(out, ["a.png"], None, "unknown")
    assert read_manifest(out)["mixed"] is True
    # A's run over another image must not make the folder vouch for the unknown run's a.png.
    run_into(out, ["c.png"], PRODUCER_A, "A")
    assert read_manifest(out)["mixed"] is True
    with pytest.raises(OutputError, match="may also hold maps of another model"):
        finished_maps(out, PRODUCER_A)


def test_a_map_the_user_deleted_is_not_kept(tmp_path):
    out = tmp_path / "pred"
    run_into(out, ["a.png", "b.png"], PRODUCER_A, "A")
    (out / "b.png").unlink()
    assert finished_maps(out, PRODUCER_A) == {"a.png"}
    (out / "a.png").unlink()
    assert finished_maps(out, PRODUCER_A) == set()

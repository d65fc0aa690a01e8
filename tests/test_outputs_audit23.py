"""Output-folder rules of pmgsam.utils.outputs that a resumed run (--skip-existing) relies on and
no other test pins: a run whose producer is unknown (the weights could not be read again to
record them) marks a folder of another producer's maps mixed, so a later run of that producer
never keeps the unknown run's maps as its own; and a map the user deleted is predicted again."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pytest

from pmgsam.utils.map_producers import PRODUCER_FIELDS, producer_changes
from pmgsam.utils.outputs import (
    OutputError,
    finished_maps,
    prepare_output_dir,
    read_manifest,
    settle_output_dir,
)

PRODUCER_A = {"weights": "/w/a.safetensors", "weights_sha256": "a" * 64,
              "frozen_sha256": {"u2net": "f" * 64}, "image_size": 64, "amp": "none",
              "maps": "final"}  # fmt: skip


def run_into(out: Path, names, producer: Optional[dict], content: str) -> None:
    """What a run does to ``out``: the manifest first, then the maps, then settling."""
    prepare_output_dir(out, names, tool="inference", producer=producer)
    for name in names:
        (out / name).write_text(f"{content} {name}")
    settle_output_dir(out, names)


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

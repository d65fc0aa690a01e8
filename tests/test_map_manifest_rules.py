"""The map folders' manifest rules, directly (tiny files, no model): a folder stays ``mixed``
while any map of another producer is left, maps without a producer record are refused, and an
input image is told apart by its resolved path, size and modification time. The commands that
follow these rules are tested in test_skip_existing.py."""

from __future__ import annotations

import json
import os
import warnings

import pytest
from map_cases import PRODUCER_A, run_into

from pmgsam.utils.map_producers import file_identity
from pmgsam.utils.outputs import (
    MANIFEST,
    OutputError,
    finished_maps,
    prepare_output_dir,
    read_manifest,
    settle_output_dir,
)

PRODUCER_B = {**PRODUCER_A, "weights": "/w/b.safetensors", "weights_sha256": "b" * 64}


def test_a_folder_stays_mixed_while_any_map_of_another_producer_is_left(tmp_path) -> None:
    out = tmp_path / "pred"
    run_into(out, ["a.png", "b.png"], PRODUCER_A)
    assert read_manifest(out)["mixed"] is False
    run_into(out, ["a.png"], PRODUCER_B, warns=True)  # finished, but b.png is still A's
    assert read_manifest(out)["mixed"] is True
    run_into(out, ["a.png"], PRODUCER_B, warns=True)  # B again: b.png is still A's
    assert read_manifest(out)["mixed"] is True
    with pytest.raises(OutputError) as err:
        finished_maps(out, PRODUCER_B, "--output-dir")
    assert str(err.value).startswith(f"--output-dir '{out}' may also hold maps of another model")
    run_into(out, ["a.png", "b.png"], PRODUCER_B)  # every map replaced
    assert read_manifest(out)["mixed"] is False
    assert finished_maps(out, PRODUCER_B) == {"a.png", "b.png"}
    record = read_manifest(out)
    del record["mixed"]  # a manifest that does not say: nothing vouches for the maps
    (out / MANIFEST).write_text(json.dumps(record))
    with pytest.raises(OutputError, match="may also hold maps of another model"):
        finished_maps(out, PRODUCER_B)


def test_maps_without_a_producer_record_are_refused_naming_the_option(tmp_path) -> None:
    out = tmp_path / "pred"
    run_into(out, ["a.png", "b.png"], PRODUCER_A)
    prepare_output_dir(out, ["a.png", "b.png"], tool="predict_split", producer=None)
    with pytest.raises(OutputError) as err:
        finished_maps(out, PRODUCER_A, "--output-dir")
    assert str(err.value).startswith(
        f"--output-dir '{out}' holds 2 map(s) written by predict_split without a record of the "
        "model that made them"
    )


def test_file_identity_is_the_resolved_path_size_and_modification_time(tmp_path) -> None:
    # Another image of that name (another path), or the image edited since (its size or its
    # modification time, e.g. copied back with cp -p), is another source.
    image = tmp_path / "x.png"
    image.write_bytes(b"1234")
    os.utime(image, ns=(5_000_000_000, 7_000_000_123))
    link = tmp_path / "link.png"
    link.symlink_to(image)
    assert file_identity(link) == [str(image.resolve()), 4, 7_000_000_123]
    gone = tmp_path / "gone.png"
    assert file_identity(gone) == [str(gone.resolve()), None, None]


def test_maps_the_user_deleted_are_not_reported_as_kept(tmp_path) -> None:
    # The manifest still lists b.png after the user deleted it: no map of the earlier run is
    # left beside the new ones, so a run of a.png warns of none, and then holds B's maps only.
    out = tmp_path / "pred"
    run_into(out, ["a.png", "b.png"], PRODUCER_A)
    (out / "b.png").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_into(out, ["a.png"], PRODUCER_B)
    assert finished_maps(out, PRODUCER_B) == {"a.png"}


def test_a_run_over_some_images_keeps_the_sources_of_the_others(tmp_path) -> None:
    # A resumed run over a subset must not forget which image the other maps are of, or the
    # next run over all images predicts them again.
    out, images = tmp_path / "pred", {}
    for stem in ("a", "b"):
        (tmp_path / f"{stem}.jpg").write_bytes(stem.encode())
        images[f"{stem}.png"] = file_identity(tmp_path / f"{stem}.jpg")
    prepare_output_dir(out, ["a.png", "b.png"], producer=PRODUCER_A, sources=images)
    for name in images:
        (out / name).write_bytes(b"map")
    settle_output_dir(out, images)
    with pytest.warns(UserWarning, match="keeps 1 map"):  # b.png, not predicted again
        prepare_output_dir(out, ["a.png"], producer=PRODUCER_A, sources={"a.png": images["a.png"]})
    settle_output_dir(out, ["a.png"])
    assert finished_maps(out, PRODUCER_A, sources=images) == {"a.png", "b.png"}

"""``--skip-existing`` keeps a map only while it is the file pmgsam wrote: the manifest records
each map's size and modification time once the run has written it, and a map replaced since (a
figure's "fixed" map, another method's map copied in under its name) is, with ``--overwrite``
(without it the folder is refused: tests/test_edited_maps.py), predicted again with one warning
naming it; untouched maps are kept, and a manifest of an older pmgsam (no identities) resumes as
before. Inference (a tiny model) and a baseline (stand-ins, no SAM weights)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import List

import pytest
from map_cases import PRODUCER_A as PRODUCER
from map_cases import infer as run_inference
from map_cases import replace_by_hand, write_images
from resume_cases import count_reads
from test_baseline_runner import BoxStandIn, Stand, rect

from pmgsam.baselines.runner import run_baseline
from pmgsam.engine import inference_inputs
from pmgsam.utils.outputs import (
    IDENTITIES,
    MANIFEST,
    finished_maps,
    prepare_output_dir,
    read_manifest,
    settle_output_dir,
)

CHANGED = "changed since pmgsam wrote them"
pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]


def changed_warnings(caught: List[warnings.WarningMessage]) -> List[str]:
    return [str(w.message) for w in caught if CHANGED in str(w.message)]


@pytest.fixture
def images(tmp_path) -> Path:
    return write_images(tmp_path / "images", 1, (24, 40), (5, -3))


def infer(weights: Path, images: Path, out: Path, *extra) -> List[str]:
    """Run inference (exit 0 asserted); the warnings about changed maps it gave."""
    code, said = run_inference(weights, images, out, *extra)
    assert code == 0
    return [message for message in said if CHANGED in message]


def test_inference_predicts_a_hand_replaced_map_again_and_keeps_the_others(
    weights, images, tmp_path, monkeypatch
) -> None:
    reads = count_reads(monkeypatch, inference_inputs, ["load_image", "read_size"])
    out = tmp_path / "pred"
    assert infer(weights["one"], images, out) == []
    straight = {p.name: p.read_bytes() for p in out.glob("*.png")}
    reads.clear()
    assert infer(weights["one"], images, out, "--skip-existing") == []  # untouched: all kept
    assert not reads
    replace_by_hand(out / "b.png")
    said = infer(weights["one"], images, out, "--skip-existing", "--overwrite")
    assert set(reads) == {"b"}  # a and c are kept unopened
    assert len(said) == 1 and "1 map(s)" in said[0] and "(b.png)" in said[0]
    assert said[0].startswith(f"--out '{out}'")
    assert {p.name: p.read_bytes() for p in out.glob("*.png")} == straight
    # The map written again is recorded: the next resume keeps every map, silently.
    reads.clear()
    assert infer(weights["one"], images, out, "--skip-existing") == []
    assert not reads


def test_a_manifest_without_identities_resumes_as_before_and_then_records_them(
    weights, images, tmp_path, monkeypatch
) -> None:
    reads = count_reads(monkeypatch, inference_inputs, ["load_image", "read_size"])
    out = tmp_path / "pred"
    infer(weights["one"], images, out)
    record = read_manifest(out)
    del record[IDENTITIES]  # as a pmgsam before them wrote it
    (out / MANIFEST).write_text(json.dumps(record, indent=0) + "\n")
    edited = replace_by_hand(out / "b.png")
    reads.clear()
    # Nothing vouches against the edit: kept, as every older pmgsam kept it.
    assert infer(weights["one"], images, out, "--skip-existing") == []
    assert not reads and (out / "b.png").read_bytes() == edited
    identities = read_manifest(out)[IDENTITIES]
    assert sorted(identities) == ["a.png", "b.png", "c.png"]
    stat = (out / "b.png").stat()
    assert identities["b.png"] == [stat.st_size, stat.st_mtime_ns]


def test_a_baseline_predicts_a_hand_replaced_map_again(tmp_path) -> None:
    gts = {"a": rect(2, 5, 3, 9), "b": rect(1, 3, 1, 4), "c": rect(6, 10, 1, 4)}
    producer = {"weights": "w", "weights_sha256": "0" * 64, "frozen_sha256": None,
                "image_size": 64, "amp": "none", "maps": "final", "settings": {"x": 1}}  # fmt: skip
    data = Stand(tmp_path / "data", gts)
    pred = tmp_path / "run" / "pred" / "S"

    def run(baseline: BoxStandIn, **extra) -> dict:
        summary = run_baseline(baseline, data, tmp_path / "run", "S", progress=False,
                               producer=producer, timing=False, **extra)  # fmt: skip
        return {k: v for k, v in summary.items() if k != "timing_input"}

    straight = run(BoxStandIn())
    maps = {p.name: p.read_bytes() for p in pred.glob("*.png")}
    replace_by_hand(pred / "c.png")
    baseline = BoxStandIn()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed = run(baseline, skip_existing=True, overwrite=True)
    said = changed_warnings(caught)
    assert len(said) == 1 and "1 map(s)" in said[0] and "(c.png)" in said[0]
    assert said[0].startswith(f"--output-dir '{pred}'")
    assert len(baseline.calls) == 1  # c only: a and b are kept
    assert resumed == straight
    assert {p.name: p.read_bytes() for p in pred.glob("*.png")} == maps


def test_a_stopped_run_leaves_a_replaced_map_flagged_and_its_own_maps_unflagged(
    tmp_path,
) -> None:
    # A resumed run writes b again (replaced by hand) and c (to be rewritten, as a run without
    # --skip-existing would), keeps a, and stops before recording anything.
    out, names = tmp_path / "pred", ["a.png", "b.png", "c.png"]
    prepare_output_dir(out, names, producer=PRODUCER)
    for name in names:
        (out / name).write_bytes(b"map " + name.encode())
    settle_output_dir(out, names)
    replace_by_hand(out / "b.png")
    with pytest.warns(UserWarning, match=r"1 map\(s\) changed since pmgsam wrote them \(b\.png\)"):
        assert finished_maps(out, PRODUCER, warn=True) == {"a.png", "c.png"}
    # --overwrite: the replaced b is refused otherwise (tests/test_edited_maps.py).
    prepare_output_dir(out, names, producer=PRODUCER, kept=["a.png", "c.png"], overwrite=True)
    assert finished_maps(out, PRODUCER) == {"a.png", "c.png"}  # stopped before b was written
    prepare_output_dir(out, names, producer=PRODUCER, kept=["a.png"], overwrite=True)
    (out / "c.png").write_bytes(b"map c.png, written again")  # stopped before settling
    # c is this tool's map, unrecorded (kept as an older pmgsam's); b is still not the one
    # written; a's record stays.
    with pytest.warns(UserWarning, match=r"changed since pmgsam wrote them \(b\.png\)"):
        assert finished_maps(out, PRODUCER, warn=True) == {"a.png", "c.png"}
    assert sorted(read_manifest(out)[IDENTITIES]) == ["a.png", "b.png"]

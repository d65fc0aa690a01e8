"""Which maps :func:`settle_output_dir` hashes: a map the run wrote always, and a map a resumed
run kept only when its file is no longer of the recorded identity (or has no recorded digest).
Re-hashing a kept map of its recorded identity costs a read of every kept map and could only
vouch for an edit made within one clock tick since. Expected digests come from :mod:`hashlib`."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path

import pytest
from map_cases import PRODUCER_A, infer, run_into, touch_later, write_images
from test_baseline_resumed_instances import PRODUCER as BASELINE_PRODUCER
from test_baseline_runner import BoxStandIn, Damaged, rect
from test_benchmark_skip_existing import config  # noqa: F401 (a fixture)

from pmgsam.baselines.resume import RECORDS
from pmgsam.baselines.runner import run_baseline
from pmgsam.engine import inference
from pmgsam.utils import outputs
from pmgsam.utils.outputs import (
    DIGESTS,
    IDENTITIES,
    changed_maps,
    prepare_output_dir,
    read_manifest,
    settle_output_dir,
    write_manifest,
)

NAMES = ["a.png", "b.png"]


@pytest.fixture
def hashed(monkeypatch) -> Counter:
    """The file names :func:`settle_output_dir` (and the rest of outputs) hash, counted."""
    real, counts = outputs.map_digest, Counter()

    def counted(path):
        counts[Path(path).name] += 1
        return real(path)

    monkeypatch.setattr(outputs, "map_digest", counted)
    return counts


def resumed(out: Path, kept: list) -> None:
    """What a resumed run does before settling: records the run, keeping ``kept``, and writes
    the other maps again (same sizes, other bytes)."""
    prepare_output_dir(out, NAMES, tool="inference", producer=PRODUCER_A, kept=kept)
    for name in set(NAMES) - set(kept):
        (out / name).write_text(f"b {name}")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_kept_map_of_its_recorded_identity_is_not_read_again(tmp_path, hashed) -> None:
    out = tmp_path / "pred"
    run_into(out, NAMES, PRODUCER_A)
    resumed(out, ["a.png"])
    hashed.clear()
    settle_output_dir(out, NAMES, kept=["a.png"])
    assert hashed == Counter({"b.png": 1})  # the written map only
    assert read_manifest(out)[DIGESTS] == {"a.png": sha(b"a a.png"), "b.png": sha(b"b b.png")}


def test_a_kept_map_edited_within_one_clock_tick_keeps_the_tools_digest(tmp_path) -> None:
    # The edit keeps size and time (a coarse clock): re-hashing would record the edited bytes
    # as the tool's, so that touching the map later would let it pass as the tool's own.
    out = tmp_path / "pred"
    run_into(out, NAMES, PRODUCER_A)
    resumed(out, ["a.png"])
    stat = (out / "a.png").stat()
    (out / "a.png").write_text("X a.png")
    os.utime(out / "a.png", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    settle_output_dir(out, NAMES, kept=["a.png"])
    assert read_manifest(out)[DIGESTS]["a.png"] == sha(b"a a.png")
    touch_later(out / "a.png")
    assert changed_maps(out) == ["a.png"]


def test_a_kept_map_unreadable_now_keeps_its_digest(tmp_path, monkeypatch) -> None:
    # Unreadable when settled (a permission or I/O error; patched, as root reads any mode):
    # hashing it would drop its digest, and then a touch would make it the user's.
    out = tmp_path / "pred"
    run_into(out, NAMES, PRODUCER_A)
    resumed(out, ["a.png"])
    real = outputs.map_digest
    monkeypatch.setattr(
        outputs, "map_digest", lambda path: None if Path(path).name == "a.png" else real(path)
    )
    settle_output_dir(out, NAMES, kept=["a.png"])
    assert read_manifest(out)[DIGESTS]["a.png"] == sha(b"a a.png")


def test_a_kept_map_whose_time_moved_is_hashed_and_recorded_anew(tmp_path, hashed) -> None:
    out = tmp_path / "pred"
    run_into(out, NAMES, PRODUCER_A)
    resumed(out, ["a.png"])
    touch_later(out / "a.png")
    hashed.clear()
    settle_output_dir(out, NAMES, kept=["a.png"])
    assert hashed == Counter({"a.png": 1, "b.png": 1})
    stat = (out / "a.png").stat()
    record = read_manifest(out)
    assert record[IDENTITIES]["a.png"] == [stat.st_size, stat.st_mtime_ns]
    assert record[DIGESTS]["a.png"] == sha(b"a a.png")


def test_a_kept_map_without_a_recorded_digest_is_hashed(tmp_path, hashed) -> None:
    out = tmp_path / "pred"
    run_into(out, NAMES, PRODUCER_A)
    record = read_manifest(out)
    del record[DIGESTS]  # as a pmgsam before digests wrote it
    write_manifest(out, record)
    resumed(out, ["a.png"])
    hashed.clear()
    settle_output_dir(out, NAMES, kept=["a.png"])
    assert hashed == Counter({"a.png": 1, "b.png": 1})
    assert read_manifest(out)[DIGESTS]["a.png"] == sha(b"a a.png")


@pytest.mark.parametrize("kept", [[], ["a.png"]])
def test_a_written_map_of_the_recorded_identity_is_hashed(tmp_path, kept) -> None:
    # The run rewrote b.png with other bytes of the same size within one clock tick: its
    # identity is the recorded one, but its recorded digest must be of the new bytes. (No
    # prepare_output_dir, which drops a rewritten map's record first: settling alone must not
    # lean on that.)
    out = tmp_path / "pred"
    run_into(out, NAMES, PRODUCER_A)
    before = (out / "b.png").stat()
    (out / "b.png").write_text("b b.png")
    os.utime(out / "b.png", ns=(before.st_atime_ns, before.st_mtime_ns))
    settle_output_dir(out, NAMES, kept=kept)
    record = read_manifest(out)
    assert record[IDENTITIES]["b.png"] == [before.st_size, before.st_mtime_ns]
    assert record[DIGESTS]["b.png"] == sha(b"b b.png")


@pytest.mark.usefixtures("one_thread")
def test_a_resumed_inference_run_hashes_only_the_maps_it_wrote(weights, tmp_path, hashed):
    images = write_images(tmp_path / "images", 0, (20, 30), (4, -2))
    out, premask = tmp_path / "pred", tmp_path / "premask"
    both = ["--premask-out", premask]
    assert infer(weights["one"], images, out, *both)[0] == 0
    want = {f: read_manifest(f)[DIGESTS] for f in (out, premask)}
    (out / "c.png").unlink()  # as a run stopped before writing it
    hashed.clear()
    assert infer(weights["one"], images, out, *both, "--skip-existing")[0] == 0
    # c.png in each folder (predicted again); a.png and b.png were kept, unread.
    assert hashed == Counter({"c.png": 2})
    for folder in (out, premask):
        digests = read_manifest(folder)[DIGESTS]
        assert digests == {n: sha((folder / n).read_bytes()) for n in ("a.png", "b.png", "c.png")}
        assert {n: digests[n] for n in ("a.png", "b.png")} == {
            n: want[folder][n] for n in ("a.png", "b.png")
        }


@pytest.mark.usefixtures("one_thread")
def test_a_resumed_predict_split_hashes_only_the_maps_it_wrote(
    weights,
    config,  # noqa: F811 (the fixture imported above)
    tmp_path,
    hashed,
) -> None:
    out, pre = tmp_path / "pred", tmp_path / "premask"
    kwargs = {"device": "cpu", "premask_dir": pre, "progress": False}
    inference.predict_split(config, weights["one"], "DIS-TE1", out, **kwargs)
    names = sorted(p.name for p in out.glob("*.png"))
    (pre / names[0]).unlink()  # predicted again into both folders; the others are kept
    hashed.clear()
    inference.predict_split(config, weights["one"], "DIS-TE1", out, skip_existing=True, **kwargs)
    assert len(names) > 1 and hashed == Counter({names[0]: 2})
    for folder in (out, pre):
        assert read_manifest(folder)[DIGESTS] == {n: sha((folder / n).read_bytes()) for n in names}


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_a_resumed_baseline_run_hashes_only_what_it_wrote(tmp_path, hashed) -> None:
    gts = {"a": rect(2, 5, 3, 9), "b": rect(1, 3, 1, 4), "c": rect(6, 10, 1, 4)}
    data = Damaged(tmp_path / "data", gts, set())
    kwargs = dict(progress=False, producer=BASELINE_PRODUCER, timing=False)
    pred = tmp_path / "run" / "pred" / "S"
    run_baseline(BoxStandIn(), data, tmp_path / "run", "S", limit=1, **kwargs)  # a only
    hashed.clear()
    run_baseline(BoxStandIn(), data, tmp_path / "run", "S", skip_existing=True, **kwargs)
    # a.png kept unread; the records file is rewritten by every run, so hashed like b and c.
    assert hashed == Counter({"b.png": 1, "c.png": 1, RECORDS: 1})
    names = ["a.png", "b.png", "c.png", RECORDS]
    assert read_manifest(pred)[DIGESTS] == {n: sha((pred / n).read_bytes()) for n in names}

"""Where an epoch's time goes: how long training waits for its data loader (metrics.jsonl, the
epoch line, and a warning, once per run, naming the setting to change when the wait is a large
share of the epoch: the loader, not the model, then sets the pace), how long validation takes,
and how long the schedule's other epochs will take at the run's pace."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest
from training_cases import config_maker

from pmgsam.data.datasets import SegmentationDataset
from pmgsam.engine.epoch_stats import LOADER_WAIT_WARNING, loader_wait_warning
from pmgsam.engine.trainer import Trainer
from pmgsam.engine.training_log import duration_text
from pmgsam.modeling.pmgsam import PMGSAM
from pmgsam.utils.loaders import TimedBatches

pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")

# Each loaded sample sleeps this long in the slow-loader runs (each step of the model in the
# slow-model run): larger than a tiny training step or a 32-pixel sample's loading by far.
SLEEP_S = 0.12


def _clock(readings: List[float]) -> Callable[[], float]:
    values: Iterator[float] = iter(readings)
    return lambda: next(values)


def test_waits_are_added_up_after_the_first_batch_which_is_kept_apart() -> None:
    # Clock readings around each next(): 10→15 (first batch: 5 s), 20→22, 30→33, then the
    # call that ends the iteration (start read, no batch).
    timed = TimedBatches(["a", "b", "c"], clock=_clock([10, 15, 20, 22, 30, 33, 40]))
    assert list(timed) == ["a", "b", "c"]
    assert (timed.batches, timed.first_wait_s, timed.wait_s) == (3, 5.0, 5.0)


def test_no_batch_no_wait() -> None:
    timed = TimedBatches([], clock=_clock([1.0]))
    assert list(timed) == [] and (timed.batches, timed.first_wait_s, timed.wait_s) == (0, 0, 0)


@pytest.mark.parametrize(
    "wait, total, warned",
    [(1.9, 10.0, False), (2.0, 10.0, True), (9.0, 10.0, True), (0.0, 0.0, False)],
)
def test_the_warning_starts_at_its_share_of_the_epoch(wait, total, warned) -> None:
    assert LOADER_WAIT_WARNING == 0.2  # the cases above are set at 20 %
    train = {"data_wait_s": wait, "time_s": total}
    assert (loader_wait_warning(3, train, 2, 8, True) is not None) is warned


def test_the_warning_names_the_epoch_the_share_and_what_to_change() -> None:
    train = {"data_wait_s": 30.0, "time_s": 120.0}
    fewer = loader_wait_warning(4, train, 2, 16, True)
    assert fewer is not None and fewer.startswith("epoch 4: the training loop waited 30.0s")
    assert "120.0s (25%)" in fewer
    assert "raise data.num_workers (now 2; this process may use 16 CPUs)" in fewer
    # Every CPU already loads: more workers would not help; the decode setting is named only
    # when it is off.
    full = loader_wait_warning(4, train, 16, 16, True)
    assert full is not None and "data.num_workers" not in full and "already use every CPU" in full
    assert "reduced_decode" not in full
    assert "data.reduced_decode=true" in loader_wait_warning(4, train, 16, 16, False)
    assert loader_wait_warning(4, {"time_s": 10.0}, 0, 2, True) is None  # no measurement


def _slow_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    original = SegmentationDataset.__getitem__

    def slow(self: SegmentationDataset, index: int) -> Any:
        time.sleep(SLEEP_S)
        return original(self, index)

    monkeypatch.setattr(SegmentationDataset, "__getitem__", slow)


def _records(run: Path) -> List[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _warnings(run: Path) -> List[str]:
    """train.log's loader-wait warnings (the run's log; the package logger does not propagate
    while a trainer runs)."""
    return [line for line in (run / "train.log").read_text().splitlines() if "waited" in line]


def test_a_slow_loader_is_measured_each_epoch_and_warned_of_once(
    tmp_path, dis5k_root, data_config, monkeypatch
) -> None:
    make = config_maker(tmp_path / "run", dis5k_root, data_config, image_size=32)
    cfg = make(schedule={"epochs": 3, "warmup_epochs": 0}, train={"val_every": 99})
    _slow_samples(monkeypatch)
    Trainer(cfg, progress=False).fit()
    records = _records(tmp_path / "run")
    assert len(records) == 3
    # 8 images in batches of 4, loaded in this process (no workers): the second batch's 4
    # sleeps are waited for in the loop, the first batch's are kept apart.
    for record in records:
        # (Counting the first batch too would add its 4 sleeps: 8 or more.)
        assert 4 * SLEEP_S <= record["train_data_wait_s"] < 8 * SLEEP_S
    # Validated after the last epoch only: its time holds the loading of the 2 images.
    assert "val_time_s" not in records[1] and records[2]["val_time_s"] >= 2 * SLEEP_S
    warnings = _warnings(tmp_path / "run")
    assert len(warnings) == 1 and "WARNING" in warnings[0]
    assert "epoch 1: the training loop waited" in warnings[0]
    assert "raise data.num_workers (now 0;" in warnings[0]
    lines = [
        line.split(" INFO ", 1)[1]
        for line in (tmp_path / "run" / "train.log").read_text().splitlines()
        if "training_log: epoch" in line and "iter" not in line
    ]
    assert len(lines) == 3 and all("s waiting for data)" in line for line in lines)
    # Each line but the last ends with the epochs left at the pace so far. An epoch takes at
    # least the 8 sleeps of its 8 images, so after the first the two left take at least 16
    # (less half a second of rounding); the first epoch's time spread over the schedule's
    # 3 epochs would give a third of that.
    first = re.search(r"\| 2 epochs left, ~(\d+)s$", lines[0])
    assert first is not None and int(first.group(1)) >= 16 * SLEEP_S - 0.5
    assert re.search(r"\| 1 epoch left, ~\d+s$", lines[1])
    assert "left" not in lines[2]


def test_a_slow_model_is_not_taken_for_a_slow_loader(
    tmp_path, dis5k_root, data_config, monkeypatch
) -> None:
    # The time goes to the steps (a wrong measure, such as the loop body's time, would count
    # it): the loop waits little for its data and nothing is said.
    make = config_maker(tmp_path / "run", dis5k_root, data_config, image_size=32)
    cfg = make(schedule={"epochs": 1, "warmup_epochs": 0}, train={"val_every": 99})
    forward = PMGSAM.forward

    def slow_forward(self: PMGSAM, *args: Any, **kwargs: Any) -> Any:
        time.sleep(5 * SLEEP_S)
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(PMGSAM, "forward", slow_forward)
    Trainer(cfg, progress=False).fit()
    (record,) = _records(tmp_path / "run")
    assert record["train_data_wait_s"] < LOADER_WAIT_WARNING * record["train_time_s"]
    # The loop body's time would hold both steps' sleeps (10 × SLEEP_S).
    assert record["train_data_wait_s"] < 4 * SLEEP_S
    assert not _warnings(tmp_path / "run")


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0.4, "0s"),
        (45.2, "45s"),
        (89.4, "89s"),
        (90, "2m"),
        (754, "13m"),
        (5369, "89m"),
        (5400, "1h30m"),
        (18420, "5h07m"),
        (133200, "37h00m"),
    ],  # fmt: skip
)
def test_durations_read_in_seconds_minutes_or_hours(seconds, text) -> None:
    assert duration_text(seconds) == text

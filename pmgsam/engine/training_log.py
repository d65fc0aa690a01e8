"""What rank 0 reports while a run trains: TensorBoard events, log lines, metrics.jsonl records.

The run-folder layout is :mod:`pmgsam.engine.state`'s; this module writes the history files in
it (``metrics.jsonl``: one line per finished epoch, ``train.log``, ``tb/``) and decides what goes
into them at each logging step and at the end of each epoch.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional

import torch

from pmgsam.data.errors import DataError
from pmgsam.engine.schedulers import EarlyStopping
from pmgsam.engine.state import LOG_FILE, METRICS_FILE, PACKAGE_LOGGER, TB_DIR, PathLike
from pmgsam.modeling.checkpoint import checkpoint_dir
from pmgsam.utils.cli import LOG_DATE_FORMAT, LOG_FORMAT
from pmgsam.utils.io import write_text_atomic
from pmgsam.utils.messages import one_line

logger = logging.getLogger(__name__)


def append_metrics(run_dir: PathLike, record: Dict[str, Any]) -> None:
    """Append one epoch's record to ``<run_dir>/metrics.jsonl`` (flushed to disk); a NaN or
    infinite value (a diverged run) is written as null."""
    # json.dumps would write NaN / Infinity, which JSON readers other than Python's refuse.
    plain = {
        k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in record.items()
    }
    with open(Path(run_dir) / METRICS_FILE, "a", encoding="utf-8") as f:
        f.write(json.dumps(plain, allow_nan=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _epoch_of(line: str) -> Optional[int]:
    try:
        return int(json.loads(line)["epoch"])
    except (ValueError, KeyError, TypeError):
        return None  # a line cut short by a crash


def truncate_metrics(run_dir: PathLike, epoch: int) -> None:
    """Keep one ``metrics.jsonl`` line per epoch up to ``epoch``; drop later and partial ones.

    Lines of later epochs (and a line cut short by a crash) were left by an interrupted attempt
    whose checkpoint was not written; the resumed run writes them again.
    """
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    latest: Dict[int, str] = {}
    for ln in lines:
        number = _epoch_of(ln)
        if number is not None and number <= epoch:
            latest[number] = ln
    keep = [latest[n] for n in sorted(latest)]
    if keep == lines:
        return
    write_text_atomic(path, "".join(f"{ln}\n" for ln in keep))


def attach_run_log(run_dir: PathLike) -> Callable[[], None]:
    """Send the package's log records to ``<run_dir>/train.log`` and stdout; returns the undo.

    The package logger stops propagating meanwhile, so that a root handler does not print
    every line twice.
    """
    pkg = logging.getLogger(PACKAGE_LOGGER)
    fmt = logging.Formatter(LOG_FORMAT, LOG_DATE_FORMAT)
    handlers: List[logging.Handler] = [
        # UTF-8 whatever the locale: lines name maxFβ and U²-Net, which an ASCII or Latin-1
        # locale cannot write (logging would drop each such line with an error). Escapes for
        # the surrogates of a path that is not UTF-8 (a Latin-1 image name), which UTF-8 lacks.
        logging.FileHandler(Path(run_dir) / LOG_FILE, encoding="utf-8", errors="backslashreplace"),
        logging.StreamHandler(sys.stdout),
    ]
    for handler in handlers:
        handler.setFormatter(fmt)
        pkg.addHandler(handler)
    old_level, old_propagate = pkg.level, pkg.propagate
    pkg.setLevel(logging.INFO)
    pkg.propagate = False

    def detach() -> None:
        for handler in handlers:
            pkg.removeHandler(handler)
            handler.close()
        pkg.setLevel(old_level)
        pkg.propagate = old_propagate

    return detach


def epoch_record(
    epoch: int,
    global_step: int,
    lr: float,
    train: Mapping[str, float],
    val: Mapping[str, float],
    best: bool,
    early_stop_bad: int,
) -> Dict[str, Any]:
    """The ``metrics.jsonl`` line of a finished epoch (``epoch`` counts from 1)."""
    return {
        "epoch": epoch,
        "global_step": global_step,
        "lr": lr,
        **{f"train_{k}": v for k, v in train.items()},
        **{f"val_{k}": v for k, v in val.items()},
        "best": best,
        "early_stop_bad": early_stop_bad,
    }


def duration_text(seconds: float) -> str:
    """``45s``, ``12m``, ``5h07m``: seconds under 90, minutes under 90, else hours and minutes."""
    if seconds < 90:
        return f"{seconds:.0f}s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes}m"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def fit_summary(
    run_dir: PathLike, epochs: int, global_step: int, early_stop: EarlyStopping
) -> Dict[str, Any]:
    """What ``Trainer.fit`` returns (``stopped_early`` aside): ``best_val_loss`` and
    ``best_epoch`` are None when no validation loss was finite (no best checkpoint exists)."""
    # best_epoch stays -1 while no validation loss was finite.
    has_best = early_stop.best_epoch >= 0
    return {
        "output_dir": str(run_dir),
        "epochs_completed": epochs,
        "global_step": global_step,
        "best_val_loss": early_stop.best if has_best else None,
        "best_epoch": early_stop.best_epoch + 1 if has_best else None,
    }


def early_stop_line(early_stop: EarlyStopping) -> str:
    """The log line of a run stopped early, naming its best validation loss."""
    es = early_stop
    best = f"best {es.best:.5f} after epoch {es.best_epoch + 1}" if es.best_epoch >= 0 else "none"
    return f"early stop: no validation improvement for {es.bad} validations ({best})"


def summary_line(summary: Mapping[str, Any]) -> str:
    """What a finished run says about its best weights (``summary`` from ``Trainer.fit``).

    A run whose validation loss was never finite (a diverged one) wrote no ``best`` checkpoint;
    the line then says so and points at ``last``.
    """
    out = summary["output_dir"]
    epochs = summary["epochs_completed"]
    head = f"{epochs} epoch" + ("" if epochs == 1 else "s")
    if summary.get("best_epoch") is None:
        return (
            f"{head}, no finite validation loss, so no best checkpoint was written; "
            f"last weights in {checkpoint_dir(out, 'last')}"
        )
    return (
        f"{head}, best validation loss {summary['best_val_loss']:.5f} after epoch "
        f"{summary['best_epoch']}; weights in {checkpoint_dir(out, 'best')}"
    )


# The longest wait for the clock to pass an earlier attempt's event-file second (the wait runs
# to the next second, so a clock up to 4 s behind is waited out); a larger lag is warned about
# instead (a resume should not hang for it).
_MAX_CLOCK_WAIT_S = 5.0


def _event_files(tb: Path) -> List[str]:
    """The event files in ``tb`` in the order TensorBoard reads them (sorted names)."""
    return sorted(p.name for p in tb.glob("*tfevents*")) if tb.is_dir() else []


def _creation_second(name: str) -> Optional[int]:
    """The creation second in an event file's name (``events.out.tfevents.<s>.<host>...``)."""
    try:
        return int(name.split(".")[3])
    except (IndexError, ValueError):
        return None


def _writer_read_last(tb: Path, purge: int, writer_type: Callable[..., Any]) -> Any:
    """A TensorBoard writer whose event file TensorBoard reads after those already in ``tb``.

    TensorBoard reads a folder's event files in name order, and applies a resumed writer's
    purge step only to the events it has read before. The names start with the second the
    file was made; within one second they go on with host, process id and a per-process count,
    compared as text (count 10 sorts before 9). A file made in the same second as an earlier
    attempt's, or by a clock behind it, can thus be read first, and TensorBoard would show the
    earlier attempt's steps in place of this run's. Such a file (holding only the writer's
    opening events) is removed and made again once the clock has passed the earlier one.
    """
    earlier = _event_files(tb)
    for _ in range(2):
        writer = writer_type(log_dir=str(tb), purge_step=purge)
        if not earlier:
            return writer
        made = [name for name in _event_files(tb) if name not in earlier]
        if not made or made[-1] > earlier[-1]:
            return writer
        second = _creation_second(earlier[-1])
        wait = math.inf if second is None else second + 1 - time.time()
        if not 0 < wait <= _MAX_CLOCK_WAIT_S:
            break
        writer.close()
        for name in made:
            (tb / name).unlink()
        time.sleep(wait)
    ahead = "" if second is None else f", {second - time.time():.0f} s ahead of this clock"
    logger.warning(
        f"TensorBoard event file '{tb / earlier[-1]}' sorts after this run's '{made[-1]}'"
        f"{ahead}: TensorBoard reads a folder's event files in name order (which starts with "
        f"the second each was made), so it will show the earlier attempt's steps from "
        f"{purge} on instead of this run's; set the clock right, or move the earlier event "
        f"files out of '{tb}' (into a folder of their own, which TensorBoard shows as a run)"
    )
    return writer


class TrainingLog:
    """TensorBoard writer (``<run>/tb``) and log lines of a training run.

    Arguments:
        out: the run folder.
        global_step: the steps done when the run starts (0, or those of the checkpoint it
            resumes from); TensorBoard events a crashed run logged after them are dropped.
        epochs: ``schedule.epochs``, shown in the epoch lines.
    """

    def __init__(self, out: Path, global_step: int, epochs: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # A step is logged under the number of steps done after it (from 1), so this run logs
        # global_step + 1 first: TensorBoard hides that step and later ones of earlier attempts.
        # A run resumed from the checkpoint saved before its first step (global_step 0) hides
        # every step of the crashed attempt; a fresh run has none to hide.
        purge = global_step + 1
        self._writer = _writer_read_last(Path(out) / TB_DIR, purge, SummaryWriter)
        self.epochs = epochs

    def step(
        self,
        epoch: int,
        iteration: int,
        iterations: int,
        global_step: int,
        losses: Mapping[str, torch.Tensor],
        lr: float,
        images_per_s: float,
    ) -> None:
        """A logging step: the loss components and lr, and one line (``epoch`` from 0)."""
        for key, value in [*losses.items(), ("lr", lr)]:
            self._writer.add_scalar(f"train/{key}", float(value), global_step)
        logger.info(
            f"epoch {epoch + 1} iter {iteration + 1}/{iterations} step "
            f"{global_step} | loss {losses['loss'].item():.4f} | lr {lr:.3g} | "
            f"{images_per_s:.1f} img/s"
        )

    def preview(self, grid: torch.Tensor, epoch: int) -> None:
        """A validation preview grid (rows: image, GT, pre-mask, mask) at ``epoch`` (from 1)."""
        self._writer.add_image("val/preview (image | GT | pre-mask | mask)", grid, epoch)

    def epoch_end(
        self,
        epoch: int,
        train: Mapping[str, float],
        val: Mapping[str, float],
        lr: float,
        best: bool,
        seconds_per_epoch: Optional[float] = None,
    ) -> None:
        """A finished epoch (``epoch`` from 1): its scalars, flushed, and its summary line,
        which ends with the time the schedule's other epochs would take at
        ``seconds_per_epoch`` when given."""
        for key, value in val.items():
            if key not in ("images", "time_s"):
                self._writer.add_scalar(f"val/{key}", value, epoch)
        self._writer.add_scalar("epoch/train_loss", train["loss"], epoch)
        self._writer.add_scalar("epoch/lr", lr, epoch)
        self._writer.flush()
        val_text = "no validation"
        if val:
            val_text = (
                f"val loss {val['loss']:.4f} MAE {val['mae']:.4f} IoU {val['iou']:.4f} "
                f"F {val['f']:.4f}{' (best)' if best else ''}"
            )
            if "time_s" in val:
                val_text += f" in {val['time_s']:.1f}s"
        tail = ""
        if "data_wait_s" in train:
            tail = f" ({train['data_wait_s']:.1f}s waiting for data)"
        left = self.epochs - epoch
        if seconds_per_epoch is not None and left > 0:
            plural = "" if left == 1 else "s"
            tail += f" | {left} epoch{plural} left, ~{duration_text(left * seconds_per_epoch)}"
        logger.info(
            f"epoch {epoch}/{self.epochs} | train loss "
            f"{train['loss']:.4f} | {val_text} | lr {lr:.3g} | "
            f"{train['images_per_s']:.1f} img/s, {train['time_s']:.1f}s{tail}"
        )

    def close(self) -> None:
        """Flush and close the TensorBoard writer."""
        self._writer.close()


# torch's messages for a DataLoader worker that died without an error of its own: by SIGKILL
# (its SIGCHLD handler: "... is killed by signal: Killed."), or found dead while waiting for a
# batch ("... exited unexpectedly"); the usual killer is the kernel's out-of-memory killer.
_KILLED_WORKER = ("is killed by signal: Killed", "exited unexpectedly")


def interruption_message(err: BaseException, held: int, run_dir: Path, how: str) -> str:
    """The log line of a run stopped by ``err`` while its ``last`` checkpoint holds epoch
    ``held``; ``how`` is the command that continues it."""
    if held == 0:  # nothing kept: the folder takes a fresh start with any config
        how += " (or start it again, with another config if need be)"
    fix = "" if isinstance(err, KeyboardInterrupt) else " once the cause is fixed"
    cause = one_line(err)
    cause = type(err).__name__ + (f": {cause}" if cause != type(err).__name__ else "")
    last = checkpoint_dir(run_dir, "last")
    line = (
        f"training interrupted during epoch {held + 1} ({cause}); '{last}' holds epoch {held}, "
        f"continue{fix} with: {how}"
    )
    text = str(err)
    if isinstance(err, RuntimeError) and "DataLoader worker" in text:
        if any(words in text for words in _KILLED_WORKER):
            line += (
                "; a loader worker that dies without an error of its own was most often killed "
                "by the kernel's out-of-memory killer (`dmesg` says so): continue with fewer "
                "data.num_workers (with performance.persistent_workers the training and "
                "validation loaders' workers live together)"
            )
    if isinstance(err, DataError):
        # The usual fix of a bad image or mask changes it, and a resume refuses changed data.
        again = (
            "start the run again with the command that started it"
            if held == 0
            else f"train on from these weights in a new run (train.init_from={last})"
        )
        line += (
            f"; a resume refuses images or masks changed since the run started, so after "
            f"replacing or editing a file, {again}"
        )
    return line

"""Crash consistency of training checkpoints (issue 11 §3).

A failure is injected at each file-system write of an epoch end (the metrics line, each file of
``best`` and ``last``, each rename of the folder swap, the removal of the old folder). After
each, the leftovers a killed process would leave are planted, and ``--resume`` must continue
from a consistent state: ``last`` whole (its two files the same epoch), one metrics line per
finished epoch, no temporary left, and the final weights equal to an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest
import torch

import pmgsam.engine.state as state_mod
import pmgsam.modeling.checkpoint as checkpoint_mod
from pmgsam.engine import trainer as trainer_mod
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.state import (
    STATE_FILE,
    checkpoint_dir,
    load_training_state,
    recover_checkpoint,
    save_checkpoint,
)
from pmgsam.engine.trainer import Trainer
from pmgsam.engine.training_log import append_metrics, summary_line, truncate_metrics
from pmgsam.modeling.build import model_config
from pmgsam.modeling.checkpoint import read_model_file
from pmgsam.utils.config import from_dict, to_dict
from pmgsam.utils.io import atomic_path

MODEL = "model.safetensors"


class SimulatedKill(BaseException):
    """Not an Exception: nothing in the code under test may swallow it."""


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def make_config(tmp_path, dis5k_root, data_config, small_branches) -> Callable:
    # A small frozen Hiera at S=32 (the smallest side Hiera takes): crash consistency depends on
    # neither, and the ~20 runs of this file build, digest and run the model.

    def make(name: str) -> ExperimentConfig:
        # Two-image splits: one step per epoch keeps the ~20 runs of this file cheap.
        data = to_dict(data_config("dis5k", dis5k_root, train_split="DIS-VD", val_split="DIS-TE1"))
        return from_dict(
            ExperimentConfig,
            {
                "model": to_dict(model_config("pmgsam_tiny", image_size=32)),
                "data": data,
                "optim": {"lr": 1e-3},
                "schedule": {"epochs": 1, "warmup_epochs": 0},
                "train": {"batch_size": 2, "device": "cpu", "preview_every": 0},
                "output_dir": str(tmp_path / name),
            },
        )

    return make


WRITE_POINTS = [
    (trainer_mod, "append_metrics"),
    (torch, "save"),
    (checkpoint_mod, "save_file"),
    (os, "rename"),
    (shutil, "rmtree"),
]


def inject(monkeypatch: pytest.MonkeyPatch, fail_at: int, calls: List[str]) -> None:
    """Count the write points in order; raise SimulatedKill at call number ``fail_at``."""
    for owner, name in WRITE_POINTS:
        original = getattr(owner, name)

        def wrapper(*args: Any, _original=original, _name=name, **kwargs: Any) -> Any:
            calls.append(_name)
            if len(calls) == fail_at:
                if _name == "append_metrics":  # a kill mid-write leaves half a line
                    with open(Path(args[0]) / "metrics.jsonl", "a") as f:
                        f.write(json.dumps(args[1])[:20])
                raise SimulatedKill(f"killed at write {fail_at} ({_name})")
            return _original(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)


def plant_leftovers(run: Path) -> None:
    """What a SIGKILL leaves that an exception unwinding does not: hidden temporaries."""
    (run / ".metrics.jsonl.pmgsam-abc123abc123.tmp").write_bytes(b"")
    stale = run / "checkpoints" / ".last.pmgsam-0789abcdef01.tmp"
    stale.mkdir(parents=True, exist_ok=True)
    (stale / STATE_FILE).write_bytes(b"")


def weights(state: Dict[str, Any]) -> Dict[str, torch.Tensor]:
    return state["model"]


@pytest.fixture
def no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    # The kills here are exceptions in this process, whose page cache shows the resumed run
    # every write, synced or not: fsync (about 300 of them) only costs time in these tests.
    monkeypatch.setattr(os, "fsync", lambda fd: None)


def _digest_value(value: Any, run: str, update: Callable[[bytes], None]) -> None:
    """Feed a loaded state's value to ``update`` (a digest's) with its type, every tensor by
    dtype, shape and bytes, and the run's own path in any string replaced by a placeholder."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        update(f"tensor {tensor.dtype} {tuple(tensor.shape)}".encode())
        update(tensor.view(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        update(f"dict {len(value)}".encode())
        for key in sorted(value, key=repr):
            _digest_value(key, run, update)
            _digest_value(value[key], run, update)
    elif isinstance(value, (list, tuple)):
        update(f"{type(value).__name__} {len(value)}".encode())
        for item in value:
            _digest_value(item, run, update)
    elif isinstance(value, str):
        update(b"str " + repr(value.replace(run, "<run>")).encode())
    else:  # numbers, None, bools: their repr tells their type too
        update(f"{type(value).__name__} {value!r}".encode())


def left_behind(run: Path) -> tuple:
    """What a resume of the killed ``run`` reads: every file but those only ever appended to
    (train.log, TensorBoard's, named by time), each by a digest of its content with the run's
    own path left out (a state.pt and config.yaml hold it, and it differs between runs; a
    state.pt by its loaded values, model files by their tensors), and how many lines
    metrics.jsonl holds and whether its last one is whole."""
    files = []
    for path in sorted(p for p in run.rglob("*") if p.is_file()):
        name = path.relative_to(run).as_posix()
        if name == "train.log" or name.startswith("tb/"):
            continue
        digest = hashlib.sha256()
        if name == "metrics.jsonl":  # its lines hold timings
            text = path.read_text()
            files.append((name, text.count("\n"), text.endswith("\n")))
            continue
        if path.suffix == ".safetensors":  # its header's keys come in no fixed order
            tensors = read_model_file(path)[0]
            for key in sorted(tensors):
                digest.update(key.encode() + tensors[key].numpy().tobytes())
        elif path.name == STATE_FILE:  # pickled: the path's length is in the bytes too
            # The test's own file: the full unpickler reads its ~500 tensors twice as fast
            # as the weights-only one, which would add seconds over the kills.
            state = torch.load(path, map_location="cpu", weights_only=False)
            _digest_value(state, str(run), digest.update)
        else:
            digest.update(path.read_bytes().replace(str(run).encode(), b"<run>"))
        files.append((name, digest.hexdigest()))
    return tuple(files)


def test_kill_at_every_write_point_then_resume(make_config, no_fsync) -> None:
    reference = make_config("reference")
    trainer = Trainer(reference)
    calls: List[str] = []
    with pytest.MonkeyPatch.context() as mp:
        inject(mp, 0, calls)  # count only
        trainer.fit()
    expected = load_training_state(reference.output_dir)
    # metrics line, then best and last: state, model, two renames, removal of the old `last`
    assert calls[0] == "append_metrics" and calls.count("save_file") == 2, calls
    ref_metrics = _metrics(Path(reference.output_dir))

    resumed = set()
    for fail_at in range(1, len(calls) + 1):
        cfg = make_config(f"kill{fail_at}")
        run = Path(cfg.output_dir)
        trainer = Trainer(cfg)
        with pytest.MonkeyPatch.context() as mp, pytest.raises(SimulatedKill):
            inject(mp, fail_at, [])
            trainer.fit()
        # A kill inside save_checkpoint unwinds through its removal of the temporary folder,
        # so kills at its first writes leave the same files (3 x 2 kills of 9 do now): the
        # resume, a function of those files, is run and checked once per such state.
        state_left = left_behind(run)
        if state_left in resumed:
            continue
        resumed.add(state_left)
        plant_leftovers(run)

        Trainer(cfg, resume=run).fit()
        state = load_training_state(run)
        assert state["epoch"] == 1, fail_at
        model_file, _ = read_model_file(checkpoint_dir(run, "last") / "model.safetensors")
        for key, value in weights(state).items():
            assert torch.equal(model_file[key], value), (fail_at, key)
            torch.testing.assert_close(value, weights(expected)[key], rtol=1e-5, atol=1e-6)
        metrics = _metrics(run)
        assert [m["epoch"] for m in metrics] == [1], (fail_at, metrics)
        assert metrics[0]["val_loss"] == pytest.approx(ref_metrics[0]["val_loss"], rel=1e-5)
        leftovers = [p for p in run.rglob("*") if p.name.endswith((".tmp", ".old"))]
        assert not leftovers, (fail_at, leftovers)
        assert (checkpoint_dir(run, "best") / STATE_FILE).is_file()


def test_crash_states_are_grouped_by_content_not_by_run_path(tmp_path, tiny_model) -> None:
    # Runs 'a' and 'b' (paths of one length, so each save's state.pt has the same size): the
    # same state in both is one crash state, epoch 3 and epoch 4 are two.
    def saved(run: str, epoch: int) -> tuple:
        folder = tmp_path / str(epoch) / run
        state = {"epoch": epoch, "config": {"output_dir": str(folder)}}
        save_checkpoint(checkpoint_dir(folder, "last"), tiny_model, state)
        return left_behind(folder)

    a3, b3, b4 = saved("a", 3), saved("b", 3), saved("b", 4)
    assert (tmp_path / "3/b/checkpoints/last" / STATE_FILE).stat().st_size == (
        tmp_path / "4/b/checkpoints/last" / STATE_FILE
    ).stat().st_size
    assert a3 == b3
    assert b3 != b4


def _metrics(run: Path) -> List[Dict[str, Any]]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def test_interrupted_swap_is_restored(tmp_path, tiny_model) -> None:
    ckpt = tmp_path / "run" / "checkpoints" / "last"
    save_checkpoint(ckpt, tiny_model, {"epoch": 3})
    # A kill between the two renames of the next save: only `.last.old` is left.
    os.rename(ckpt, ckpt.with_name(".last.old"))
    assert load_training_state(tmp_path / "run")["epoch"] == 3
    save_checkpoint(ckpt, tiny_model, {"epoch": 4})
    assert load_training_state(tmp_path / "run")["epoch"] == 4
    assert sorted(p.name for p in ckpt.parent.iterdir()) == ["last"]


def _folder(path: Path, tag: str) -> Path:
    """A stand-in checkpoint folder whose two files say which save wrote them."""
    path.mkdir(parents=True)
    (path / STATE_FILE).write_text(f"{tag} state")
    (path / "model.safetensors").write_text(f"{tag} model")
    return path


def _contents(path: Path) -> Dict[str, str]:
    return {p.name: p.read_text() for p in path.iterdir()}


def test_recover_puts_back_the_old_folder_of_a_swap_cut_between_its_renames(tmp_path) -> None:
    # Only `.last.old` is left (killed after `last` -> `.last.old`): it is the previous
    # complete checkpoint, and comes back as `last`, files and all.
    ckpts = tmp_path / "checkpoints"
    _folder(ckpts / ".last.old", "epoch 3")
    recover_checkpoint(ckpts / "last")
    assert sorted(p.name for p in ckpts.iterdir()) == ["last"]
    assert _contents(ckpts / "last") == {STATE_FILE: "epoch 3 state", MODEL: "epoch 3 model"}


def test_recover_keeps_the_new_folder_when_both_are_left(tmp_path) -> None:
    # Both left (killed after the second rename, before the old folder's removal): the new
    # `last` is in place and whole, so it wins and the old one goes.
    ckpts = tmp_path / "checkpoints"
    _folder(ckpts / ".last.old", "epoch 3")
    _folder(ckpts / "last", "epoch 4")
    recover_checkpoint(ckpts / "last")
    assert sorted(p.name for p in ckpts.iterdir()) == ["last"]
    assert _contents(ckpts / "last") == {STATE_FILE: "epoch 4 state", MODEL: "epoch 4 model"}
    recover_checkpoint(ckpts / "last")  # nothing to finish: nothing changes
    assert _contents(ckpts / "last") == {STATE_FILE: "epoch 4 state", MODEL: "epoch 4 model"}


@pytest.mark.parametrize("fails", ["torch.save", "save_model"])
def test_failed_save_leaves_the_previous_checkpoint_and_no_temporary(
    tmp_path, tiny_model, monkeypatch, fails
) -> None:
    ckpt = tmp_path / "checkpoints" / "last"
    save_checkpoint(ckpt, tiny_model, {"epoch": 3})
    before = read_model_file(ckpt / MODEL)[0]

    def disk_full(obj: Any, path: Any, *args: Any, **kwargs: Any) -> None:
        Path(path).write_bytes(b"half a fi")  # what a full disk leaves
        raise OSError(28, "No space left on device")

    owner, name = (torch, "save") if fails == "torch.save" else (state_mod, "save_model")
    monkeypatch.setattr(owner, name, disk_full)
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(ckpt, tiny_model, {"epoch": 4})
    monkeypatch.undo()
    assert sorted(p.name for p in ckpt.parent.iterdir()) == ["last"]
    assert load_training_state(ckpt)["epoch"] == 3
    after = read_model_file(ckpt / MODEL)[0]
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_files_follow_the_umask(tmp_path, tiny_model) -> None:
    old = os.umask(0o027)
    try:
        save_checkpoint(tmp_path / "last", tiny_model, {"epoch": 0})
        with atomic_path(tmp_path / "a.json") as tmp:
            tmp.write_text("{}")
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(tmp_path / "last") == 0o750
    assert mode(tmp_path / "last" / STATE_FILE) == 0o640
    assert mode(tmp_path / "last" / "model.safetensors") == 0o640
    assert mode(tmp_path / "a.json") == 0o640  # mkstemp alone would give 0o600


def test_truncate_metrics_keeps_one_line_per_finished_epoch(tmp_path) -> None:
    lines = [{"epoch": 1, "v": "a"}, {"epoch": 2, "v": "b"}, {"epoch": 2, "v": "c"}]
    text = "".join(json.dumps(x) + "\n" for x in lines) + '{"epoch": 3, "v'
    (tmp_path / "metrics.jsonl").write_text(text)
    truncate_metrics(tmp_path, 2)
    assert _metrics(tmp_path) == [{"epoch": 1, "v": "a"}, {"epoch": 2, "v": "c"}]


def _strict(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def test_non_finite_metrics_are_written_as_null(tmp_path) -> None:
    append_metrics(tmp_path, {"epoch": 1, "val_loss": float("nan"), "lr": float("inf")})
    append_metrics(tmp_path, {"epoch": 2, "val_loss": 0.5, "best": True})
    text = (tmp_path / "metrics.jsonl").read_text()
    lines = [json.loads(x, parse_constant=_strict) for x in text.splitlines()]
    assert lines[0] == {"epoch": 1, "val_loss": None, "lr": None}
    truncate_metrics(tmp_path, 1)  # what a resumed run does with the file
    assert _metrics(tmp_path) == [lines[0]]


def test_summary_line_names_only_checkpoints_that_exist(tmp_path) -> None:
    summary = {"output_dir": str(tmp_path), "epochs_completed": 3}
    line = summary_line({**summary, "best_val_loss": 0.25, "best_epoch": 2})
    assert "best validation loss 0.25000 after epoch 2" in line
    assert str(checkpoint_dir(tmp_path, "best")) in line
    line = summary_line({**summary, "best_val_loss": None, "best_epoch": None})
    assert "no best checkpoint" in line and "inf" not in line
    assert str(checkpoint_dir(tmp_path, "last")) in line
    assert line.startswith("3 epochs, ")
    one = summary_line({**summary, "epochs_completed": 1, "best_val_loss": 0.5, "best_epoch": 1})
    assert one.startswith("1 epoch, best")

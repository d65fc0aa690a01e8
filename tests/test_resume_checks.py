"""Resume checks one at a time, without training: what a state written before an entry existed
may do, the command a refused process count names, which frozen file is reported missing, what
the frozen-branch digest covers (and that a state with the older digest of both branches is still
checked), which run folders a new run may start in, and that the weights digest reads a whole
file."""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.resume_checks import (
    check_frozen_files,
    check_moved_inputs,
    check_world_size,
    inputs_found,
)
from pmgsam.engine.state import check_new_run_folder
from pmgsam.modeling.checkpoint import branch_digests, weights_digest
from pmgsam.utils.config import ConfigError, from_dict, to_dict

pytestmark = pytest.mark.usefixtures("one_thread")


def _config(tmp_path: Path, **model) -> ExperimentConfig:
    cfg = from_dict(ExperimentConfig, {"output_dir": str(tmp_path / "run")})
    return replace(cfg, model=replace(cfg.model, **model))


def _state(cfg: ExperimentConfig, tmp_path: Path, **entries) -> dict:
    path = tmp_path / "run" / "checkpoints" / "last" / "state.pt"
    return {"config": to_dict(cfg), "path": str(path), **entries}


def PATHS() -> str:
    """The paths-only data fingerprint, which only states of an older pmgsam are checked by."""
    return "paths-A"


FOUND = {"data_sample_fingerprint": "images-A", "frozen_sha256": {"hiera": "h-A", "u2net": "u-A"}}


def test_a_state_written_before_the_fingerprints_resumes_where_nothing_moved(tmp_path):
    # Runs saved by an older pmgsam hold neither entry: with the run's own paths they resume
    # (nothing can be checked, and nothing moved); only a move needs the proof.
    cfg = _config(tmp_path, u2net_checkpoint="/w/u2netp.pth")
    check_moved_inputs(_state(cfg, tmp_path), cfg, FOUND)
    moved = replace(cfg, model=replace(cfg.model, u2net_checkpoint="/scratch/u2netp.pth"))
    with pytest.raises(ConfigError, match=r"moved \(model.u2net_checkpoint: .*predates this check"):
        check_moved_inputs(_state(cfg, tmp_path), moved, FOUND)


def test_frozen_weights_are_checked_whether_or_not_their_files_moved(tmp_path):
    cfg = _config(tmp_path, hiera_checkpoint="/w/hiera.pth")
    moved = replace(cfg, model=replace(cfg.model, hiera_checkpoint="/scratch/hiera.pth"))
    state = _state(cfg, tmp_path, **FOUND)
    check_moved_inputs(state, moved, FOUND)  # the run's weights at the new place
    other = {**FOUND, "frozen_sha256": {"hiera": "h-A", "u2net": "u-B"}}
    with pytest.raises(ConfigError, match=r"frozen weights at the run's .* changed since"):
        check_moved_inputs(state, cfg, other)  # same path, other weights
    with pytest.raises(ConfigError, match=r"moved \(model.hiera_checkpoint: .*not the run's"):
        check_moved_inputs(state, moved, other)


def test_a_missing_u2net_file_is_named_when_the_hiera_file_is_there(tmp_path):
    hiera = tmp_path / "hiera.pth"
    hiera.write_bytes(b"x")
    cfg = _config(tmp_path, hiera_checkpoint=str(hiera), u2net_checkpoint=str(tmp_path / "u.pth"))
    with pytest.raises(ConfigError, match=r"model.u2net_checkpoint '.*u.pth' does not exist"):
        check_frozen_files(cfg, "RUN")
    check_frozen_files(_config(tmp_path, hiera_checkpoint=str(hiera)), "RUN")  # unset: fine


@pytest.mark.parametrize(
    "saved, now, command",
    [(2, 1, "torchrun --nproc_per_node 2 train.py"), (1, 2, "python train.py"),
     (2, 4, "torchrun --nproc_per_node 2 train.py")],
)  # fmt: skip
def test_another_process_count_is_refused_naming_the_command_for_the_run(
    tmp_path, saved, now, command
):
    cfg = _config(tmp_path)
    state = _state(cfg, tmp_path, world_size=saved)
    run = tmp_path / "run"  # the run folder, not its checkpoints folder
    with pytest.raises(ConfigError, match=re.escape(f"resume with {command} --resume {run},")):
        check_world_size(state, now)
    check_world_size(state, saved)
    check_world_size(_state(cfg, tmp_path), now)  # written before the count was recorded


def test_frozen_digest_covers_frozen_weights_and_buffers_only(tiny_model):
    model = copy.deepcopy(tiny_model)
    before = model.frozen_digest()
    with torch.no_grad():
        next(p for n, p in model.named_parameters() if n.startswith("neck.")).add_(1.0)
    assert model.frozen_digest() == before  # trainable weights are not the frozen files'
    state = model.state_dict()
    for name in ("u2net.stage1.rebnconvin.bn_s1.running_mean", _first_float(state, "hiera.")):
        tensor = state[name]
        saved = tensor.clone()
        with torch.no_grad():
            # One ulp on one element: a digest of rounded values would not see it.
            tensor.view(-1)[0] = torch.nextafter(tensor.view(-1)[0], torch.tensor(2.0))
        assert model.frozen_digest() != before, name
        with torch.no_grad():
            tensor.copy_(saved)
        assert model.frozen_digest() == before, name


def test_a_state_with_one_digest_of_both_branches_is_still_checked(tmp_path, tiny_model):
    # States written before the per-branch SHA-256 hold one digest of both branches.
    model = copy.deepcopy(tiny_model)
    cfg = _config(tmp_path, hiera_checkpoint="/w/hiera.pth")
    moved = replace(cfg, model=replace(cfg.model, hiera_checkpoint="/scratch/hiera.pth"))
    digests, older = branch_digests(model), model.frozen_digest()
    state = _state(cfg, tmp_path, frozen_digest=older)
    check_moved_inputs(state, moved, inputs_found(state, "images-A", model, digests, PATHS))
    with torch.no_grad():
        next(model.u2net.parameters()).view(-1)[0] += 1.0
    state = _state(cfg, tmp_path, frozen_digest=older)
    found = inputs_found(state, "images-A", model, branch_digests(model), PATHS)
    with pytest.raises(ConfigError, match=r"moved \(model.hiera_checkpoint: .*not the run's"):
        check_moved_inputs(state, moved, found)
    state = _state(cfg, tmp_path, frozen_sha256=digests)  # a current state: no other digest
    assert inputs_found(state, "images-A", model, digests, PATHS)["frozen_sha256"] is digests


def _first_float(state: dict, prefix: str) -> str:
    return next(k for k, v in state.items() if k.startswith(prefix) and v.is_floating_point())


def _write_state(run: Path, folder: str, payload) -> None:
    path = run / "checkpoints" / folder / "state.pt"
    path.parent.mkdir(parents=True)
    if isinstance(payload, bytes):
        path.write_bytes(payload)
    else:
        torch.save(payload, path)


@pytest.mark.parametrize(
    "folder, payload",
    [("last", {"epoch": 1, "global_step": 4}), ("last", b"not a torch file"),
     (".last.old", {"epoch": 3, "global_step": 12}),
     # A run whose `last` was deleted to save space keeps its trained weights in `best`,
     # which a new run's first improving epoch would replace.
     ("best", {"epoch": 3, "global_step": 12}), (".best.old", {"epoch": 3, "global_step": 12})],
)  # fmt: skip
def test_a_new_run_never_starts_over_a_trained_or_unreadable_state(tmp_path, folder, payload):
    # Only the state saved before a run's first step may be started over; a state that
    # finished an epoch, or one that cannot be read, would be lost.
    run = tmp_path / "run"
    _write_state(run, folder, payload)
    (run / "train.log").write_text("log\n")
    with pytest.raises(FileExistsError, match="already holds a training run"):
        check_new_run_folder(run)


def test_a_run_that_trained_nothing_may_start_again(tmp_path):
    run = tmp_path / "run"
    _write_state(run, "last", {"epoch": 0, "global_step": 0})
    (run / "train.log").write_text("log\n")
    check_new_run_folder(run)


def test_weights_digest_is_the_sha256_of_the_whole_file(tmp_path):
    data = bytes(range(256)) * (3 * 4096 + 7)  # ~3 MiB: more than one read block
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    assert weights_digest(path) == hashlib.sha256(data).hexdigest()
    path.write_bytes(data[:-1] + b"\x00")  # a change in the last block only
    assert weights_digest(path) != hashlib.sha256(data).hexdigest()
    best = tmp_path / "run" / "checkpoints" / "best"
    best.mkdir(parents=True)
    (best / "model.safetensors").write_bytes(data)
    assert weights_digest(tmp_path / "run") == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("entry", ["config.yaml", "checkpoints", "metrics.jsonl"])
def test_a_folder_of_run_entry_names_without_a_train_log_is_not_a_run(tmp_path, entry):
    # A hand-written config.yaml, or a folder of downloaded checkpoints: named like a run's
    # entries, but no run wrote them (every run writes train.log first), and a new run would
    # replace them.
    run = tmp_path / "run"
    run.mkdir()
    if "." in entry:
        (run / entry).write_text("user data")
    else:
        (run / entry).mkdir()
    with pytest.raises(FileExistsError, match=f"holds no PMG-SAM run \\({entry}\\)"):
        check_new_run_folder(run)


def test_an_attempt_killed_while_writing_may_start_again(tmp_path):
    # Its hidden temporaries are the run's own (the trainer clears them), not a user's files.
    run = tmp_path / "run"
    run.mkdir()
    temporaries = (".metrics.jsonl.pmgsam-0123456789ab.tmp", ".config.yaml.pmgsam-a8f1a8f1a8f1.tmp")
    for name in ("train.log", "config.yaml", *temporaries):
        (run / name).write_text("x")
    check_new_run_folder(run)

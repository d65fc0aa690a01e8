"""Forked ranks meeting through env:// start again on another port when rank 0's store finds
the one picked taken (under pytest-xdist another process could take it between the pick and
the bind), and fail at once on any other error (CPU, gloo; the helper of tests/test_train.py's
DDP test)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import free_port_ranks
import pytest
import torch.distributed as dist
import torch.multiprocessing as mp

from pmgsam.engine.distributed import init_distributed


def _meet(rank: int, world: int, port: int, out: str) -> None:
    """Join the group as train.py's ranks do (env://) and record the port met on."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))  # fmt: skip
    info, _ = init_distributed("cpu")
    try:
        dist.barrier()
        (Path(out) / f"rank{info.rank}").write_text(str(port))
    finally:
        dist.destroy_process_group()


def test_ranks_start_again_on_another_port_when_theirs_was_taken(tmp_path, monkeypatch) -> None:
    taken = socket.socket()  # held, as another process's listening socket would be
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    held = taken.getsockname()[1]
    picks = iter([held, free_port_ranks.free_port()])
    monkeypatch.setattr(free_port_ranks, "free_port", lambda: next(picks))
    retried = []
    try:
        port = free_port_ranks.start_ranks_on_a_free_port(
            _meet, 2, (str(tmp_path),), before_retry=lambda: retried.append(True)
        )
    finally:
        taken.close()
    assert retried == [True] and port != held
    assert [(tmp_path / f"rank{r}").read_text() for r in (0, 1)] == [str(port)] * 2


def _fail(rank: int, world: int, port: int) -> None:
    raise ValueError(f"rank {rank} failed")


def test_any_other_failure_is_raised_without_starting_again(monkeypatch) -> None:
    picks = []
    monkeypatch.setattr(free_port_ranks, "free_port", lambda: picks.append(1) or 1)
    with pytest.raises(mp.ProcessRaisedException, match="failed"):
        free_port_ranks.start_ranks_on_a_free_port(_fail, 2)
    assert picks == [1]

"""Forked ranks that meet through ``env://`` (rank 0's TCP store on ``MASTER_PORT``), as
``torchrun`` ranks do, on a port that is free when rank 0 binds it.

A port found free and closed again may be taken by another process (another pytest-xdist
worker) before rank 0's store binds it. Its store then fails with EADDRINUSE and the ranks
start again on another free port; any other failure is raised as it is. Ranks that need no
TCP store meet through a file (``init_method="file://..."``) instead."""

from __future__ import annotations

import socket
from typing import Any, Callable, Optional, Sequence

import torch.multiprocessing as mp

#: How torch names the error of a store whose port another process holds.
PORT_TAKEN = "EADDRINUSE"


def free_port() -> int:
    """A TCP port of 127.0.0.1 that no process holds now (it may be taken before it is used)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_ranks_on_a_free_port(
    worker: Callable[..., None],
    world: int,
    args: Sequence[Any] = (),
    tries: int = 3,
    before_retry: Optional[Callable[[], None]] = None,
) -> int:
    """Run ``worker(rank, world, port, *args)`` in ``world`` forked processes until all finish;
    a start whose store found its port taken starts again on another (``before_retry()`` first:
    remove what the failed start left), at most ``tries`` times. Returns the port used."""
    for attempt in range(tries):
        port = free_port()
        try:
            mp.start_processes(
                worker, args=(world, port, *args), nprocs=world, join=True, start_method="fork"
            )
            return port
        except mp.ProcessRaisedException as err:
            if PORT_TAKEN not in str(err) or attempt == tries - 1:
                raise
        if before_retry is not None:
            before_retry()
    raise AssertionError("unreachable")

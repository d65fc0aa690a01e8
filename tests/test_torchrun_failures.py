"""What a torchrun job prints when one of its processes fails: rank 0 one line pointing at the
failing process's error instead of gloo's lost connection and its traceback, the other ranks
nothing; and a set-up error every rank of a node hits alike printed once per node
(pmgsam.utils.cli, pmgsam.engine.distributed, the trainer's handling in
tests/test_train_ranks.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from pmgsam.engine import distributed as D
from pmgsam.utils import cli
from pmgsam.utils.cli import (
    EXIT_USER_ERROR,
    OtherProcessFailed,
    lost_other_process,
    run_cli,
    same_on_every_process,
)
from pmgsam.utils.config import ConfigError

# The message gloo 2.x gave rank 0 of a two-process training run whose rank 1 had failed.
GLOO_LOST = (
    "[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:561] Connection closed "
    "by peer [127.0.0.1]:64232. This is typically caused by a remote worker crashing. Check the "
    "logs of the remote worker before reporting an error. GLHF!"
)
SET_UP_REFUSAL = "cannot resume on 3 process(es): the run trained on 2"


def _run(main, monkeypatch, rank: str, local_rank: str = "") -> int:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("LOCAL_RANK", local_rank or rank)
    with pytest.raises(SystemExit) as exit_:
        run_cli(main, "train.py", several_processes=True)
    return exit_.value.code


def _raise(err: BaseException):
    def main() -> None:
        raise err

    return main


@pytest.mark.parametrize(
    "err, said",
    [
        (RuntimeError(GLOO_LOST), "its error is printed above"),
        (OtherProcessFailed("another process failed; see 'run/train.log'"), "'run/train.log'"),
    ],
)
def test_a_lost_process_is_one_line_of_rank_zero(monkeypatch, capsys, err, said) -> None:
    # Before: gloo's RuntimeError went up with its traceback on every surviving rank.
    assert _run(_raise(err), monkeypatch, "0") == cli.EXIT_OTHER_PROCESS
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("train.py: error: another process")
    assert said in lines[0] and "Connection closed" not in lines[0]
    assert _run(_raise(err), monkeypatch, "1") == cli.EXIT_OTHER_PROCESS
    assert capsys.readouterr().err == ""


def test_a_lost_connection_in_one_process_is_an_ordinary_error(monkeypatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "1")
    with pytest.raises(RuntimeError, match="Connection closed by peer"):
        run_cli(_raise(RuntimeError(GLOO_LOST)), "train.py", several_processes=True)
    assert D.other_process_failure(RuntimeError(GLOO_LOST), 1) is None
    lost = D.other_process_failure(RuntimeError(GLOO_LOST), 2, Path("run/train.log"))
    assert "'run/train.log'" in str(lost) and "Connection closed" not in str(lost)
    assert D.other_process_failure(RuntimeError("CUDA error: out of memory"), 2) is None


def _same_everywhere() -> None:
    with same_on_every_process():
        raise ConfigError(SET_UP_REFUSAL)


class Stopped(SystemExit):
    """torchrun's SIGTERM, which ends a waiting process without a word."""


def test_a_set_up_error_every_rank_hits_is_said_by_local_rank_zero(monkeypatch, capsys) -> None:
    waits = []

    def stopped_by_torchrun(seconds: float) -> None:
        waits.append(seconds)
        raise Stopped(143)

    monkeypatch.setattr(cli.time, "sleep", stopped_by_torchrun)
    assert _run(_same_everywhere, monkeypatch, "0") == EXIT_USER_ERROR
    assert capsys.readouterr().err == f"train.py: error: {SET_UP_REFUSAL}\n" and waits == []
    # Rank 1 leaves it to local rank 0, whose exit makes torchrun stop it.
    assert _run(_same_everywhere, monkeypatch, "1") == 143
    assert capsys.readouterr().err == "" and waits == [cli.QUIET_RANK_WAIT_S]
    # Rank 2 is local rank 0 of the second node: said once there too.
    assert _run(_same_everywhere, monkeypatch, "2", local_rank="0") == EXIT_USER_ERROR
    assert capsys.readouterr().err == f"train.py: error: {SET_UP_REFUSAL}\n"


def test_a_quiet_rank_left_running_says_it_itself(monkeypatch, capsys) -> None:
    monkeypatch.setattr(cli.time, "sleep", lambda seconds: None)  # no torchrun stopped it
    assert _run(_same_everywhere, monkeypatch, "1") == EXIT_USER_ERROR
    assert capsys.readouterr().err == f"train.py: error: {SET_UP_REFUSAL}\n"
    # An error one rank alone may hit (not marked) is said by that rank at once.
    assert _run(_raise(ConfigError("train.device=cuda:1 ...")), monkeypatch, "1") == 2
    assert capsys.readouterr().err == "train.py: error: train.device=cuda:1 ...\n"


def _lost_peer_worker(rank: int, store: str, out: str) -> None:
    # A timeout: a gloo that waited on the gone process instead would fail the test, not hang it.
    # A file rendezvous, not a port picked free and closed: under pytest-xdist another process
    # could take that port before the ranks bind it (gloo's own connections are the same).
    address = f"file://{store}"
    timeout = timedelta(seconds=30)
    dist.init_process_group("gloo", init_method=address, rank=rank, world_size=2, timeout=timeout)
    if rank == 1:
        return  # a failed process: its end closes its connections
    try:
        dist.all_reduce(torch.ones(1))
        verdict = "no error"
    except RuntimeError as err:
        verdict = f"{lost_other_process(err)} {err}"
    Path(out).write_text(verdict)


def test_gloo_s_own_lost_connection_is_recognised(tmp_path: Path) -> None:
    out = tmp_path / "rank0.txt"
    mp.start_processes(
        _lost_peer_worker,
        args=(str(tmp_path / "rendezvous"), str(out)),
        nprocs=2,
        join=True,
        start_method="fork",
    )
    verdict = out.read_text()
    assert verdict.startswith("True "), verdict

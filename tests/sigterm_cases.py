"""Plain helpers of the SIGTERM tests of the commands other than training
(``test_sigterm_commands*.py``; pytest's default import mode puts tests/ on the path).

SIGTERM sent to a whole job (Slurm's preemption and scancel, ``kill -TERM -PGID``) reaches the
command and its DataLoader workers alike. The helpers run the case in a forked child and
return how the child ended."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import torch
import torch.multiprocessing as mp
from torch.utils.data import DataLoader, Dataset

from pmgsam.engine import distributed as D
from pmgsam.utils.loaders import loader_batches

# The child's exit statuses; killed by the signal it would be -15.
INTERRUPTED, CRASHED, WORKERS_LEFT = 3, 4, 5


class Numbers(Dataset):
    def __len__(self) -> int:
        return 6

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor(index)


class LoaderMade(Exception):
    """Raised by :func:`record_loader` once the code under test has built its DataLoader."""


def record_loader(seen: Dict[str, Any]) -> Callable[..., DataLoader]:
    """A stand-in for ``DataLoader`` that records its keyword arguments in ``seen`` and stops
    the caller (:class:`LoaderMade`)."""

    def made(*args: Any, **kwargs: Any) -> DataLoader:
        seen.update(kwargs)
        raise LoaderMade

    return made


def _sigterm_from_another_process(pids: List[int]) -> None:
    """SIGTERM to ``pids``, sent as Slurm or a shell sends it to a job: not by the workers'
    parent (torch's workers exit quietly on their parent's own SIGTERM)."""
    sender = os.fork()
    if sender == 0:
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        os._exit(0)
    os.waitpid(sender, 0)


def _wait_until_ended(pids: List[int]) -> None:
    """Until every process of ``pids`` has ended (a zombie: its parent has not reaped it)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        states = [
            Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] for pid in pids
        ]
        if all(state == "Z" for state in states):
            break
        time.sleep(0.01)
    time.sleep(0.05)  # torch's SIGCHLD handler runs meanwhile


def _job_sigterm_at_the_second_batch(init: Optional[Callable[[int], None]]) -> None:
    torch.set_num_threads(1)  # a forked process must not use the parent's OpenMP pool
    loader = DataLoader(Numbers(), batch_size=1, num_workers=1, worker_init_fn=init)
    try:
        with D.sigterm_interrupts(), loader_batches(loader) as batches:
            for i, _ in enumerate(batches):
                if i == 1:
                    # The job's SIGTERM reaches the worker, and this process sees the worker's
                    # end (torch's SIGCHLD handler) before its own SIGTERM, as when it is in a
                    # long torch call: in this order, one signal at a time, so that no thread
                    # of this process takes its SIGTERM first.
                    workers = [w.pid for w in batches._workers]
                    _sigterm_from_another_process(workers)
                    _wait_until_ended(workers)
                    os.kill(os.getpid(), signal.SIGTERM)
                    signal.pthread_sigmask(signal.SIG_BLOCK, [])  # the handler runs by its end
    except KeyboardInterrupt:  # Terminated
        os._exit(WORKERS_LEFT if mp.active_children() else INTERRUPTED)
    except BaseException:  # torch's "DataLoader worker ... is killed by signal: Terminated"
        os._exit(CRASHED)
    os._exit(0)


def job_sigterm_ending(init: Optional[Callable[[int], None]]) -> Optional[int]:
    """How a process iterating a one-worker DataLoader with ``worker_init_fn=init`` ends when
    a SIGTERM reaches it and its worker: the child's exit code."""
    return _forked_exit_code(_job_sigterm_at_the_second_batch, init)


def _sigterm_itself_during(call: Callable[[], Any]) -> None:
    try:
        result = call()
    except KeyboardInterrupt:
        os._exit(INTERRUPTED)
    except BaseException:
        os._exit(CRASHED)
    os._exit(result if isinstance(result, int) else 0)


def ending_of(call: Callable[[], Any]) -> Optional[int]:
    """The exit code of a forked child running ``call()`` (which sends itself a SIGTERM):
    :data:`INTERRUPTED` for a KeyboardInterrupt, the int ``call()`` returns (a command's exit
    status), -15 when the signal killed it."""
    return _forked_exit_code(_sigterm_itself_during, call)


def _forked_exit_code(target: Callable[[Any], None], arg: Any) -> Optional[int]:
    """The exit code of a forked child running ``target(arg)``; None if it hangs past 60 s
    (then killed)."""
    child = mp.get_context("fork").Process(target=target, args=(arg,))
    child.start()
    child.join(timeout=60)
    if child.exitcode is None:
        child.kill()
    return child.exitcode


def sigterm_now() -> None:
    """Send this process a SIGTERM; a handler runs by the end of this call."""
    os.kill(os.getpid(), signal.SIGTERM)
    signal.pthread_sigmask(signal.SIG_BLOCK, [])

"""Why a DIS-scoring worker process died, read from the workers' exit codes.

``ProcessPoolExecutor`` only says that a worker "terminated abruptly". Guessing memory for every
death sent users after the wrong fix: a script without an ``if __name__ == "__main__":`` guard
that scores with more than one worker once torch is imported (so the workers are spawned) has
each worker re-run the script, which fails there, and more memory does not help.
"""

from __future__ import annotations

import signal
import sys
import time
from multiprocessing.connection import wait
from typing import Iterable, List, Sequence, Union

__all__ = ["dead_worker_message", "exit_codes"]

PREFIX = "a DIS-metrics worker process died before it returned"
# How long the workers of a broken pool get to end before their codes are read.
EXIT_WAIT_S = 5.0


def exit_codes(processes: Iterable) -> List[Union[int, None]]:
    """The exit codes of ``processes`` (multiprocessing.Process), None for one still running
    after :data:`EXIT_WAIT_S` seconds. The executor ends the survivors of a death itself
    (SIGTERM)."""
    processes = list(processes)
    deadline = time.monotonic() + EXIT_WAIT_S
    running = [p.sentinel for p in processes]
    while running and time.monotonic() < deadline:
        ended = wait(running, timeout=max(deadline - time.monotonic(), 0))
        running = [s for s in running if s not in ended]
    codes = []
    for process in processes:
        code = process.exitcode
        # The executor's thread may have reaped the process and not yet stored its code.
        for _ in range(50):
            if code is not None or process.sentinel in running:
                break
            time.sleep(0.01)
            code = process.exitcode
        codes.append(code)
    return codes


def _main_script() -> Union[str, None]:
    """The file a spawned worker re-runs before it starts (None under ``python -c`` or a REPL)."""
    return getattr(sys.modules.get("__main__"), "__file__", None)


# The signals a process raises on itself when native code fails (a bad access, an abort); the
# others (SIGTERM, SIGINT, SIGXCPU, ...) come from outside it.
_CRASHES = {
    getattr(signal, name)
    for name in ("SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGABRT", "SIGSYS", "SIGTRAP")
    if hasattr(signal, name)
}


def _cause(code: int, start_method: str, main_script: Union[str, None]) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        if -code == getattr(signal, "SIGKILL", None):  # Windows has none
            return (
                "killed by SIGKILL, usually the kernel's out-of-memory killer (`dmesg` says "
                "so): score with fewer --workers (or 1) to give each more memory"
            )
        if -code in _CRASHES:
            return f"killed by {name} (a crash in native code: OpenCV, SciPy or NumPy)"
        return (
            f"killed by {name}, sent by another process or a limit (a job scheduler's time or "
            "memory limit, a memory watchdog such as earlyoom, `ulimit`, or `kill`)"
        )
    if code == 0:
        return (
            "it exited before scoring: its start-up failed (the 'Exception in initializer' "
            "traceback above)"
        )
    cause = f"it exited with status {code}: an error outside the scoring (its traceback is above)"
    if start_method != "fork" and main_script:
        cause += (
            f". Under the '{start_method}' start method (DIS scoring's once torch is imported, "
            f"or off Linux) each worker first re-runs {main_script}: top-level code there must be "
            'under `if __name__ == "__main__":` (Python\'s multiprocessing rule), or score '
            "with one worker (--workers 1)"
        )
    return cause


def dead_worker_message(
    codes: Sequence[Union[int, None]],
    start_method: str,
    main_script: Union[str, None] = None,
) -> str:
    """The error for a broken pool whose workers ended with ``codes``. ``main_script``: the
    file spawned workers re-run, found when not given."""
    if main_script is None:
        main_script = _main_script()
    known = [c for c in codes if c is not None]
    # SIGTERM is how the executor ends the workers that were still alive. Only when every
    # worker's code is known and each is SIGTERM did one come from elsewhere; with a code
    # missing, the worker that died first is the unknown one.
    telling = [c for c in known if c != -signal.SIGTERM]
    if not telling and known and len(known) == len(codes):
        telling = known
    if not telling:
        return (
            f"{PREFIX} (killed for memory, or crashed); score with fewer --workers (or 1) to "
            "give each more memory"
        )
    causes = [_cause(c, start_method, main_script) for c in dict.fromkeys(telling)]
    return f"{PREFIX}: " + "; ".join(causes)

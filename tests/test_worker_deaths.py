"""A dead DIS-scoring worker is reported with its cause, read from its exit code.

Every death used to be reported as "killed for memory, or crashed" with advice to lower
--workers. A script without an ``if __name__ == "__main__":`` guard that scored with two workers
after importing torch (spawned workers, each re-running the script) was reported that way, and
the memory it was blamed on was not the cause.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pmgsam.evaluation import scoring
from pmgsam.evaluation.worker_deaths import dead_worker_message

ROOT = Path(__file__).resolve().parents[1]


def _pairs(tmp_path: Path) -> list:
    pairs = []
    for i in range(2):
        gt = np.zeros((16, 20), np.uint8)
        gt[3 : 9 + i, 4:14] = 255
        Image.fromarray(gt).save(tmp_path / f"g{i}.png")
        Image.fromarray(gt // 2).save(tmp_path / f"p{i}.png")
        pairs.append((f"img{i}", str(tmp_path / f"p{i}.png"), str(tmp_path / f"g{i}.png"), None))
    return pairs


def test_an_unguarded_script_is_told_about_the_main_guard(tmp_path: Path) -> None:
    script = tmp_path / "score_unguarded.py"
    # Spawn as benchmark mode does once torch is imported, without paying torch's import.
    script.write_text(
        textwrap.dedent(
            f"""
            import multiprocessing as mp
            from pmgsam.evaluation import scoring
            scoring._mp_context = lambda: mp.get_context("spawn")
            scoring.cpu_share = lambda: 2
            scoring.evaluate_dis_pairs({_pairs(tmp_path)!r}, workers=2, with_hce=False,
                                       progress=False)
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode != 0
    # The workers' own tracebacks and exit-time warnings surround this process's error.
    errors = [line for line in done.stderr.splitlines() if "worker process died" in line]
    assert len(errors) == 1, done.stderr[-3000:]
    assert 'if __name__ == "__main__":' in errors[0] and str(script) in errors[0]
    assert "memory" not in errors[0]  # memory was not the cause


def _killed(item):
    os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer ends a worker


def _death_message(tmp_path, monkeypatch, score) -> str:
    """The error of two-worker DIS scoring whose workers run ``score`` (a module-level
    function: spawned workers, when torch is imported, unpickle it from this module)."""
    monkeypatch.setattr(scoring, "cpu_share", lambda: 2)
    monkeypatch.setattr(scoring, "_score_indexed", score)
    with pytest.raises(RuntimeError, match="worker process died") as err:
        scoring.evaluate_dis_pairs(_pairs(tmp_path), workers=2, with_hce=False, progress=False)
    return str(err.value)


def test_a_worker_killed_by_sigkill_is_told_to_use_fewer_workers(tmp_path, monkeypatch) -> None:
    text = _death_message(tmp_path, monkeypatch, _killed)
    assert "SIGKILL" in text and "fewer --workers" in text


def test_the_workers_the_executor_ended_are_not_the_cause() -> None:
    # The executor ends the survivors with SIGTERM; the crash is the other worker's SIGSEGV.
    text = dead_worker_message([-signal.SIGTERM, -signal.SIGSEGV], "fork")
    assert "SIGSEGV" in text and "SIGTERM" not in text and "memory" not in text


def test_a_forked_worker_that_exits_is_not_blamed_on_the_main_guard() -> None:
    # Forked workers do not re-run the script: the guard cannot be the cause.
    text = dead_worker_message([1, -signal.SIGTERM], "fork", main_script="/x/run.py")
    assert "status 1" in text and "__main__" not in text


def test_unknown_exit_codes_keep_the_general_advice() -> None:
    text = dead_worker_message([None, None], "spawn", main_script="/x/run.py")
    assert "killed for memory, or crashed" in text and "fewer --workers" in text


def _terminated(item):
    os.kill(os.getpid(), signal.SIGTERM)  # as a job scheduler or earlyoom ends a process


def test_a_worker_ended_from_outside_is_not_called_a_crash(tmp_path, monkeypatch) -> None:
    # The executor ends the other worker with SIGTERM too: every code is SIGTERM, and that
    # signal came from another process, not from a failure in native code.
    text = _death_message(tmp_path, monkeypatch, _terminated)
    assert "SIGTERM" in text and "another process" in text and "crash" not in text


def test_the_executors_sigterm_beside_an_unknown_code_is_not_the_cause() -> None:
    # The worker that died first has no code yet; the other one's SIGTERM is the executor's.
    text = dead_worker_message([None, -signal.SIGTERM], "fork")
    assert "SIGTERM" not in text and "killed for memory, or crashed" in text


def test_a_negative_code_is_explained_where_signal_has_no_sigkill(monkeypatch) -> None:
    # Windows' signal module has no SIGKILL: the comparison with it must not raise there.
    monkeypatch.delattr(signal, "SIGKILL")
    text = dead_worker_message([-signal.SIGSEGV], "spawn")
    assert "SIGSEGV" in text and "crash in native code" in text

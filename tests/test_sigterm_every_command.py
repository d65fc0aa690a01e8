"""Every command stops on SIGTERM (Slurm's preemption, ``kill -TERM -PGID``) as on Ctrl-C:
``run_cli`` raises it as an interruption (exit status 130, ``<prog>: interrupted``) instead
of Python's default, a death without a word; forked scoring workers stopped by their pool end
without a traceback; a repeat SIGTERM while the first is handled stays ignored."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from pmgsam.utils.cli import EXIT_INTERRUPTED


def _python(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_sigterm_stops_any_command_as_an_interruption():
    done = _python(
        """
        import os, signal, time
        from pmgsam.utils.cli import run_cli

        def main():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(20)
            print("not stopped")

        run_cli(main, "pmgsam-cmd")
        """
    )
    assert done.returncode == EXIT_INTERRUPTED, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "pmgsam-cmd: interrupted"
    assert "not stopped" not in done.stdout


def test_a_repeat_sigterm_stays_ignored_until_the_outermost_use_ends():
    # The inner use (the trainer's, inference's) raised the first; the command's cleanup after
    # it must not be cut short by a second one from the outer use (run_cli's).
    done = _python(
        """
        import os, signal, time
        from pmgsam.utils.signals import Terminated, sigterm_interrupts

        with sigterm_interrupts():
            try:
                with sigterm_interrupts():
                    os.kill(os.getpid(), signal.SIGTERM)
                    time.sleep(20)
            except Terminated:
                os.kill(os.getpid(), signal.SIGTERM)
                print("cleanup finished")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "cleanup finished"


def test_forked_scoring_workers_stopped_by_their_pool_end_without_a_traceback():
    done = _python(
        """
        import multiprocessing as mp, time
        from concurrent.futures import ProcessPoolExecutor
        from pmgsam.evaluation import scoring
        from pmgsam.utils.signals import sigterm_interrupts

        with sigterm_interrupts():
            pool = ProcessPoolExecutor(
                2, mp_context=mp.get_context("fork"), initializer=scoring._init_worker
            )
            # Idle workers, waiting for a task, as after a split's last pair.
            for future in [pool.submit(time.sleep, 0.2) for _ in range(2)]:
                future.result()
            scoring._stop_pool(pool)
            time.sleep(1)  # what the stopped workers print
        print("stopped")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stopped"
    assert "Traceback" not in done.stderr, done.stderr

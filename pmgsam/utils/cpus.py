"""How many CPUs this process may use, and the data-loading worker count that fits them."""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)


def available_cpus() -> int:
    """The CPUs this process may run on: its affinity mask where the OS has one (Linux:
    ``taskset``, cgroup cpusets, a Slurm allocation), else ``os.cpu_count()``."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def loader_workers(requested: int, option: str = "data.num_workers", log: bool = True) -> int:
    """``requested`` data-loading workers, capped at :func:`available_cpus` (with ``log``, one
    info line says so when it applies): more worker processes than CPUs only take turns on
    them, and each costs a process start and its memory. The configs' values are meant for GPU
    machines with many cores; a 2-core laptop then loads with 2."""
    cpus = available_cpus()
    if requested <= cpus:
        return requested
    if not log:
        return cpus
    logger.info(
        "%s=%d but this process may use %d CPU(s): loading data with %d worker(s)",
        option, requested, cpus, cpus,
    )  # fmt: skip
    return cpus

"""How many CPUs this process may use, and the worker count (data loading, DIS scoring) and
the torch thread count (CPU prediction) that fit them."""

from __future__ import annotations

import logging
import math
import os
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Iterator, List, Optional, Set, Tuple

from pmgsam.utils.config import ConfigError

logger = logging.getLogger(__name__)

# The cap lines already logged: a run that loads several splits (or trains several ablation
# configs) says each once, not once per split.
_said: Set[str] = set()


# A container's CPU limit (``docker run --cpus``, a Kubernetes CPU limit) is a quota of CPU time
# per period, in cgroup v2's cpu.max ("<quota> <period>", quota "max" for none) or cgroup v1's
# two files (quota -1 for none). It leaves the affinity mask whole: a 2-CPU container on a
# 64-core host sees 64 CPUs there. A quota set on a parent cgroup (a systemd slice, a Kubernetes
# pod around its containers) holds for every cgroup below it, so the limit in effect is the
# smallest along the path from the process's cgroup (/proc/self/cgroup) up to the mount.
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
CGROUP_V2_DIR = Path("/sys/fs/cgroup")
CGROUP_V1_CPU_DIR = Path("/sys/fs/cgroup/cpu")


def _own_cgroups() -> Tuple[Optional[str], Optional[str]]:
    """(v2 path, v1 cpu controller path) of this process's cgroups as /proc/self/cgroup names
    them ("0::<path>", "<id>:<controllers with cpu>:<path>"); None for one it does not name,
    both where it cannot be read."""
    try:
        text = PROC_SELF_CGROUP.read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None, None
    v2 = v1 = None
    for line in text.splitlines():
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        hierarchy, controllers, path = fields
        if hierarchy == "0" and not controllers:
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    return v2, v1


def _path_to(mount: Path, path: Optional[str]) -> List[Path]:
    """``mount`` and each folder below it down to ``mount/path``: the cgroup and its ancestors
    as mounted. ``mount`` alone where ``path`` is unknown, not absolute or climbs (``..``); a
    folder that does not exist (a path outside a container's mount) is simply not read."""
    folders = [mount]
    if not path or not path.startswith("/"):
        return folders
    parts = PurePosixPath(path).parts[1:]
    if ".." in parts:
        return folders
    for part in parts:
        folders.append(folders[-1] / part)
    return folders


def _v2_limit(folder: Path) -> Optional[Tuple[str, str]]:
    try:
        quota, period = (folder / "cpu.max").read_text(encoding="utf-8").split()
        return quota, period
    except (OSError, ValueError):
        return None


def _v1_limit(folder: Path) -> Optional[Tuple[str, str]]:
    try:
        quota = (folder / "cpu.cfs_quota_us").read_text(encoding="utf-8").strip()
        return quota, (folder / "cpu.cfs_period_us").read_text(encoding="utf-8").strip()
    except (OSError, ValueError):
        return None


def _cpus_of(found: Optional[Tuple[str, str]]) -> Optional[int]:
    """quota / period of one cgroup's (quota, period) texts, rounded up (a limit of 1.5 CPUs
    keeps 2 busy part of the time); None for no limit or an unexpected text."""
    if found is None or found[0] == "max":
        return None
    try:
        quota, period = int(found[0]), int(found[1])
    except ValueError:
        return None
    if quota <= 0 or period <= 0:  # v1's -1: no limit
        return None
    return max(1, math.ceil(quota / period))


def cpu_quota() -> Optional[int]:
    """The CPUs' worth of time this process may use per period: the smallest cgroup CPU quota
    (quota / period, rounded up) of its cgroup and the ancestors mounted above it, v2 and v1;
    None without a limit or where none can be read (not Linux, unreadable or unexpected
    files)."""
    v2, v1 = _own_cgroups()
    limits = [_cpus_of(_v2_limit(folder)) for folder in _path_to(CGROUP_V2_DIR, v2)]
    limits += [_cpus_of(_v1_limit(folder)) for folder in _path_to(CGROUP_V1_CPU_DIR, v1)]
    found = [limit for limit in limits if limit is not None]
    return min(found) if found else None


def available_cpus() -> int:
    """The CPUs this process may run on: its affinity mask where the OS has one (Linux:
    ``taskset``, cgroup cpusets, a Slurm allocation), else ``os.cpu_count()``; fewer where its
    cgroup's CPU quota (:func:`cpu_quota`) is smaller."""
    if hasattr(os, "sched_getaffinity"):
        cpus = max(1, len(os.sched_getaffinity(0)))
    else:
        cpus = max(1, os.cpu_count() or 1)
    quota = cpu_quota()
    return cpus if quota is None else min(cpus, quota)


def local_processes() -> int:
    """The processes of this job on this node: ``LOCAL_WORLD_SIZE`` (which ``torchrun`` sets for
    each rank it starts), else 1."""
    text = os.environ.get("LOCAL_WORLD_SIZE", "").strip()
    if not text:
        return 1
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(
            f"environment variable LOCAL_WORLD_SIZE={text!r} is not a positive integer (torchrun "
            "sets it to the number of processes it starts on this node); unset it or fix it"
        )
    return value


def cpu_share() -> int:
    """The CPUs each of this node's processes may count on (at least 1):
    :func:`available_cpus` divided among :func:`local_processes`. ``torchrun``'s ranks on one
    node inherit one affinity mask, so each rank taking all of it would start that many times
    the workers the CPUs can run."""
    return max(1, available_cpus() // local_processes())


def loader_workers(
    requested: int,
    option: str = "data.num_workers",
    log: bool = True,
    purpose: str = "loading data",
) -> int:
    """``requested`` workers, capped at :func:`cpu_share`: more worker processes than CPUs only
    take turns on them, and each costs a process start and its memory. The configs' values are
    meant for GPU machines with many cores; a 2-core laptop then loads with 2, and each of 4
    ``torchrun`` ranks on a 16-CPU node with 4.

    With ``log``, one info line says so when the cap applies (naming ``option``, the setting
    the user gave, and ``purpose``), once per process for the same values."""
    share = cpu_share()
    if requested <= share:
        return requested
    if log:
        processes = local_processes()
        if processes == 1:
            where = f"this process may use {share} CPU(s)"
        else:
            where = (
                f"this process shares {available_cpus()} CPU(s) among {processes} processes "
                f"on this node (LOCAL_WORLD_SIZE={processes})"
            )
        say_once(f"{option}={requested} but {where}: {purpose} with {share} worker(s)")
    return share


def threads_beside(workers: int) -> int:
    """torch intra-op threads for CPU prediction beside ``workers`` loader processes: what is
    left of :func:`cpu_share` once each worker has a CPU, at least 1. torch's own default (one
    thread per core) ignores the workers; together they oversubscribe the CPUs, and OpenMP
    thread teams then wait on each other (on a shared 2-core machine the demo model predicted
    an image in 0.8-1.3 s with 2 threads beside 2 workers, in 0.2-0.3 s with 1: BENCHMARKS.md,
    "CPU prediction")."""
    return max(1, cpu_share() - max(0, workers))


def say_once(message: str) -> None:
    """Log ``message`` at info level once per process (a run predicting several splits says
    each cap once)."""
    if message not in _said:
        _said.add(message)
        logger.info("%s", message)


@contextmanager
def torch_threads(threads: Optional[int]) -> Iterator[None]:
    """Run the enclosed code on ``threads`` torch intra-op threads (None: torch's own count),
    then restore the count it had."""
    import torch  # here: the DIS scoring path imports this module and no torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)

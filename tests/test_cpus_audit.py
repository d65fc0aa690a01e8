"""``pmgsam.utils.cpus`` with the OS faked: a container's cgroup CPU quota (v2 cpu.max, v1
cfs files) caps the CPUs counted, and so does one of a parent cgroup (the smallest along the
path /proc/self/cgroup names), a rank's share rounds down, a request equal to the share is
not a cap, and ``torch_threads`` gives the thread count back however its block ends."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List

import pytest
import torch

from pmgsam.utils import cpus
from pmgsam.utils.cpus import (
    available_cpus,
    cpu_quota,
    cpu_share,
    loader_workers,
    threads_beside,
    torch_threads,
)


@pytest.fixture
def cgroup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """cgroup files under ``tmp_path`` (none written yet: v2 mounted there, v1's cpu controller
    at ``cpu/``, /proc/self/cgroup as ``proc_self_cgroup``), 64 CPUs in the affinity mask."""
    monkeypatch.setattr(cpus, "PROC_SELF_CGROUP", tmp_path / "proc_self_cgroup")
    monkeypatch.setattr(cpus, "CGROUP_V2_DIR", tmp_path)
    monkeypatch.setattr(cpus, "CGROUP_V1_CPU_DIR", tmp_path / "cpu")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.setattr(cpus, "_said", set())
    return tmp_path


def _v1(root: Path, quota: str, period: str) -> None:
    (root / "cpu").mkdir()
    (root / "cpu" / "cpu.cfs_quota_us").write_text(quota + "\n")
    (root / "cpu" / "cpu.cfs_period_us").write_text(period + "\n")


@pytest.mark.parametrize(
    "text, cpus_counted",
    [
        ("200000 100000\n", 2),  # docker --cpus=2: quota first, then period
        ("100000 400000\n", 1),  # a quarter CPU: still one, not 0 (nor the period/quota 4)
        ("150000 100000\n", 2),  # 1.5 CPUs keep 2 busy part of the time
        ("6400000 100000\n", 64),
        ("12800000 100000\n", 64),  # a quota above the affinity mask does not add CPUs
        ("max 100000\n", 64),  # no limit
        ("garbled\n", 64),
        ("150000.0 100000\n", 64),  # not the kernel's integers: no limit read
    ],
)
def test_cgroup_v2_quota_caps_the_cpus(cgroup: Path, text: str, cpus_counted: int) -> None:
    (cgroup / "cpu.max").write_text(text)
    assert available_cpus() == cpus_counted


def test_cgroup_v1_quota_and_no_quota(cgroup: Path) -> None:
    assert cpu_quota() is None and available_cpus() == 64  # no cgroup files (macOS, Windows)
    _v1(cgroup, "300000", "100000")
    assert cpu_quota() == 3 and available_cpus() == 3
    (cgroup / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")  # v1's "no limit"
    assert cpu_quota() is None and available_cpus() == 64


def _limit(folder: Path, text: str, name: str = "cpu.max") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


@pytest.mark.parametrize(
    "slice_limit, leaf_limit, root_limit, cpus_counted",
    [
        ("300000 100000", "max 100000", None, 3),  # a systemd slice's limit, none of its own
        ("400000 100000", "200000 100000", "max 100000", 2),  # its own is the smaller
        ("200000 100000", "400000 100000", None, 2),  # the slice's is the smaller
        ("max 100000", "max 100000", "500000 100000", 5),  # the mount's (a container's own)
    ],
)
def test_cgroup_v2_limit_is_the_smallest_along_the_path(
    cgroup: Path, slice_limit: str, leaf_limit: str, root_limit, cpus_counted: int
) -> None:
    (cgroup / "proc_self_cgroup").write_text("0::/system.slice/job.service\n")
    _limit(cgroup / "system.slice", slice_limit + "\n")
    _limit(cgroup / "system.slice" / "job.service", leaf_limit + "\n")
    if root_limit:
        _limit(cgroup, root_limit + "\n")
    assert cpu_quota() == cpus_counted and available_cpus() == cpus_counted


def test_cgroup_v1_limit_of_a_parent_caps_the_cpus(cgroup: Path) -> None:
    lines = ["12:pids:/kubepods/pod1/ctr", "4:cpu,cpuacct:/kubepods/pod1/ctr", "0::/"]
    (cgroup / "proc_self_cgroup").write_text("\n".join(lines) + "\n")
    pod, ctr = cgroup / "cpu" / "kubepods" / "pod1", cgroup / "cpu" / "kubepods" / "pod1" / "ctr"
    for folder, quota in ((pod, "150000"), (ctr, "-1")):
        _limit(folder, quota + "\n", "cpu.cfs_quota_us")
        _limit(folder, "100000\n", "cpu.cfs_period_us")
    assert cpu_quota() == 2 and available_cpus() == 2


@pytest.mark.parametrize(
    "proc_text",
    [
        b"0::/docker/abc\n",  # a path outside the mount (a container without its own namespace)
        b"0::/../outside\n",  # climbing out of the mount: not followed
        b"0::relative/path\n",
        b"garbled\n::\n0:\n",
        b"0::/\xff\xfe\n",  # not UTF-8
        b"0::/a\x00b\n",  # a NUL, which no path may hold
    ],
)
def test_odd_proc_self_cgroup_falls_back_to_the_mount(
    cgroup: Path, monkeypatch: pytest.MonkeyPatch, proc_text: bytes
) -> None:
    monkeypatch.setattr(cpus, "CGROUP_V2_DIR", cgroup / "mnt")
    (cgroup / "proc_self_cgroup").write_bytes(proc_text)
    _limit(cgroup / "mnt", "200000 100000\n")
    _limit(cgroup / "outside", "100000 100000\n")  # beside the mount, not under it
    assert cpu_quota() == 2


def test_a_cgroup_file_that_cannot_be_read_is_skipped(cgroup: Path) -> None:
    (cgroup / "proc_self_cgroup").write_text("0::/a/b\n")
    (cgroup / "a" / "cpu.max").mkdir(parents=True)  # a folder where the file would be
    _limit(cgroup / "a" / "b", "300000 100000\n")
    assert cpu_quota() == 3


def test_a_container_quota_caps_the_workers_and_threads(
    cgroup: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (cgroup / "cpu.max").write_text("200000 100000\n")
    with caplog.at_level("INFO"):
        assert loader_workers(8) == 2
    assert "data.num_workers=8 but this process may use 2 CPU(s)" in caplog.text
    assert threads_beside(1) == 1


def test_without_affinity_an_unknown_cpu_count_is_one(
    cgroup: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # os.cpu_count's "cannot tell"
    assert available_cpus() == 1


def test_a_share_rounds_down_and_an_equal_request_is_not_capped(
    cgroup: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", " 2 ")  # as a shell may pass it
    assert cpu_share() == 1  # 3 CPUs between 2 ranks: 2 each would run 4 on 3
    monkeypatch.setenv("LOCAL_WORLD_SIZE", " ")  # blank, as unset
    assert cpu_share() == 3
    monkeypatch.delenv("LOCAL_WORLD_SIZE")
    with caplog.at_level("INFO"):
        assert loader_workers(3) == 3
        assert loader_workers(5, log=False) == 3
    assert caplog.text == ""


@pytest.mark.parametrize("workers, threads", [(0, 4), (1, 3), (3, 1), (4, 1), (9, 1)])
def test_threads_beside_workers_leave_each_worker_a_cpu(
    cgroup: Path, monkeypatch: pytest.MonkeyPatch, workers: int, threads: int
) -> None:
    monkeypatch.setattr(cpus, "cpu_share", lambda: 4)
    assert threads_beside(workers) == threads


def test_torch_threads_restores_the_count_also_after_an_error() -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(3)  # not 1, which the block sets
    seen: List[int] = []
    try:
        with pytest.raises(KeyError):
            with torch_threads(1):
                seen.append(torch.get_num_threads())
                raise KeyError("the block failed")
        assert torch.get_num_threads() == 3
        with torch_threads(None):
            seen.append(torch.get_num_threads())
        assert seen == [1, 3] and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)

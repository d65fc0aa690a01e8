"""The cgroup CPU quota of ``pmgsam.utils.cpus`` on /proc/self/cgroup lines and cgroup files the
first tests left open: the cpuset controller beside the cpu one (cgroup v1), a v1 quota file
that is not UTF-8, and a relative path (which the kernel never writes: not followed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pmgsam.utils import cpus
from pmgsam.utils.cpus import cpu_quota


@pytest.fixture
def mounts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """v2 mounted at ``tmp_path/v2``, v1's cpu controller at ``tmp_path/cpu``, /proc/self/cgroup
    as ``tmp_path/proc_self_cgroup``; 64 CPUs in the affinity mask."""
    monkeypatch.setattr(cpus, "PROC_SELF_CGROUP", tmp_path / "proc_self_cgroup")
    monkeypatch.setattr(cpus, "CGROUP_V2_DIR", tmp_path / "v2")
    monkeypatch.setattr(cpus, "CGROUP_V1_CPU_DIR", tmp_path / "cpu")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    monkeypatch.setattr(cpus, "_said", set())
    return tmp_path


def _v1_limit(folder: Path, quota: bytes, period: bytes = b"100000\n") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cpu.cfs_quota_us").write_bytes(quota)
    (folder / "cpu.cfs_period_us").write_bytes(period)


def test_the_cpuset_controller_line_is_not_the_cpu_controller(mounts: Path) -> None:
    # "cpuset" holds "cpu" as text: its path (listed after the cpu line here) is not where the
    # cpu controller's quota is.
    lines = ["4:cpu,cpuacct:/kubepods/pod1/ctr", "5:cpuset:/elsewhere", "0::/"]
    (mounts / "proc_self_cgroup").write_text("\n".join(lines) + "\n")
    _v1_limit(mounts / "cpu" / "kubepods" / "pod1" / "ctr", b"300000\n")
    _v1_limit(mounts / "cpu" / "elsewhere", b"100000\n")
    assert cpu_quota() == 3


def test_a_v1_quota_file_that_is_not_utf8_is_skipped(mounts: Path) -> None:
    (mounts / "proc_self_cgroup").write_text("4:cpu,cpuacct:/a\n")
    _v1_limit(mounts / "cpu", b"\xff\xfe\n")
    _v1_limit(mounts / "cpu" / "a", b"200000\n")
    assert cpu_quota() == 2


def test_a_relative_cgroup_path_is_not_followed(mounts: Path) -> None:
    # Taken for absolute, "a/b" would lead to v2/b (its first part dropped): the mount's own
    # limit holds alone.
    (mounts / "proc_self_cgroup").write_text("0::a/b\n")
    for folder, text in (
        (mounts / "v2", "300000 100000\n"),
        (mounts / "v2" / "b", "100000 100000\n"),
    ):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cpu.max").write_text(text)
    assert cpu_quota() == 3

"""How many threads the analyses' per-image work runs on (:mod:`pmgsam.analysis.per_image`):
the CPUs this process may count on, at most MAX_THREADS, or exactly as many as asked."""

from __future__ import annotations

import threading

import pmgsam.utils.cpus as cpus
from pmgsam.analysis.per_image import MAX_THREADS, image_threads, map_images


def test_image_threads_follow_the_cpus_up_to_the_cap(monkeypatch) -> None:
    for share, expected in ((1, 1), (3, 3), (MAX_THREADS + 56, MAX_THREADS)):
        monkeypatch.setattr(cpus, "cpu_share", lambda share=share: share)
        assert image_threads() == expected


def test_one_thread_asked_runs_in_the_calling_thread(monkeypatch) -> None:
    monkeypatch.setattr(cpus, "cpu_share", lambda: 4)
    names = map_images(lambda i: threading.current_thread().name, [1, 2, 3], "t", False, 1)
    assert names == [threading.current_thread().name] * 3
    # Left to the default, 4 CPUs give a pool: the items run on its threads, still in order.
    items = list(range(20))
    assert map_images(lambda i: i * i, items, "t", False) == [i * i for i in items]
    pooled = map_images(lambda i: threading.current_thread().name, [1, 2], "t", False)
    assert threading.current_thread().name not in pooled

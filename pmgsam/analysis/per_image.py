"""Per-image work of the analyses (the figures' IoU ranking, the overlap subset, the Pre-Mask
analysis' scores): in order, on threads, with a progress bar, so that a 2000-image split
neither waits on one core nor runs in silence."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List, Optional, Sequence, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# PNG decoding and most NumPy / OpenCV calls release the GIL, but the threads also hold two
# decoded maps each: more than this gains little and costs memory on many-core machines.
MAX_THREADS = 8


def image_threads() -> int:
    """Threads for per-image work: the CPUs this process may count on, at most
    :data:`MAX_THREADS`."""
    from pmgsam.utils.cpus import cpu_share

    return max(1, min(cpu_share(), MAX_THREADS))


def map_images(
    work: Callable[[Item], Result],
    items: Sequence[Item],
    desc: str,
    progress: bool = True,
    threads: Optional[int] = None,
    unit: str = "img",
) -> List[Result]:
    """``work(item)`` of every item, in the items' order, on ``threads`` threads (default
    :func:`image_threads`), with a tqdm bar over the items (counted in ``unit``) headed
    ``desc`` unless ``progress`` is False. The first error is raised as ``work`` raised it;
    the items not started yet are dropped."""
    from tqdm import tqdm

    threads = image_threads() if threads is None else threads
    results: List[Result] = []
    # As a context: an error closes the bar first, so its message gets a line of its own.
    with tqdm(total=len(items), desc=desc, unit=unit, disable=not progress) as bar:
        if threads <= 1 or len(items) < 2:
            for item in items:
                results.append(work(item))
                bar.update()
            return results
        # On an error, Executor.map cancels the items not started yet.
        with ThreadPoolExecutor(threads) as pool:
            for result in pool.map(work, items):
                results.append(result)
                bar.update()
    return results

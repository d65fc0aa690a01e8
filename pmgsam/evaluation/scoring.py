"""Score a folder of predicted probability maps against a folder of GT masks (DIS protocol).

Files are paired by stem. Every GT needs a prediction and every prediction a GT; sizes must
match unless ``resize_pred`` is set (bilinear resize to the GT size, as the DIS / SOD evaluation
tools do). Images are scored in worker processes and aggregated as PySODMetrics does. The
pairing and the size checks live in :mod:`pmgsam.evaluation.map_pairs`, whose names other
modules import from here (``EvaluationInputError``, ``check_sizes``, ...: see ``__all__``). The
scores are written and printed by :mod:`pmgsam.evaluation.dis_results`.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterator, List, Sequence, Tuple, Union

from pmgsam.data.io import MASK_EXTENSIONS, DataError, load_mask
from pmgsam.data.layouts import skeleton_files
from pmgsam.utils.cpus import cpu_share, loader_workers
from pmgsam.utils.messages import preview
from pmgsam.utils.signals import default_sigterm, sigterm_held

from .map_pairs import (
    EvaluationInputError,
    check_sizes,
    list_images,
    map_at_gt_size,
    pair_folders,
)
from .worker_deaths import dead_worker_message, exit_codes

# dis_metrics (OpenCV, SciPy) is imported only where images are scored (see _start_pool).
if TYPE_CHECKING:
    from .dis_metrics import ImageMetrics

__all__ = [
    "DisPair",
    "EvaluationInputError",
    "PathLike",
    "check_sizes",
    "evaluate_dis_folder",
    "evaluate_dis_pairs",
    "list_images",
    "map_at_gt_size",
    "pair_folders",
]

PathLike = Union[str, os.PathLike]


ScoreJob = Tuple[str, str, str, Union[str, None], bool, Union[str, None], bool]
Caught = List[Tuple[type, str]]


class EmptyGTWarning(UserWarning):
    """GT masks without foreground in a DIS scoring: maxFβ and wFβ are 0 on each whatever is
    predicted (PySODMetrics' convention), so they pull the split's F scores down."""


def _score_one(job: ScoreJob) -> Tuple[ImageMetrics, Caught]:
    """Metrics of one pair, and the warnings its files raised (re-issued by the parent)."""
    from .dis_metrics import image_metrics

    stem, pred_path, gt_path, ske_path, resize_pred, resize_option, with_hce = job
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pred = load_mask(pred_path, "prediction", labels_01=False)
        gt = load_mask(gt_path, "GT mask")
        ske = None
        if with_hce and ske_path is not None and os.path.exists(ske_path):
            ske = load_mask(ske_path, "GT skeleton")
        if not (gt > 128).any():
            # Named with the others, in one line, by the parent.
            warnings.warn(str(gt_path), EmptyGTWarning, stacklevel=1)
    pred = map_at_gt_size(pred, gt, pred_path, gt_path, resize_pred, resize_option)
    if ske is not None:
        if ske.shape != gt.shape:
            raise EvaluationInputError(f"{ske_path}: size {ske.shape} differs from GT")
        ske = ske > 128
    result = image_metrics(pred, gt, gt_skeleton=ske, name=stem, with_hce=with_hce)
    return result, [(w.category, str(w.message)) for w in caught]


def _score_indexed(item: Tuple[int, ScoreJob]) -> Tuple[int, ImageMetrics, Caught]:
    result, caught = _score_one(item[1])
    return item[0], result, caught


def reissue_warnings(caught: Caught) -> None:
    """One warning per category; many files of one kind are listed in a single line."""
    by_category: Dict[type, List[str]] = {}
    for category, message in caught:
        by_category.setdefault(category, []).append(message)
    for category, messages in by_category.items():
        if len(messages) == 1:
            warnings.warn(messages[0], category, stacklevel=3)
        else:
            warnings.warn(f"{len(messages)} files: " + preview(messages, 5), category, stacklevel=3)


def _init_worker(forked: bool = False) -> None:
    import cv2

    default_sigterm()  # a forked worker ends quietly when the pool is stopped

    from . import dis_metrics

    dis_metrics.load_scipy()  # a no-op in forked workers

    # Worker processes already give the parallelism; OpenCV's own threads would oversubscribe.
    # A forked worker got one thread from _start_pool: setting it here would wait forever on
    # the thread pool the parent had (its idle threads are not in the child).
    if not forked:
        cv2.setNumThreads(1)


def _mp_context() -> mp.context.BaseContext:
    # Forking a process that has started torch / CUDA threads can deadlock the children.
    if sys.platform.startswith("linux") and "torch" not in sys.modules:
        return mp.get_context("fork")
    return mp.get_context("spawn")


DisPair = Tuple[str, PathLike, PathLike, Union[PathLike, None]]


def _start_pool(workers: int, jobs_hint: int | None = None) -> ProcessPoolExecutor | None:
    """A worker pool, or None to score in this process.

    An executor, not ``multiprocessing.Pool``: when a worker dies (the kernel's OOM killer on
    large maps, a crash in a native library) the Pool replaces it and waits forever for its
    task, while the executor fails every pending task with ``BrokenProcessPool``.
    At most as many workers as the CPUs the process may use (one info line says so, naming the
    ``--workers`` the user gave), and no more than ``jobs_hint``.
    """
    n = workers if jobs_hint is None else min(workers, jobs_hint)
    if n > 1 and n > cpu_share():
        n = loader_workers(workers, "--workers", purpose="DIS scoring")
    if n <= 1:
        return None
    ctx = _mp_context()
    if ctx.get_start_method() != "fork":
        return ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_worker)
    # Forked workers share what this process imported: importing OpenCV / SciPy once here
    # costs half the CPU of importing them in two workers (measured ~1 s less on 2 busy
    # cores). Spawned workers import them in _init_worker while this process lists files.
    import cv2

    from . import dis_metrics

    dis_metrics.load_scipy()
    pool = ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_worker, initargs=(True,))
    # The workers' OpenCV runs on one thread. Set in a forked child, the count would wait
    # forever if this process had used OpenCV's thread pool (a caller's own resize or blur):
    # so it is set here, where the pool's threads exist, for the fork. The first submit forks
    # every worker before it returns (with fork, since Python 3.10.5: gh-90622; older ones
    # fork as tasks come, with the caller's count: more OpenCV threads, no hang); a worker
    # that fails to start is named by _completed.
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with sigterm_held():  # a worker stopped before _init_worker ends quietly
            pool.submit(int)
    except BaseException:
        _stop_pool(pool)
        raise
    finally:
        cv2.setNumThreads(threads)
    return pool


def _score_pairs(
    pairs: Sequence[DisPair],
    pool: ProcessPoolExecutor | None,
    resize_pred: bool,
    with_hce: bool,
    progress: bool,
    resize_option: str | None = "--resize-pred",
) -> Tuple[Dict[str, object], List[ImageMetrics]]:
    if not pairs:
        raise EvaluationInputError("nothing to evaluate: no prediction/GT pairs")
    triples = [(s, Path(p), Path(g)) for s, p, g, _ in pairs]
    pixels = check_sizes(triples, resize_pred, resize_option)
    jobs = [
        (stem, str(p), str(g), None if k is None else str(k), resize_pred, resize_option, with_hce)
        for stem, p, g, k in pairs
    ]
    # Largest images first: with mixed sizes, no worker is left alone with an 8 MP image at
    # the end while the others idle.
    order = sorted(range(len(jobs)), key=lambda i: -pixels[i])
    indexed = [(i, jobs[i]) for i in order]
    from tqdm import tqdm

    results: List[ImageMetrics | None] = [None] * len(jobs)
    caught: Caught = []
    done = map(_score_indexed, indexed) if pool is None else _completed(pool, indexed)
    # As a context: a failure closes the bar first, so the error gets a line of its own.
    with tqdm(total=len(jobs), desc="DIS metrics", unit="img", disable=not progress) as bar:
        for i, result, notes in done:
            results[i] = result
            caught.extend(notes)
            bar.update()
    _warn_of_empty_gts([m for c, m in caught if c is EmptyGTWarning], len(jobs))
    reissue_warnings([(c, m) for c, m in caught if c is not EmptyGTWarning])
    from .dis_metrics import aggregate

    final = [r for r in results if r is not None]
    return aggregate(final), final


def _warn_of_empty_gts(empty: Sequence[str], total: int) -> None:
    if empty:
        warnings.warn(
            f"{len(empty)} of {total} GT mask(s) have no foreground (no pixel above 128), "
            "where maxFβ and wFβ are 0 whatever is predicted, so they lower the F scores of "
            f"the set: {preview(sorted(empty), 5)}. COD10K's NonCAM masks are empty: its "
            "protocol scores the CAM images only",
            EmptyGTWarning,
            stacklevel=3,
        )


def _completed(pool: ProcessPoolExecutor, indexed: Sequence) -> Iterator:
    """The jobs' results in the order they finish; a dead worker is named, not waited for."""
    futures = [pool.submit(_score_indexed, item) for item in indexed]
    # The workers are started by the submits; their exit codes say why one died.
    workers = dict(getattr(pool, "_processes", None) or {})
    try:
        for future in as_completed(futures):
            yield future.result()
    except BrokenProcessPool as err:
        # Private attributes: a Python without them keeps the general message.
        workers.update(getattr(pool, "_processes", None) or {})
        context = getattr(pool, "_mp_context", None)
        method = context.get_start_method() if context is not None else "spawn"
        codes = exit_codes(workers.values())
        raise RuntimeError(dead_worker_message(codes, method)) from err


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """End the workers now, as ``Pool.terminate`` did: after an error or an interrupt, a hung
    or busy worker must not hold the command (waiting would also wait for it at exit)."""
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
    else:
        for process in list((pool._processes or {}).values()):
            process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


@contextmanager
def _pool_closed(pool: ProcessPoolExecutor | None) -> Iterator[None]:
    """Close the pool: after a success its idle workers are asked to exit and waited for;
    terminating them then raced the executor's own threads, which could still be writing to
    the pipes the terminated workers read (an ``OSError: Bad file descriptor`` traceback at
    exit after correct scores). After an error or an interrupt they are ended at once."""
    if pool is None:
        yield
        return
    try:
        yield
    except BaseException:
        _stop_pool(pool)
        raise
    pool.shutdown(wait=True)


def evaluate_dis_pairs(
    pairs: Sequence[DisPair],
    workers: int = 1,
    resize_pred: bool = False,
    with_hce: bool = True,
    progress: bool = True,
    resize_option: str | None = "--resize-pred",
) -> Tuple[Dict[str, object], List[ImageMetrics]]:
    """Score explicit (stem, prediction, GT, skeleton or None) tuples; see evaluate_dis_folder.
    ``resize_option``: the caller's option setting ``resize_pred``, which a size-mismatch error
    names (None for a tool without one)."""
    if with_hce:
        _warn_of_missing_skeletons(pairs)
    pool = _start_pool(workers, len(pairs))
    with _pool_closed(pool):
        return _score_pairs(pairs, pool, resize_pred, with_hce, progress, resize_option)


def _warn_of_missing_skeletons(pairs: Sequence[DisPair]) -> None:
    """A DIS5K split with a ``ske/`` folder that lacks some GT's skeleton (benchmark, baseline
    and ablation scoring): named as ``--ske-dir`` scoring names them."""
    lacking = [
        Path(g) for _, _, g, k in pairs if k is None and (Path(g).parent.parent / "ske").is_dir()
    ]
    folders = sorted({str(g.parent.parent / "ske") for g in lacking})
    warn_missing_skeletons([g.name for g in lacking], len(pairs), ", ".join(folders))


def warn_missing_skeletons(missing: Sequence[str], total: int, ske_dir: str) -> None:
    """Name the GT masks (``missing`` of ``total``) without a skeleton in ``ske_dir``: their HCE
    uses a skeleton computed from the GT, as the official tool's does, and skeletons saved as
    .webp, or the wrong folder, would otherwise change HCE without a word."""
    if missing:
        warnings.warn(
            f"{len(missing)} of {total} GT mask(s) have no skeleton (<stem> with one of "
            f"{' '.join(MASK_EXTENSIONS)}) in {ske_dir}, so their HCE uses a skeleton computed "
            f"from the GT, as the official tool does: {preview(list(missing), 5)}",
            stacklevel=4,
        )


def evaluate_dis_folder(
    pred_dir: PathLike,
    gt_dir: PathLike,
    ske_dir: PathLike | None = None,
    workers: int = 1,
    resize_pred: bool = False,
    with_hce: bool = True,
    progress: bool = True,
) -> Tuple[Dict[str, object], List[ImageMetrics]]:
    """Score every GT image of ``gt_dir`` against the same-stem prediction of ``pred_dir``.

    Arguments:
        pred_dir: folder of predicted maps (uint8 PNG, 0-255).
        gt_dir: folder of GT masks.
        ske_dir: optional folder of GT skeletons for HCE, found as a DIS5K ``ske/`` folder's
            (:func:`pmgsam.data.layouts.skeleton_files`: ``<stem>`` with any mask extension);
            missing files fall back to the computed skeleton, as in the official tool, named
            in a warning.
        workers: worker processes (0 or 1 = in this process).
        resize_pred: resize predictions to the GT size instead of raising on a size mismatch.
        with_hce: compute HCE.
        progress: show a tqdm progress bar.

    Returns:
        (summary, per-image results); the summary holds the six metrics and ``num_images``.
    A ``pred_dir`` of colour pictures (the dataset's image folder) is refused
    (:func:`~pmgsam.evaluation.map_checks.refuse_colour_images`).
    """
    from .map_checks import refuse_colour_images, refuse_photo_gt

    # The workers start (and import OpenCV / SciPy) while this process lists the folders.
    pool = _start_pool(workers)
    with _pool_closed(pool):
        preds = list_images(pred_dir, "prediction")
        refuse_colour_images(preds.values(), pred_dir)  # an image folder
        gts = list_images(gt_dir, "GT mask")
        refuse_photo_gt(gts.values(), gt_dir)  # DIS-TE1/im given
        if Path(gt_dir).name.casefold() == "gt_edge":
            warnings.warn(
                f"the GT folder '{gt_dir}' holds COD10K's object edges, not its object masks "
                f"(GT_Object, beside it): scoring against the edges",
                stacklevel=2,
            )
        triples = pair_folders(pred_dir, gt_dir, listed=(preds, gts))
        skeletons: List[Path | None] = [None] * len(triples)
        if ske_dir is not None:
            try:  # the rule of a DIS5K split's ske/ folder (benchmark mode)
                skeletons = skeleton_files(Path(ske_dir), [stem for stem, _, _ in triples])
            except DataError as err:
                raise EvaluationInputError(str(err)) from err
        pairs: List[DisPair] = [(*t, ske) for t, ske in zip(triples, skeletons)]
        no_skeleton = [gt.name for (_, _, gt), ske in zip(triples, skeletons) if ske is None]
        if ske_dir is not None and with_hce:
            warn_missing_skeletons(no_skeleton, len(pairs), str(ske_dir))
        return _score_pairs(pairs, pool, resize_pred, with_hce, progress)

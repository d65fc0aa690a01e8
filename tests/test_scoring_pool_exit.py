"""DIS scoring's worker processes exit on their own after a successful scoring.

Terminating them after a success raced the executor's threads, which could still be writing to
the pipes those workers read: once in a while ``evaluate.py`` printed an ``OSError: [Errno 9]
Bad file descriptor`` traceback at exit, after correct scores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List

import numpy as np
import pytest
from PIL import Image

from pmgsam.evaluation import scoring


def _pairs(tmp_path: Path) -> list:
    pairs = []
    for i in range(2):
        gt = np.zeros((24, 32), np.uint8)
        gt[4 : 12 + i, 6:20] = 255
        pred = (gt // 2).astype(np.uint8)
        Image.fromarray(gt).save(tmp_path / f"g{i}.png")
        Image.fromarray(pred).save(tmp_path / f"p{i}.png")
        pairs.append((f"img{i}", tmp_path / f"p{i}.png", tmp_path / f"g{i}.png", None))
    return pairs


def test_workers_exit_with_status_0_after_a_success(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(scoring, "cpu_share", lambda: 2)
    workers: List[Any] = []
    score = scoring._score_pairs

    def recorded(pairs, pool, *args, **kwargs):
        out = score(pairs, pool, *args, **kwargs)
        workers.extend((pool._processes or {}).values())
        return out

    monkeypatch.setattr(scoring, "_score_pairs", recorded)
    summary, per_image = scoring.evaluate_dis_pairs(
        _pairs(tmp_path), workers=2, with_hce=False, progress=False
    )
    assert summary["num_images"] == 2 and len(per_image) == 2
    assert workers, "no worker process was started"
    for process in workers:
        process.join(timeout=10)
    # Terminated workers end by SIGTERM (exit code -15); asked to stop, they return 0.
    assert [p.exitcode for p in workers] == [0] * len(workers)


def test_an_error_still_ends_the_workers(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(scoring, "cpu_share", lambda: 2)
    pairs = _pairs(tmp_path)
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "p1.png")  # another size
    stopped: List[Any] = []
    stop = scoring._stop_pool
    monkeypatch.setattr(scoring, "_stop_pool", lambda pool: (stopped.append(pool), stop(pool)))
    with pytest.raises(scoring.EvaluationInputError):
        scoring.evaluate_dis_pairs(pairs, workers=2, with_hce=False, progress=False)
    assert len(stopped) == 1

"""The Pre-Mask analysis scores its maps on threads (:mod:`pmgsam.analysis.per_image`): its
outputs equal those of one map at a time, each score in its own source's row and image's row."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np

import pmgsam.analysis.per_image as per_image
import pmgsam.analysis.premask as premask

N = 6


def _sources(tmp_path: Path):
    """GT discs of six sizes; per source, maps that differ by image and by source (a prior at
    half the resolution), so a score in the wrong row changes the outputs."""
    rng = np.random.default_rng(0)
    gts, sources = [], {"Prior": [], premask.PREMASK: [], premask.FINAL: []}
    for i in range(N):
        gt = np.zeros((24, 32), np.uint8)
        cv2.circle(gt, (16, 12), 3 + i, 255, -1)
        gts.append(tmp_path / f"gt{i}.png")
        cv2.imwrite(str(gts[-1]), gt)
        for k, src in enumerate(sources):
            noisy = gt.astype(np.int16) + rng.integers(-60 * k - 20, 60 * k + 20, gt.shape)
            pred = np.clip(noisy, 0, 255).astype(np.uint8)
            if src == "Prior":
                pred = cv2.resize(pred, (16, 12), interpolation=cv2.INTER_AREA)
            sources[src].append(tmp_path / f"{k}_{i}.png")
            cv2.imwrite(str(sources[src][-1]), pred)
    return [f"im{i}" for i in range(N)], gts, sources


def _outputs(out: Path) -> dict:
    return {n: (out / n).read_bytes() for n in ("per_image.csv", "summary.json", "table5.md")}


def test_threaded_scores_equal_one_map_at_a_time(tmp_path, monkeypatch) -> None:
    names, gts, sources = _sources(tmp_path)
    score_map, threads = premask.score_map, set()

    def slow_score(map_path, gt_path, resize):  # slow enough that each thread takes a map
        threads.add(threading.get_ident())
        time.sleep(0.01)
        return score_map(map_path, gt_path, resize)

    monkeypatch.setattr(premask, "score_map", slow_score)
    monkeypatch.setattr(per_image, "image_threads", lambda: 1)
    one = premask.analyse(names, gts, sources, tmp_path / "one", progress=False)
    assert len(threads) == 1
    threads.clear()
    monkeypatch.setattr(per_image, "image_threads", lambda: 4)
    many = premask.analyse(names, gts, sources, tmp_path / "many", progress=False)
    assert len(threads) > 1  # scored on threads
    assert many == one and _outputs(tmp_path / "many") == _outputs(tmp_path / "one")
    # Each value in its own row and column: the CSV against score_map of that very pair.
    rows = (tmp_path / "many" / "per_image.csv").read_text().splitlines()[1:]
    for i, row in enumerate(rows):
        want = [f"{score_map(m[i], gts[i])[k]}" for m in sources.values() for k in premask.KEYS]
        assert row.split(",") == [names[i], *want]

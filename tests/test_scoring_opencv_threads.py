"""DIS scoring with forked workers in a process that has used OpenCV's thread pool.

A forked worker that set OpenCV's thread count waited forever: the count change stops the pool
the parent had, whose idle threads do not exist in the child. A script that reads or resizes
images with OpenCV, then scores with ``workers > 1`` (torch not imported: forked workers), hung
with no message. The workers now get one thread from the parent, set around the fork.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import cv2, numpy as np
    root = Path(sys.argv[1])
    for sub in ("p", "g"):
        (root / sub).mkdir(parents=True)
    for k in range(3):
        gt = np.zeros((120, 160), np.uint8)
        gt[30:90, 40:120] = 255
        cv2.imwrite(str(root / "g" / f"{k}.png"), gt)
        cv2.imwrite(str(root / "p" / f"{k}.png"), cv2.GaussianBlur(gt, (0, 0), 4))
    # The caller's own OpenCV work, then a pause: the pool's threads go idle and block.
    cv2.setNumThreads(4)
    cv2.resize(np.ones((3000, 3000), np.float32), (1000, 1000), interpolation=cv2.INTER_AREA)
    time.sleep(1.5)
    from pmgsam.evaluation import scoring
    scores, _ = scoring.evaluate_dis_folder(root / "p", root / "g", workers=2, progress=False)
    assert "torch" not in sys.modules  # so the workers were forked
    pool = scoring._start_pool(2)
    worker_threads = {pool.submit(cv2.getNumThreads).result() for _ in range(4)}
    pool.shutdown()
    print("ok", round(scores["maxFm"], 6), cv2.getNumThreads(), sorted(worker_threads))
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers: Linux")
def test_forked_workers_after_the_caller_used_opencv_threads_score_without_hanging(tmp_path):
    script = tmp_path / "score.py"
    script.write_text(SCRIPT)
    try:
        done = subprocess.run(
            [sys.executable, str(script), str(tmp_path / "data")],
            capture_output=True,
            text=True,
            timeout=90,
            cwd=ROOT,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        )
    except subprocess.TimeoutExpired:
        pytest.fail("scoring with 2 forked workers hung after the caller used OpenCV's threads")
    assert done.returncode == 0, done.stderr[-2000:]
    word, max_f, parent_threads, worker_threads = done.stdout.split(maxsplit=3)
    assert word == "ok" and 0.5 < float(max_f) <= 1
    # The caller keeps its own count; each worker runs OpenCV on one thread.
    assert parent_threads == "4" and worker_threads.strip() == "[1]"

"""albumentations is imported only where an augmentation is built, and without the PyPI query
its import makes: prediction never pays its ~1 s, and an offline GPU node neither waits for the
query's 2 s timeout nor prints its warning in every process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Every outgoing connection is recorded and refused, as on a node without a network.
PROBE = """
import socket, sys
tried = []
def refuse(address, *args, **kwargs):
    tried.append(address)
    raise OSError("no network")
socket.create_connection = refuse
import pmgsam.engine.inference, pmgsam.evaluation.scoring
print("after prediction imports:", "albumentations" in sys.modules)
from pmgsam.data.config import AugmentConfig
from pmgsam.data.transforms import build_augmentation
crop, steps = build_augmentation(AugmentConfig())
print("built:", type(crop).__module__.split(".")[0], "connections:", tried)
"""


def _probe(**env: str) -> subprocess.CompletedProcess:
    # -W error: the update check's warning (it finds no network) fails the probe.
    base = {k: v for k, v in os.environ.items() if k != "NO_ALBUMENTATIONS_UPDATE"}
    return subprocess.run(
        [sys.executable, "-W", "error::UserWarning", "-c", PROBE],
        cwd=ROOT,
        env={**base, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
    )


def test_prediction_does_not_import_albumentations_and_its_update_check_is_off() -> None:
    done = _probe()
    assert done.returncode == 0, done.stderr[-800:]
    assert done.stdout.splitlines() == [
        "after prediction imports: False",
        "built: albumentations connections: []",
    ]


def test_a_user_who_asks_for_the_update_check_keeps_it() -> None:
    done = _probe(NO_ALBUMENTATIONS_UPDATE="0")
    assert done.returncode != 0 and "no network" in done.stderr, done.stderr[-800:]

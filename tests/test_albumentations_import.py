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


def test_prediction_does_not_import_albumentations_and_its_update_check_is_off() -> None:
    # -W error: the update check's warning (it finds no network) would fail the probe.
    env = {k: v for k, v in os.environ.items() if k != "NO_ALBUMENTATIONS_UPDATE"}
    done = subprocess.run(
        [sys.executable, "-W", "error::UserWarning", "-c", PROBE],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-800:]
    assert done.stdout.splitlines() == [
        "after prediction imports: False",
        "built: albumentations connections: []",
    ]


def test_a_user_who_asks_for_the_update_check_keeps_it(monkeypatch) -> None:
    # Checked in this process: the setting is only ever a default, never written over. The
    # package is imported first without its query, so that this test makes none.
    from pmgsam.data.transforms import albumentations

    monkeypatch.setenv("NO_ALBUMENTATIONS_UPDATE", "1")
    import albumentations as _  # noqa: F401

    monkeypatch.setenv("NO_ALBUMENTATIONS_UPDATE", "0")
    assert albumentations().Compose is not None
    assert os.environ["NO_ALBUMENTATIONS_UPDATE"] == "0"

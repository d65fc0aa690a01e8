"""Figures are saved with Agg, headless, whatever the environment asks of matplotlib."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_figures_are_drawn_whatever_mplbackend_says(tmp_path: Path) -> None:
    # A fresh interpreter: matplotlib reads MPLBACKEND when first imported, and one naming no
    # backend (a typo, another machine's setting) made that import fail with a traceback.
    code = (
        "from PIL import Image; from pmgsam.analysis.plots import quality_scatter;"
        f"p = quality_scatter([0.1, 0.9], [0.9, 0.95], {str(tmp_path / 'f.png')!r}, 0.5, 0.8, 1.0,"
        " size=(1, 1), dpi=50); print(Image.open(p).size);"
        "import os; print(os.environ['MPLBACKEND'])"
    )
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env.update(MPLBACKEND="nonsense", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-500:]
    # The setting is set aside for the import only: programs the user starts later still get it.
    assert done.stdout.split() == ["(50,", "50)", "nonsense"]

"""Plain helpers of the ablation-driver tests (pytest's default import mode puts tests/ on the
path): :func:`write_grid`, a grid folder as ``pmgsam.ablate --grid`` reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Dict


def write_grid(folder: Path, grid: str, configs: Dict[str, str]) -> Path:
    """Create ``folder`` holding ``grid.yaml`` (the text ``grid``) and one ``<name>.yaml`` per
    entry of ``configs`` (``{name: YAML text}``); returns ``folder``."""
    folder.mkdir()
    (folder / "grid.yaml").write_text(grid)
    for name, text in configs.items():
        (folder / f"{name}.yaml").write_text(text)
    return folder

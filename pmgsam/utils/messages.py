"""Error-message helpers shared by the torch-free and the torch-using parts of the package."""

from __future__ import annotations

from typing import Sequence


def preview(items: Sequence[str], limit: int = 10) -> str:
    """The first ``limit`` items, comma-separated, then how many were left out.

    Long lists of missing files or keys stay readable while the count still tells how bad it is.
    """
    shown = ", ".join(str(i) for i in items[:limit])
    if len(items) > limit:
        shown += f" ... and {len(items) - limit} more"
    return shown

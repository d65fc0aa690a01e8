"""Error-message helpers shared by the torch-free and the torch-using parts of the package."""

from __future__ import annotations

import re
from typing import Sequence


def preview(items: Sequence[str], limit: int = 10) -> str:
    """The first ``limit`` items, comma-separated, then how many were left out.

    Long lists of missing files or keys stay readable while the count still tells how bad it is.
    """
    shown = ", ".join(str(i) for i in items[:limit])
    if len(items) > limit:
        shown += f" ... and {len(items) - limit} more"
    return shown


def one_line(err: BaseException) -> str:
    """The cause of ``err`` as one line, also when a DataLoader worker raised it.

    PyTorch re-raises a worker's exception with the worker's whole traceback in the message
    ("Caught DataError in DataLoader worker process 0. Original Traceback ..."); its last line
    ("pmgsam.data.io.DataError: cannot read ...") holds the cause.
    """
    text = str(err).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return type(err).__name__
    if "Original Traceback" in text:
        head, sep, message = lines[-1].partition(": ")
        cause = message if sep and re.fullmatch(r"[\w.]+", head) else lines[-1]
        return f"{cause} (raised in a data-loading worker)"
    return " ".join(lines)

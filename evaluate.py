"""``python evaluate.py``: the evaluation command, :mod:`pmgsam.evaluate`, started from the
source folder as the README types it, its usage and error lines naming it ``evaluate.py``.
``--help`` says the rest; an installed package runs it as ``python -m pmgsam.evaluate``."""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

from pmgsam import evaluate as _command

PROG = "evaluate.py"


def build_parser() -> argparse.ArgumentParser:
    """The command's parser, naming it ``evaluate.py``."""
    return _command.build_parser(PROG)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The command's :func:`~pmgsam.evaluate.main`, naming it ``evaluate.py``."""
    return _command.main(argv, PROG)


if __name__ == "__main__":
    _command.run(PROG)

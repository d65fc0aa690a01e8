"""``python train.py``: the training command, :mod:`pmgsam.train`, started from the source
folder as the README types it (``torchrun ... train.py`` too), its usage and error lines naming
it ``train.py``. ``--help`` says the rest; an installed package runs it as
``python -m pmgsam.train``."""

from __future__ import annotations

import argparse
from typing import List, Optional

from pmgsam import train as _command

PROG = "train.py"


def build_parser() -> argparse.ArgumentParser:
    """The command's parser, naming it ``train.py``."""
    return _command.build_parser(PROG)


def main(argv: Optional[List[str]] = None) -> int:
    """The command's :func:`~pmgsam.train.main`, naming it ``train.py``."""
    return _command.main(argv, PROG)


if __name__ == "__main__":
    _command.run(PROG)

"""How a message names training and evaluation: as the user can type them where it runs.

The two commands are modules, ``python -m pmgsam.train`` and ``python -m pmgsam.evaluate``; the
source folder also has the scripts ``train.py`` and ``evaluate.py`` beside the package, which an
installed wheel lacks. A message that tells the user to train, resume or score (an error's hint,
a warning, a help line) names them through :func:`command_name`:

* a program started as a pmgsam module (``python -m pmgsam.X``, ``torchrun -m pmgsam.train``)
  gets the module form: its user types modules;
* otherwise (started as the source folder's script, or a user's own program, a test run), the
  script where the package imported sits in a source folder with that script beside it, else the
  module form.

The usage lines are named otherwise: each script passes its own name to its command as ``prog``.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Optional

#: The commands a message may name, by module name under ``pmgsam``: their scripts.
SCRIPTS = {"train": "train.py", "evaluate": "evaluate.py"}

#: The folder holding the ``pmgsam`` package imported: the source folder, or site-packages.
PACKAGE_PARENT = Path(__file__).resolve().parents[2]


def started_module() -> str:
    """The module the running program was started as with ``python -m`` ("" for a script, or
    an interpreter started otherwise: ``-c``, an embedded one)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return str(getattr(spec, "name", None) or "")


def started_as_pmgsam_module() -> bool:
    """Whether the program was started as a pmgsam module (``pmgsam.train``, ``pmgsam.ablate``
    running its variants' training), not as a script or another package's module."""
    return started_module().split(".")[0] == "pmgsam"


@functools.cache
def has_script(folder: Path, command: str) -> bool:
    """Whether ``folder`` holds the source folder's script of ``command``: a file of that name
    that starts pmgsam's command, not another package's ``train.py`` in site-packages."""
    try:
        text = (folder / SCRIPTS[command]).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return f"from pmgsam import {command} as _command" in text


def command_name(command: str, source_folder: Optional[bool] = None) -> str:
    """``command`` ("train" or "evaluate") as a message names it: ``evaluate.py`` in the source
    folder, else ``python -m pmgsam.evaluate``. ``source_folder`` None decides as the module's
    docstring says; True or False chooses (tests, a caller that knows)."""
    if command not in SCRIPTS:
        raise ValueError(f"no command {command!r}: one of {sorted(SCRIPTS)}")
    if source_folder is None:
        source_folder = not started_as_pmgsam_module() and has_script(PACKAGE_PARENT, command)
    return SCRIPTS[command] if source_folder else f"python -m pmgsam.{command}"

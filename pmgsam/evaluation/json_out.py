"""The ``--out`` of a command that writes one JSON file (``evaluate.py``'s scores, the exported
COCO ground truth): a folder, or a suffix other than .json, is refused before any work."""

from __future__ import annotations

import os
from pathlib import Path

from pmgsam.evaluation.map_pairs import EvaluationInputError


def check_json_out(out: str, example: str, file_kind: str, written_as: str) -> None:
    """:class:`EvaluationInputError` for an ``out`` that names a folder (ending in a separator,
    which Path() would drop and write a file of the folder's name, or an existing folder), or
    whose suffix is not .json (``m.csv`` would name JSON as another format); no suffix is fine.

    Arguments:
      out: the ``--out`` value as given.
      example: a file name to suggest inside the folder (``metrics.json``).
      file_kind: what the file is, for the folder message (``"the file"``).
      written_as: how it is written, for the suffix message (``"the scores are written as
        JSON"``).
    """
    if out.endswith(("/", os.sep)) or Path(out).is_dir():
        raise EvaluationInputError(
            f"--out '{out}' names a folder; give the path of {file_kind} to write, e.g. "
            f"'{Path(out) / example}'"
        )
    suffix = Path(out).suffix
    if suffix and suffix.lower() != ".json":
        raise EvaluationInputError(
            f"--out '{out}': {written_as}, not {suffix}; give a .json file, e.g. "
            f"'{Path(out).with_suffix('.json')}'"
        )

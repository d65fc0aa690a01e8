"""Input files that cannot be read in the middle of a prediction run: stop, or skip with
``--keep-going``.

Every prediction command (``python -m pmgsam.engine.inference``, ``evaluate.py``'s benchmark and
baseline modes) handles a file that fails to decode (truncated, corrupt, a mask of another size)
the same way:

* by default the run stops at the first such file with an error naming it; the maps already
  written stay (each is written whole), and ``--skip-existing`` resumes after the file is fixed;
* with ``--keep-going`` the file is named in an error record as soon as it fails, it gets no
  map, the run goes on, and at the end every failed file is listed (and recorded under
  ``"failed"`` in the output folder's manifest) and the command exits non-zero.

Either way no map is ever written for an unreadable image, and a map an earlier run of this tool
left under its name is removed: it is not a map of the file as it now is, and scoring it would
hide the failure. A file of that name the tool did not write (a user's, in a folder taken with
``--overwrite``) is kept, with a warning, and the manifest does not vouch for it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set, Union

from pmgsam.data.io import DataError
from pmgsam.utils.outputs import MANIFEST, read_manifest, write_manifest, written_names

logger = logging.getLogger(__name__)

STOP_ADVICE = (
    "the run stopped there; the maps already written are kept: fix or remove the file and run "
    "again with --skip-existing to predict only the images without a map, or pass --keep-going "
    "to skip unreadable files"
)
KEEP_GOING_SKIPS = (
    "an input file that cannot be read (truncated, corrupt) is named in an error and skipped "
    "(it gets no map) and the run goes on; the failed files are listed at the end and in the "
    "output folder's manifest, and the command exits with status 2"
)
KEEP_GOING_STOPS = (
    "Without it the run stops at the first such file (maps already written are kept: "
    "--skip-existing resumes)"
)
KEEP_GOING_HELP = f"{KEEP_GOING_SKIPS}. {KEEP_GOING_STOPS}"


class UnreadableInputs(DataError):
    """Input files that could not be read and got no map.

    Arguments:
      message: the error's text.
      failed: ``{name: reason}`` of every input that got no map (kept as ``failed``).
    """

    def __init__(self, message: str, failed: Dict[str, str]) -> None:
        super().__init__(message)
        self.failed = dict(failed)


class FailedInputs:
    """What a run does with an input that cannot be read: ``failures(name, reason)`` raises
    :class:`~pmgsam.data.errors.DataError` naming it (``keep_going`` off), or logs an error and
    records it in ``failed`` (on).

    Arguments:
      keep_going: skip unreadable inputs instead of stopping.
      where: what the inputs belong to in messages (``split DIS-TE1``, ``--input 'x'``).
      outputs: the run's output folders, as they are before the run records its maps there
        (construct this before :func:`~pmgsam.utils.outputs.prepare_output_dir`): the maps of
        earlier runs are taken from their manifests now, because once this run has recorded
        the names it will write, a user's file of such a name (``--overwrite``) reads as the
        tool's own.
    """

    def __init__(
        self, keep_going: bool, where: str, outputs: Iterable[Union[str, Path, None]] = ()
    ) -> None:
        self.keep_going, self.where = keep_going, where
        self.failed: Dict[str, str] = {}
        self.earlier_maps: Dict[Path, Set[str]] = {
            Path(folder): earlier_maps(folder) for folder in outputs if folder is not None
        }

    def __call__(self, name: str, reason: str) -> None:
        self.failed[name] = reason
        if not self.keep_going:
            raise DataError(f"{reason}: {STOP_ADVICE}")
        logger.error("skipped %s (%s): %s; it gets no map (--keep-going)", name, self.where, reason)

    def record(self, folders: Iterable[Union[str, Path, None]]) -> None:
        """:func:`record_failures` of ``failed`` in every output folder (``None`` ones skipped)."""
        if self.failed:
            for folder in folders:
                if folder is not None:
                    earlier = self.earlier_maps.get(Path(folder), set())
                    record_failures(folder, self.failed, earlier)

    def error(self, names: Optional[List[str]] = None) -> UnreadableInputs:
        """The error listing every failed input (``names``: how to name them, default the
        recorded names); the command raises it once the readable inputs have their maps."""
        listed = ", ".join(names or sorted(self.failed))
        first = next(iter(self.failed.values()))
        return UnreadableInputs(
            f"{len(self.failed)} input file(s) of {self.where} could not be read and got no "
            f"map: {listed} (first: {first}); each output folder's {MANIFEST} lists them under "
            '"failed": fix them and run again with --skip-existing to predict only those',
            self.failed,
        )


def split_failures_error(failed: Dict[str, Dict[str, str]]) -> UnreadableInputs:
    """The error ending a ``--keep-going`` run of several splits (benchmark and baseline mode):
    every unreadable file, from ``{split: {stem: reason}}``."""
    flat = {f"{split}/{stem}": why for split, bad in failed.items() for stem, why in bad.items()}
    first = next(iter(flat.values()))
    return UnreadableInputs(
        f"{len(flat)} input file(s) could not be read and got no map: {', '.join(flat)} "
        f"(first: {first}); the splits holding them ({', '.join(failed)}) were not scored and "
        "run.json was not written: fix them and run again with --skip-existing to predict only "
        "those and score every split",
        flat,
    )


def earlier_maps(out_dir: Union[str, Path]) -> Set[str]:
    """The maps in ``out_dir`` that its manifest says this tool wrote, read before a run records
    the names it is about to write (see :class:`FailedInputs`)."""
    out = Path(out_dir)
    return {name for name in written_names(out) if (out / name).is_file()}


def record_failures(
    out_dir: Union[str, Path], failed: Dict[str, str], earlier: Optional[Set[str]] = None
) -> None:
    """Record ``failed`` (``{image stem: reason}``) in ``out_dir``'s manifest under ``"failed"``
    and take their ``<stem>.png`` out of what it vouches for: a map an earlier run wrote there
    under that name (one of ``earlier``, :func:`earlier_maps` before this run recorded its
    names; by default the maps the manifest lists now) is removed (it is not a map of the file
    as it now is); any other file of that name is not the tool's and stays, with a warning; and
    the name leaves ``files`` and ``sources`` (a user's file of that name is then never taken
    for a map)."""
    out = Path(out_dir)
    record = read_manifest(out)
    if not record:
        return
    earlier = earlier_maps(out) if earlier is None else earlier
    names = {f"{stem}.png" for stem in failed}
    for name in sorted(names):
        path = out / name
        if not path.is_file():
            continue
        if name in earlier:
            logger.warning("removed '%s': a map of an earlier run whose input cannot be read now",
                           path)  # fmt: skip
            path.unlink()
        else:
            logger.warning("kept '%s': its input could not be read, and this file is not a map "
                           "this tool wrote (it is not listed as one)", path)  # fmt: skip
    sources = {k: v for k, v in (record.get("sources") or {}).items() if k not in names}
    files = [n for n in record.get("files", []) if n not in names]
    updated = {**record, "files": files, "sources": sources, "failed": dict(sorted(failed.items()))}
    write_manifest(out, updated)

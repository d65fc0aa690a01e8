"""Guarding the folders that prediction commands write into, so that no user file is lost.

Every command that writes probability maps (``python -m pmgsam.engine.inference``,
``evaluate.py``'s benchmark mode, the SAM baselines) calls :func:`prepare_output_dir` before
writing. It refuses

* an output folder that is, or lies inside, one of the command's input folders (images, GT
  masks, skeletons): a map ``x.png`` would replace the user's ``x.png``; ``--overwrite`` does
  not lift this. A command that reads only the files directly in its input folders (``flat``
  inputs: inference's ``--input``) may write into a subfolder of one, which it never reads
  (this and the other checks of paths alone are :mod:`pmgsam.utils.output_paths`');
* an output folder that already holds files this tool did not write, unless ``overwrite``;
* likewise a map the tool wrote there that was edited since (below): a hand-corrected map is
  the user's work, replaced only with ``overwrite`` (``--skip-existing`` would predict it again,
  so it is refused too). A map the user deleted is no loss: it is written again.

The tool's own files are told apart by a small manifest (:data:`MANIFEST`, hidden, so that
folder listings skip it; :mod:`pmgsam.utils.output_manifest` reads and writes it) that lists
every map name the tool wrote there. The names are recorded *before* the maps are written, so a
run that crashes half-way can be repeated into the same folder without ``--overwrite``. The
manifest also records what produced the maps (the inference command's weights, settings and
kind of map) and which input image each map is of: :func:`finished_maps` lets a resumed run
keep the maps of the same producer and image, and refuses a folder holding another producer's.
Once a run has written its maps, :func:`settle_output_dir` records each one's size and
modification time (:data:`IDENTITIES`) and SHA-256 (:data:`DIGESTS`): a map replaced since
(:func:`changed_maps`: another size, or another time and other bytes) is refused as above, and
with ``overwrite`` predicted again, never kept; maps without a record (older pmgsam versions)
are the tool's.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from pmgsam.utils.map_producers import (
    describe_producer,
    map_digest,
    map_identity,
    producer_changes,
)
from pmgsam.utils.messages import preview

# The manifest's names are re-exported: callers import them from here.
from pmgsam.utils.output_manifest import (  # noqa: F401
    DIGESTS,
    IDENTITIES,
    MANIFEST,
    MANIFEST_FORMAT,
    read_manifest,
    recorded_identities,
    stale_map_temporaries,
    write_manifest,
    written_names,
)

# The path checks are re-exported: callers import them from here.
from pmgsam.utils.output_paths import (  # noqa: F401
    OutputError,
    PathLike,
    check_output_file,
    dataset_folders,
    refuse_output_in_data_folder,
    refuse_output_in_inputs,
    refuse_shared_output,
)


def check_output_dir(
    out_dir: PathLike,
    names: Iterable[str],
    inputs: Sequence[Optional[PathLike]] = (),
    overwrite: bool = False,
    option: str = "--out",
    flat_inputs: bool = False,
) -> None:
    """Check that ``out_dir`` may receive the files ``names``, creating nothing: for a command to
    call before its slow set-up (a model to load), then :func:`prepare_output_dir` once it is
    about to write. Arguments as there; raises :class:`OutputError` naming the folder and why
    (files this tool did not write, maps changed since it wrote them)."""
    out = Path(out_dir)
    refuse_output_in_inputs(out, inputs, option, "the maps", flat_inputs)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{option} '{out}' exists and is not a folder")
    if not out.exists():
        check_output_file(out, option)  # a file where one of its parent folders should be
    if not out.is_dir() or overwrite:
        return
    ours = written_names(out) | {p.name for p in stale_map_temporaries(out)}
    foreign = sorted(p.name for p in out.iterdir() if p.name != MANIFEST and p.name not in ours)
    # A map edited in place since the tool wrote it (a hand-corrected figure or GT) is the
    # user's work now: a rerun (--skip-existing included) must not replace it unasked. Hidden
    # files are the tool's bookkeeping (a baseline's records, rewritten by each run), no map.
    edited = [n for n in changed_maps(out) if not n.startswith(".")]
    if foreign:
        raise OutputError(
            f"{option} '{out}' already holds {len(foreign)} file(s) this tool did not "
            f"write ({preview(foreign, 5)}); {_replaced_text(foreign, names)}. Choose a new or "
            "empty folder, or pass --overwrite to write there anyway"
            + (f" (it also holds {_edited_text(out, edited, names)})" if edited else "")
        )
    if edited:
        raise OutputError(
            f"{option} '{out}' holds {_edited_text(out, edited, names)}. Move them out of the "
            "folder (or choose another one) to keep them, or pass --overwrite to replace them"
        )


def _replaced_text(files: List[str], names: Iterable[str]) -> str:
    """What writing ``names`` into the folder would do to the user's ``files`` there."""
    clash = sorted(set(files) & set(names))
    if clash:
        return f"{len(clash)} of them would be replaced ({preview(clash, 5)})"
    return "none would be replaced, but the folder would mix them with the maps"


# A map whose time alone moved is not changed unless an older pmgsam recorded it (no digest).
_CHANGE_CAUSES = (
    "edited by hand, replaced by another program, written again by a run that stopped before "
    "recording them, or, where an older pmgsam recorded them, copied without keeping times"
)


def _edited_text(out: Path, edited: List[str], names: Iterable[str]) -> str:
    """The refusal's account of maps ``edited`` since the tool wrote them in ``out``, and its
    cause: one that cannot be opened now (a folder in its place, no read permission) is named
    as such, not as other bytes."""
    why = {n: _open_error(out / n) for n in edited}
    changed = [n for n in edited if not why[n]]
    unreadable = [f"{n}: {why[n]}" for n in edited if why[n]]
    parts = []
    if changed:
        parts.append(
            f"{len(changed)} map(s) changed since pmgsam wrote them ({preview(changed, 5)}): "
            f"their size or bytes are not the ones recorded ({_CHANGE_CAUSES})"
        )
    if unreadable:
        parts.append(
            f"{len(unreadable)} map(s) pmgsam wrote that cannot be read now to check them "
            f"({preview(unreadable, 5)})"
        )
    return f"{' and '.join(parts)}; {_replaced_text(edited, names)}"


def _open_error(path: Path) -> Optional[str]:
    """Why ``path`` cannot be opened for reading, or None when it can."""
    try:
        with open(path, "rb"):
            return None
    except OSError as err:
        return err.strerror or type(err).__name__


def prepare_output_dir(
    out_dir: PathLike,
    names: Iterable[str],
    inputs: Sequence[Optional[PathLike]] = (),
    overwrite: bool = False,
    option: str = "--out",
    tool: str = "pmgsam",
    producer: Optional[Dict[str, Any]] = None,
    sources: Optional[Dict[str, Any]] = None,
    flat_inputs: bool = False,
    kept: Iterable[str] = (),
) -> Path:
    """Check that ``out_dir`` may receive the files ``names``; create it and record them.

    Arguments:
      out_dir: the folder the maps go to.
      names: the file names that will be written there (e.g. ``x.png``).
      inputs: folders the command reads (images, GT); ``None`` entries are ignored.
      overwrite: allow a folder holding files this tool did not write, or maps changed since
        it wrote them (:func:`changed_maps`): both may then be replaced.
      option: the command-line option that named ``out_dir``, for the messages.
      tool: which command writes (recorded in the manifest).
      producer: what makes the maps (:func:`pmgsam.engine.predictor.map_producer`); ``None``
        for commands that do not say, whose maps :func:`finished_maps` then never keeps. When
        the folder holds maps of another producer, the manifest marks it ``mixed`` until
        :func:`settle_output_dir` finds them all replaced.
      sources: ``{map name: file_identity(its input image)}`` for the maps of ``names``; a map
        already there from another image (another input folder, an image edited since) also
        marks the folder ``mixed``, and :func:`finished_maps` keeps a map only for its image.
      flat_inputs: the command reads only the files directly in ``inputs``' folders, so
        ``out_dir`` may lie inside one (:func:`refuse_output_in_inputs`' ``flat``).
      kept: the names of ``names`` that a resumed run keeps (:func:`finished_maps`) rather
        than writes: their recorded identities stay. The others' go, unless the file there
        is no longer the one recorded: that one stays unkept by a resumed run until a run
        that replaced it records the new map.
    Raises :class:`OutputError` naming the folder and the reason; warns naming the maps of an
    earlier run there that ``names`` does not replace. Returns ``out_dir``.
    """
    names = sorted(set(names))
    check_output_dir(out_dir, names, inputs, overwrite, option, flat_inputs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for leftover in stale_map_temporaries(out):
        leftover.unlink()
    before = read_manifest(out)
    present = {n for n in written_names(out) if (out / n).is_file()}
    earlier = sorted(present - set(names))
    if earlier:
        warnings.warn(
            f"{option} '{out}' keeps {len(earlier)} map(s) of an earlier run that this run does "
            f"not replace ({preview(earlier, 5)}); they stay beside the new maps (use an empty "
            "folder to hold this run's maps only)",
            stacklevel=2,
        )
    recorded_sources = before.get("sources") or {}
    given = (sources or {}).items()
    other_image = any(recorded_sources.get(n) != s for n, s in given if n in present)
    record = {
        "format": MANIFEST_FORMAT,
        "tool": tool,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "files": sorted(written_names(out) | set(names)),
        "producer": producer,
        # Maps of another producer (or of an unknown one, or of other images) may stay until
        # this run has replaced them: the manifest, written first, cannot vouch for them all.
        "mixed": bool(present)
        and bool(
            before.get("mixed", True)
            or producer_changes(before.get("producer"), producer)
            or other_image
        ),
        "sources": {**recorded_sources, **(sources or {})},
    }
    record[IDENTITIES], record[DIGESTS] = _kept_identities(out, before, set(names) - set(kept))
    write_manifest(out, record)
    return out


def _kept_identities(
    out: Path, record: Dict[str, Any], rewritten: Set[str]
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``record``'s identities and digests less those of ``rewritten`` (maps about to be
    written again: a run stopped before recording them leaves them unrecorded, so kept as older
    maps are) whose file is still the one recorded or is gone. A map replaced since keeps its
    record, so that it is not kept either if the run stops before writing it again."""
    identities = recorded_identities(record)
    digests = recorded_identities(record, DIGESTS)
    for name in rewritten & set(identities):
        if not _replaced(out / name, identities[name], digests.get(name)):
            del identities[name]
            digests.pop(name, None)
    return identities, digests


def _replaced(path: Path, identity: Any, digest: Any) -> bool:
    """Whether ``path`` is there but no longer the map recorded as ``identity`` (size and time)
    and ``digest``: a map of the same size and bytes is the same map even if its time moved
    (``touch``, a copy that does not keep times); it is read only then. Without a recorded
    digest (older pmgsam) the time must match too."""
    found = map_identity(path)
    if found is None or found == identity:
        return False
    same_size = isinstance(identity, list) and len(identity) == 2 and found[0] == identity[0]
    return not (same_size and isinstance(digest, str) and map_digest(path) == digest)


def changed_maps(out_dir: PathLike, names: Optional[Iterable[str]] = None) -> List[str]:
    """The files of ``names`` (default: every file the manifest lists) in ``out_dir`` that are
    not the ones the tool wrote (:func:`_replaced`). Files without a record (from a pmgsam
    before it recorded them, or from a run that stopped first) and missing ones are not named.
    Sorted."""
    out = Path(out_dir)
    record = read_manifest(out)
    return _changed(out, record, written_names(out) if names is None else set(names))


def _changed(out: Path, record: Dict[str, Any], names: Iterable[str]) -> List[str]:
    identities = recorded_identities(record)
    digests = recorded_identities(record, DIGESTS)
    return sorted(
        n for n in names if n in identities and _replaced(out / n, identities[n], digests.get(n))
    )


def finished_maps(
    out_dir: PathLike,
    producer: Dict[str, Any],
    option: str = "--out",
    sources: Optional[Dict[str, Any]] = None,
    warn: bool = False,
) -> Set[str]:
    """The maps in ``out_dir`` that a resumed run may keep: those its manifest lists that exist
    (written whole: maps are renamed into place), when the manifest says ``producer`` made them
    all, and (given ``sources``, as :func:`prepare_output_dir` takes them) from the same input
    image: a map of another image of that name, or of the image before it was edited, is
    predicted again. So is a map that is no longer the file the tool wrote
    (:func:`changed_maps`; :func:`check_output_dir` refuses such a folder first unless
    ``overwrite``); with ``warn`` (for the call that decides what a run keeps, not for a check
    before it) one warning says how many and names the first few. Raises
    :class:`OutputError` when it says another producer did, says none (manifests from before
    producers were recorded, other commands), or the folder is ``mixed``: keeping such maps
    would mix models, and recomputing them silently would hide that. A file of the user's is
    never a finished map (the manifest does not list it)."""
    out = Path(out_dir)
    present = {n for n in written_names(out) if (out / n).is_file()}
    if not present:
        return set()
    record = read_manifest(out)
    recorded = record.get("producer")
    again = f"use another {option}, or run without --skip-existing to predict every image again"
    if recorded is None:
        raise OutputError(
            f"{option} '{out}' holds {len(present)} map(s) written by {record.get('tool')} "
            "without a record of the model that made them (pmgsam before it recorded one, or "
            f"another command), so --skip-existing cannot keep them: {again}"
        )
    differs = producer_changes(recorded, producer)
    if differs:
        raise OutputError(
            f"{option} '{out}' holds maps made by {describe_producer(recorded)}, not by this "
            f"run's {describe_producer(producer)} (they differ in {', '.join(differs)}); "
            f"--skip-existing never mixes the maps of two models or settings: {again}"
        )
    if record.get("mixed", True):
        raise OutputError(
            f"{option} '{out}' may also hold maps of another model or setting (a run that was "
            "replacing them stopped before it finished, or they are of images it did not "
            f"predict), so --skip-existing cannot tell them apart: {again}"
        )
    if sources is not None:
        recorded_sources = record.get("sources") or {}
        present = {n for n in present if n in sources and recorded_sources.get(n) == sources[n]}
    changed = _changed(out, record, present)
    if changed and warn:
        warnings.warn(
            f"{option} '{out}': {len(changed)} map(s) changed since pmgsam wrote them "
            f"({preview(changed, 5)}): their size or bytes are not the ones recorded "
            f"({_CHANGE_CAUSES}), so they are predicted again rather than kept as this model's",
            stacklevel=2,
        )
    return present - set(changed)


def settle_output_dir(out_dir: PathLike, names: Iterable[str], kept: Iterable[str] = ()) -> None:
    """After a run wrote (or kept) every map of ``names`` into ``out_dir``: record each one's
    identity (:func:`map_identity`) and SHA-256 (:func:`map_digest`; one manifest write for
    the run, not one per map), and if no other map the manifest lists is left there, all are
    this run's producer's, and the ``mixed`` mark goes. ``kept``: the names of ``names`` that
    the run kept (:func:`finished_maps`) rather than wrote; one still of its recorded identity
    keeps its recorded digest, unread."""
    out = Path(out_dir)
    record = read_manifest(out)
    if not record:
        return  # no manifest (or an unreadable one): nothing vouches for the folder
    ours = written_names(out)
    identities = recorded_identities(record)
    digests = recorded_identities(record, DIGESTS)
    unwritten = set(kept)
    for name in set(names) & ours:
        identity = map_identity(out / name)
        if identity is None:
            continue  # gone since: nothing to record
        # The resumed run accepted this map as the tool's on that identity: hashing it again
        # costs a read and could only vouch for an edit made within one clock tick since. A
        # written map is always hashed: a same-size rewrite in one tick keeps the identity.
        reused = name in unwritten and identity == identities.get(name)
        if reused and isinstance(digests.get(name), str):
            continue
        digest = map_digest(out / name)
        identities[name] = identity
        if digest is None:
            digests.pop(name, None)
        else:
            digests[name] = digest
    settled = {**record, IDENTITIES: identities, DIGESTS: digests}
    # Maps of an earlier run this run did not replace keep the folder mixed.
    if record.get("mixed") and not any((out / n).is_file() for n in ours - set(names)):
        settled["mixed"] = False
    write_manifest(out, settled)

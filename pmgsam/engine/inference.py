"""Inference: predict a dataset split, a folder of images or one image into 8-bit probability PNGs.

    python -m pmgsam.engine.inference --checkpoint W.safetensors --input IMAGES_DIR|IMAGE --out DIR
        [--batch-size 4] [--num-workers N] [--threads N] [--write-threads N]
        [--device auto|cpu|cuda|cuda:N] [--amp auto|bf16|none] [--overwrite] [--skip-existing]
        [--keep-going] [--premask-out DIR] [model.hiera_checkpoint=... ...]

``--checkpoint`` is a weights file, a checkpoint folder or a training run folder (its best
weights); ``--amp auto`` is bf16 on a CUDA GPU with native bf16 (compute capability 8.0+: A100,
H100, RTX 30xx and later) and full precision elsewhere (the CPU, V100, T4: ``--amp bf16`` runs
there, with a warning that the GPU only emulates it).

``--threads`` sets the torch threads running the model. By default, on the CPU, they are as many
as the CPUs this process may use less the ``--num-workers`` image-loading processes (at least 1,
never more than torch's own default), so that threads and workers together do not oversubscribe
the CPUs (:func:`~pmgsam.engine.predictor.prediction_threads`); on CUDA torch's default stays.
:func:`predict_split` (benchmark mode) takes the count from the config's ``train.num_threads``.

``--num-workers`` (image-loading processes) is 2 on the CPU; on a GPU it is, by default, the
CPUs this process may use less one for itself and a quarter for the map writer, 2 to 16
(:func:`~pmgsam.engine.map_writer.prediction_workers`): a 12 MP JPEG takes ~180 ms of one core
to read and resize. ``--write-threads`` encode and write the maps while the model predicts the
next batch (:class:`~pmgsam.engine.map_writer.MapWriter`): none on the CPU by default, 1 to 4
on a GPU. Neither changes a map.

Each prediction is written at the original image resolution as ``<stem>.png`` (0–255, the
foreground probability × 255 rounded), which is what the DIS/COS evaluation reads.

``--out`` is a folder, also for one image (a name ending in an image extension, ``--out
mask.png``, is refused unless that folder exists). It must not be the input folder (nor, for
one image, the folder holding it), and must not hold files this tool did not write, nor maps
it wrote that were edited since, unless ``--overwrite`` is given (see
:mod:`pmgsam.utils.outputs`). A new subfolder of the input folder is fine (``--input my_images
--out my_images/preds``): only the files directly in the input folder are read, never its
subfolders, so the maps are not taken for images by a rerun.

Input files that cannot be read: those whose header cannot be read (zero-byte, not an image,
broken link, over PIL's pixel limit) are all named before anything is predicted, and the command
stops; a file that fails to decode later (truncated, corrupt) stops the run there, naming it,
and the maps already written stay (``--skip-existing`` resumes). With ``--keep-going`` they are
named as they fail and skipped (no map), the others are predicted, and at the end all are listed
(also under ``"failed"`` in the folder's manifest) and the command exits with status 2
(:mod:`pmgsam.engine.unreadable`).

``--premask-out`` also writes the intermediate Pre-Mask maps the same way (for the Pre-Mask
analysis, ``python -m pmgsam.analysis premask``).

``--skip-existing`` resumes a stopped run: the manifest records what made the maps (weights and
settings, :func:`~pmgsam.engine.predictor.map_producer`) and the image file each map is of; maps
of the same producer and image file are kept and their images not opened, a map of another image
of that name is predicted again, and a folder of another producer's maps is refused
(:func:`~pmgsam.utils.outputs.finished_maps`). A map changed since it was written (the manifest
records each map's size and modification time once the run has written it: a hand-edited map)
is refused as a file of the user's, with or without ``--skip-existing``; with ``--overwrite``
it is predicted again.
:func:`predict_split` (benchmark mode) records the same and resumes the same way with
``skip_existing``. The weights file is hashed before the model loads from it, and a file
replaced or rewritten in between is refused, naming it, so the recorded SHA-256 is of the
weights that made the maps (:func:`~pmgsam.modeling.checkpoint.load_hashed`).
The dataset, predictor and writer live in :mod:`pmgsam.engine.predictor`, the options (parsed
before torch is imported: ``--help`` answers at once) in :mod:`pmgsam.engine.inference_options`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from pmgsam.data.io import DataError
from pmgsam.engine.inference_options import build_parser, parse_arguments, split_overrides
from pmgsam.engine.unreadable import FailedInputs
from pmgsam.utils.cli import run_cli
from pmgsam.utils.config import apply_overrides, from_dict, to_dict
from pmgsam.utils.outputs import (
    check_output_dir,
    dataset_folders,
    refuse_shared_output,
    settle_output_dir,
)

if __name__ == "__main__":
    # Run as a command: --help and usage errors answer before the torch imports below
    # (seconds). Those stay at module level, where tests patch them (load_pretrained,
    # Predictor); main() parses again, as it must when called directly.
    parse_arguments(build_parser())

from torch.utils.data import Subset  # noqa: E402

from pmgsam.engine.distributed import resolve_device  # noqa: E402
from pmgsam.engine.inference_inputs import ImageFolder, input_images  # noqa: E402
from pmgsam.engine.predictor import (  # noqa: E402
    Predictor,
    resolve_amp,
    write_probability_png,
)
from pmgsam.engine.resume_plan import (  # noqa: E402
    load_and_plan,
    map_sources,
    prepare_outputs,
    refuse_unresumable,
)
from pmgsam.modeling.build import load_pretrained  # noqa: E402
from pmgsam.modeling.checkpoint import (  # noqa: E402
    HashedWeights,
    checkpoint_model_fields,
    load_hashed,
    read_model_config,
    resolve_weights,
)

__all__ = ["ImageFolder", "Predictor", "input_images", "main", "predict_split"]
__all__ += ["refuse_unresumable"]  # importable from here as before (pmgsam.engine.resume_plan)
__all__ += ["write_probability_png"]  # importable from here as before (pmgsam.engine.predictor)

# By name: run as `python -m pmgsam.engine.inference`, __name__ is "__main__".
logger = logging.getLogger("pmgsam.engine.inference")


def predict_split(
    config: Union[str, Path, Any],
    checkpoint: Union[str, Path],
    split: str,
    out_dir: Union[str, Path],
    device: Optional[str] = "auto",
    batch_size: int = 4,
    overrides: Sequence[str] = (),
    overwrite: bool = False,
    premask_dir: Union[str, Path, None] = None,
    progress: bool = True,
    reuse: Optional[Dict[str, Any]] = None,
    skip_existing: bool = False,
    option: str = "output folder",
    premask_option: str = "Pre-Mask folder",
    weights: Optional[HashedWeights] = None,
    keep_going: bool = False,
    left_out: Optional[Dict[str, str]] = None,
) -> Path:
    """Predict one split of the dataset described by an experiment config. A carved split
    without its saved file is drawn in memory, not saved: only training saves split files
    (:func:`~pmgsam.data.splits.read_only_splits`).

    Arguments:
      config: experiment YAML path (or an already loaded ``ExperimentConfig``).
      checkpoint: PMG-SAM weights file or a training run directory.
      split: dataset split name (see :mod:`pmgsam.data.config`).
      out_dir: folder for the PNG probability maps.
      device: ``auto``, ``cpu`` or ``cuda[:i]``.
      batch_size: images per forward pass.
      overrides: ``key=value`` overrides of the experiment config.
      overwrite: allow an ``out_dir`` that holds files this tool did not write, or maps it
        wrote that were changed since (never one of the dataset's folders; see
        :func:`pmgsam.utils.outputs.prepare_output_dir`).
      premask_dir: also write the Pre-Mask probability maps into this folder.
      progress: show a progress bar.
      reuse: a dict the caller keeps across calls: the first call stores its loaded (and,
        with ``performance.compile``, compiled) model there and later calls with the same
        config, checkpoint, overrides and device use it, so several splits cost one load.
      skip_existing: resume a stopped run, as inference's ``--skip-existing``: keep the maps
        in ``out_dir`` (and ``premask_dir``: both must be there) that the same producer
        (:func:`~pmgsam.engine.predictor.map_producer`) made from the same image file, and
        predict only the other images (the kept ones are not opened); a folder of another
        producer's maps is refused (:func:`~pmgsam.utils.outputs.finished_maps`), as is one
        holding maps changed since written unless ``overwrite`` (they are then predicted
        again).
      option: the option naming ``out_dir`` in messages (benchmark mode: ``--output-dir``).
      premask_option: what names ``premask_dir`` in messages.
      weights: the weights file's hash when the caller has it (benchmark mode hashes it once
        for all its splits: :func:`~pmgsam.modeling.checkpoint.hash_weights`); taken here
        otherwise, before the model loads. Either way the file must still be the version
        hashed once the model is loaded, or the call is refused naming it (nothing predicted),
        so the SHA-256 the manifests record is of the weights that made the maps. A model
        reused from ``reuse`` keeps the hash and producer of the file it was loaded from: the
        file is not read again, so a version written after that load stops no later split.
      The model runs on the config's ``train.num_threads`` torch threads (on the CPU, by
      default as many as leave a CPU to each of ``data.num_workers``:
      :func:`~pmgsam.engine.predictor.prediction_threads`).
      keep_going: an image (or GT mask) that cannot be read gets no map and the others are
        predicted; :class:`~pmgsam.engine.unreadable.UnreadableInputs` listing them is raised
        at the end (recorded in the manifests). Otherwise the first one stops the call with a
        :class:`~pmgsam.data.errors.DataError` naming it (the maps written so far are kept).
      left_out: ``{name: reason}`` of images that the caller left out of the split's COCO
        ground truth (benchmark mode with ``keep_going``: an unreadable header or instance
        map): each is a failed image of the split as an unreadable one is (not predicted, no
        map, one an earlier run wrote removed, listed in the error and the manifests; a file
        of its name that the tool did not write is kept).
    Returns the folder holding one PNG per image stem. The manifests record the producer and
    each map's image file, so a later call with ``skip_existing`` can keep the maps.
    """
    from pmgsam.data import build_dataset
    from pmgsam.data.splits import read_only_splits
    from pmgsam.engine.config import ExperimentConfig
    from pmgsam.utils.config import load_config

    if isinstance(config, (str, Path)):
        cfg = load_config(ExperimentConfig, config, overrides)
        config_model = load_config(ExperimentConfig, config).model
    else:
        cfg = from_dict(ExperimentConfig, apply_overrides(to_dict(config), overrides))
        config_model = config.model
    key = (str(config), str(checkpoint), tuple(overrides), device)
    predictor = reuse.get("predictor") if reuse is not None and reuse.get("key") == key else None
    run_on = predictor.device if predictor else resolve_device(device or "auto", option="--device")
    # What Predictor uses: cfg.performance sets no precision, so amp "auto" (resolve_amp).
    amp = predictor.amp if predictor else resolve_amp("auto", run_on)

    reused_producer = None
    if predictor is not None:  # reused: with the hash of the file it came from and its producer
        weights, reused_producer = reuse.get("weights"), reuse.get("producer")
    loaded: List[Tuple[Any, HashedWeights]] = []  # one load per call, whoever asks first

    def load_model() -> Any:
        fields = checkpoint_model_fields(checkpoint, config_model, overrides, str(config))
        return load_pretrained(checkpoint, **fields)

    def load(hashed: Optional[HashedWeights] = None) -> Tuple[Any, HashedWeights]:
        if loaded:
            return loaded[0]
        if predictor is not None and weights is not None:
            loaded.append((predictor.model, weights))  # the reused model: nothing is read
        else:
            loaded.append(load_hashed(load_model, checkpoint, hashed or weights))
        return loaded[0]

    # With skip_existing the folders are checked before the model loads (as in inference).
    model = predictor.model if predictor else (None if skip_existing else load()[0])
    stored = model.config if model is not None else read_model_config(resolve_weights(checkpoint))
    size = stored.image_size
    # Predicting never saves a split file (its callers score or analyse; training saves them).
    with read_only_splits():
        dataset = build_dataset(cfg.data, split, size, train=False)
    folders = dataset_folders(dataset)
    sources = map_sources(dict(zip(dataset.names, dataset.image_paths)))
    outputs = [(out_dir, option, "final")]
    if premask_dir is not None:
        refuse_shared_output(out_dir, option, premask_dir, premask_option)
        outputs.append((premask_dir, premask_option, "pre_mask"))
    for folder, name, _ in outputs:
        check_output_dir(folder, sources, folders, overwrite, name)
    model, producer, skip = load_and_plan(
        outputs, checkpoint, amp, sources, skip_existing, load, weights, reused_producer
    )
    left = left_out or {}
    failures = FailedInputs(keep_going, f"split {split}", (folder for folder, _, _ in outputs))
    kept = [f"{stem}.png" for stem in skip]
    prepare_outputs(
        outputs, list(sources), folders, overwrite, "predict_split", producer, sources, False, kept
    )
    todo = [i for i, stem in enumerate(dataset.names) if stem not in skip and stem not in left]
    if skip_existing:
        logger.info("%s: %d image(s) skipped: their maps are in %s from the same weights and "
                    "settings; predicting %d", split, len(skip), out_dir, len(todo))  # fmt: skip
    if predictor is None:
        predictor = Predictor(model, run_on, amp, performance=cfg.performance)
        if reuse is not None:
            reuse.update(key=key, predictor=predictor, weights=loaded[0][1], producer=producer)
    try:
        for stem in dataset.names:
            if stem in left:
                failures(stem, left[stem])
        if todo:
            logger.info("predicting %d images of split %s → %s", len(todo), split, out_dir)
            predictor.predict_dataset(
                Subset(dataset, todo) if len(todo) < len(dataset) else dataset,
                out_dir,
                batch_size=batch_size,
                num_workers=cfg.data.num_workers,
                progress=progress,
                premask_dir=premask_dir,
                unreadable=failures,
                workers_option="data.num_workers",
                threads=cfg.train.num_threads,
                threads_option="train.num_threads",
            )
    finally:
        failures.record(folder for folder, _, _ in outputs)
    done = [name for name in sources if name[: -len(".png")] not in failures.failed]
    for folder, _, _ in outputs:
        settle_output_dir(folder, done, kept=kept)
    if failures.failed:
        raise failures.error()
    return Path(out_dir)


def main(argv: Optional[List[str]] = None) -> int:
    """Predict the maps of ``--input`` into ``--out`` (and ``--premask-out``); 0 on success."""
    parser = build_parser()
    args = parse_arguments(parser, argv)
    device = resolve_device(args.device, option="--device")
    input_dir = Path(args.input)
    # Checked before the model is built, so a refused folder costs nothing; created after it
    # loaded, so a checkpoint error leaves no empty folder behind.
    # Listed once: its warnings are said once.
    listed = input_images(input_dir, (args.out, args.premask_out))
    sources = map_sources(listed)
    names = list(sources)  # <stem>.png of every listed image
    # A single image's folder counts as input too: maps written there could replace its images.
    # Only the files directly in it are read (input_images), so a subfolder of it may take the
    # maps (flat_inputs): a rerun never reads them as images.
    read = [input_dir if input_dir.is_dir() else input_dir.parent]
    outputs = [(args.out, "--out", "final")]
    if args.premask_out:
        refuse_shared_output(args.out, "--out", args.premask_out, "--premask-out")
        outputs.append((args.premask_out, "--premask-out", "pre_mask"))
    for folder, option, _ in outputs:
        check_output_dir(folder, names, read, args.overwrite, option, flat_inputs=True)
    fields, perf = split_overrides(parser, args.overrides)
    amp = resolve_amp(args.amp, device)
    model, producer, skip = load_and_plan(
        outputs, args.checkpoint, amp, sources, args.skip_existing,
        lambda hashed: load_hashed(
            lambda: load_pretrained(args.checkpoint, **apply_overrides({}, fields)),
            args.checkpoint, hashed,
        ),
    )  # fmt: skip
    todo = {stem: path for stem, path in listed.items() if stem not in skip}
    if args.skip_existing:
        where = " and --premask-out" if args.premask_out else ""
        logger.info("%d image(s) skipped: their maps are in --out%s from the same weights and "
                    "settings; predicting %d", len(skip), where, len(todo))  # fmt: skip
    # A skipped image is not opened at all (its header included).
    # None readable is no error here: each unreadable file is a failed input (as with others).
    dataset = (
        ImageFolder(input_dir, model.config.image_size, todo, none_readable_ok=True)
        if todo or not skip
        else None
    )
    folders = [args.out, args.premask_out]
    failures = FailedInputs(args.keep_going, f"--input '{input_dir}'", folders)
    unreadable = dataset.unreadable if dataset is not None else []  # (an empty one is falsy)
    for file_name, reason in unreadable:
        if args.keep_going:
            failures(Path(file_name).stem, reason)
        else:  # every header is read first: all are named below, nothing is predicted
            failures.failed[Path(file_name).stem] = reason
    # A map an earlier run wrote for such a file goes, also when the run stops here; and before
    # prepare_outputs, which would warn that it stays.
    failures.record(folders)
    if unreadable and not args.keep_going:
        raise DataError(
            f"{len(unreadable)} input file(s) in '{input_dir}' cannot be read: "
            f"{dataset.describe_unreadable()}; nothing was predicted: fix or remove them, "
            "or pass --keep-going to predict the others (they get no map)"
        )
    # Only the maps it will write: a name recorded for an unreadable image would later let a
    # user's file of that name pass for the tool's own.
    written = [f"{n}.png" for n in (dataset.names if dataset else [])]
    kept = [f"{n}.png" for n in skip]
    prepare_outputs(
        outputs, written + kept, read, args.overwrite, "inference", producer, sources, True, kept
    )
    took = None  # seconds of prediction, map writing included
    try:
        if dataset is not None and dataset.names:
            predictor = Predictor(model, device, amp, performance=perf)
            start = time.perf_counter()
            predictor.predict_dataset(
                dataset, args.out, args.batch_size, args.num_workers,
                premask_dir=args.premask_out, unreadable=failures, workers_option="--num-workers",
                threads=args.threads, threads_option="--threads", progress=not args.quiet,
                write_threads=args.write_threads,
            )  # fmt: skip
            took = time.perf_counter() - start
    finally:
        failures.record(folders)
    written = [n for n in written if n[: -len(".png")] not in failures.failed]
    for folder, _, _ in outputs:
        settle_output_dir(folder, written + kept, kept=kept)
    pre = f" and their Pre-Mask maps to {args.premask_out}" if args.premask_out else ""
    also = f"; skipped {len(skip)} image(s) whose maps were there" if args.skip_existing else ""
    maps = "probability map" if len(written) == 1 else "probability maps"
    pace = f" in {took:.1f}s ({len(written) / took:.1f} images/s)" if written and took else ""
    print(f"wrote {len(written)} {maps} to {Path(args.out)}{pre}{pace}{also}")
    if failures.failed:
        raise failures.error([listed[stem].name for stem in sorted(failures.failed)])
    return 0


if __name__ == "__main__":
    run_cli(main, "python -m pmgsam.engine.inference")

"""Inference: predict a dataset split, a folder of images or one image into 8-bit probability PNGs.

    python -m pmgsam.engine.inference --checkpoint W.safetensors --input IMAGES_DIR|IMAGE --out DIR
        [--batch-size 4] [--num-workers 2] [--device auto|cpu|cuda|cuda:N] [--amp auto|bf16|none]
        [--overwrite] [--premask-out DIR] [model.hiera_checkpoint=... ...]

``--checkpoint`` is a weights file, a checkpoint folder or a training run folder (its best
weights); ``--amp auto`` is bf16 on CUDA and full precision on the CPU.

Each prediction is written at the original image resolution as ``<stem>.png`` (0–255, the
foreground probability × 255 rounded), which is what the DIS/COS evaluation reads.

``--out`` must not be (or lie inside) the input folder, and must not hold files this tool did
not write unless ``--overwrite`` is given (see :mod:`pmgsam.utils.outputs`). Input files whose
header cannot be read (zero-byte, not an image, broken link, over PIL's pixel limit) are listed
and skipped: the others still get their maps, and the command then exits with status 2.

``--premask-out`` also writes the intermediate Pre-Mask maps the same way (for the Pre-Mask
analysis, ``python -m pmgsam.analysis premask``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from pmgsam.data import EvalTransform, load_image, unpad_and_resize
from pmgsam.data.io import (
    IMAGE_EXTENSIONS,
    DataError,
    DataNotFoundError,
    list_files,
    mask_warning_worker_init,
    natural_key,
    other_files,
    read_size,
)
from pmgsam.data.orientation import EXIF_ADVICE, exif_orientation
from pmgsam.engine.config import PerformanceConfig
from pmgsam.engine.distributed import autocast, resolve_device
from pmgsam.engine.performance import (
    configure_backends,
    maybe_compile,
    prepare_model,
    to_memory_format,
)
from pmgsam.modeling.build import load_pretrained
from pmgsam.modeling.checkpoint import checkpoint_model_fields
from pmgsam.utils.cli import (
    DEVICE_NAMES,
    HelpFormatter,
    device_name,
    non_negative_int,
    positive_int,
    run_cli,
)
from pmgsam.utils.config import apply_overrides, from_dict, to_dict
from pmgsam.utils.io import atomic_path
from pmgsam.utils.messages import preview
from pmgsam.utils.outputs import (
    check_output_dir,
    dataset_folders,
    prepare_output_dir,
    refuse_shared_output,
)

# By name: run as `python -m pmgsam.engine.inference`, __name__ is "__main__".
logger = logging.getLogger("pmgsam.engine.inference")


def input_images(source: Union[str, Path]) -> Dict[str, Path]:
    """``{stem: path}`` of the images to predict: every image of a folder (files of other types
    are named in a warning), or one image file."""
    source = Path(source)
    if not source.exists():
        raise DataNotFoundError(f"--input '{source}' does not exist")
    if source.is_dir():
        others = other_files(source, IMAGE_EXTENSIONS)
        if others:
            kinds = ", ".join(IMAGE_EXTENSIONS)
            logger.warning("%d file(s) in '%s' are not of a type pmgsam reads (%s) and get no "
                           "map: %s", len(others), source, kinds, preview(others, 10))  # fmt: skip
        return list_files(source, IMAGE_EXTENSIONS, "image")
    if source.suffix.lower() not in IMAGE_EXTENSIONS:
        raise DataError(
            f"--input '{source}' is neither a folder nor an image file "
            f"({', '.join(IMAGE_EXTENSIONS)})"
        )
    return {source.stem: source}


class ImageFolder(Dataset):
    """Every image of a folder, or one image file (no masks), resized + padded for the model.

    Files whose header cannot be read are left out and listed in ``unreadable`` (path, reason),
    so that one bad file does not cost the maps of all the others.

    Arguments:
      folder (path): directory of images, or a single image file.
      image_size (int): S.
      files (dict, optional): ``{stem: path}`` already listed by :func:`input_images`.
    """

    def __init__(
        self,
        folder: Union[str, Path],
        image_size: int,
        files: Optional[Dict[str, Path]] = None,
    ) -> None:
        files = input_images(folder) if files is None else files
        if not files:
            raise DataNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in '{folder}'")
        self.unreadable: List[Tuple[str, str]] = []  # (file name, reason)
        names = []
        for name in sorted(files, key=natural_key):
            try:
                read_size(files[name])
                names.append(name)
            except DataError as err:
                self.unreadable.append((files[name].name, str(err)))
        if not names:
            raise DataError(f"none of the {len(files)} images in '{folder}' can be read: "
                            f"{self.describe_unreadable()}")  # fmt: skip
        self.names = names
        self.image_paths = [files[n] for n in self.names]
        self.transform = EvalTransform(image_size)
        oriented = [p.name for p in self.image_paths if exif_orientation(p) != 1]
        if oriented:
            logger.warning(
                "%d image(s) carry an EXIF orientation that viewers apply (%s): their maps "
                "follow the pixels as stored, not the view a photo viewer shows. %s",
                len(oriented),
                preview(oriented, 10),
                EXIF_ADVICE[0].upper() + EXIF_ADVICE[1:],
            )

    def describe_unreadable(self) -> str:
        """The unreadable files by name, then the first one's reason."""
        names = preview([name for name, _ in self.unreadable], 10)
        return f"{names} (first: {self.unreadable[0][1]})" if self.unreadable else ""

    def __len__(self) -> int:
        return len(self.image_paths)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        sample = dict(self.transform(load_image(self.image_paths[index])))
        sample["name"] = self.names[index]
        return sample


class Predictor:
    """Runs a PMG-SAM model on padded batches and maps probabilities back to original sizes.

    Arguments:
      model (nn.Module): a PMG-SAM model (moved to ``device`` and put in eval mode here).
      device (str or torch.device): where to run; ``auto`` picks CUDA when available.
      amp (str): ``bf16`` autocast on CUDA (default there), ``none`` for full precision.
      performance (PerformanceConfig, optional): speed options (Hiera attention form,
        channels-last, torch.compile, TF32); the defaults when omitted.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        device: Any = "auto",
        amp: str = "auto",
        performance: Optional[PerformanceConfig] = None,
    ) -> None:
        if not isinstance(device, torch.device):
            device = resolve_device(device or "auto")
        self.device = device
        self.perf = performance or PerformanceConfig()
        configure_backends(self.perf, device)
        # The caller's model keeps its input check for its own calls; _forward skips it.
        self.model = prepare_model(model.to(self.device).eval(), self.perf, skip_input_check=False)
        self.net = maybe_compile(self.model, self.perf)
        if amp == "auto":
            amp = "bf16" if self.device.type == "cuda" else "none"
        if amp not in ("bf16", "none"):
            raise ValueError(f"amp must be 'bf16' or 'none', got {amp!r}")
        self.amp = amp
        self.image_size = model.config.image_size

    def _forward(self, images: torch.Tensor) -> Dict[str, torch.Tensor]:
        with autocast(self.device, torch.bfloat16 if self.amp == "bf16" else None):
            images = to_memory_format(images.to(self.device, non_blocking=True), self.perf)
            return self.net(images, check_range=False)

    @torch.inference_mode()
    def predict_batch(self, images: torch.Tensor) -> torch.Tensor:
        """Foreground probabilities (B, 1, S, S) for padded images (B, 3, S, S) in [0, 1]."""
        return torch.sigmoid(self._forward(images)["mask"].float())

    @torch.inference_mode()
    def predict_batch_with_premask(self, images: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(final, Pre-Mask) probabilities, both (B, 1, S, S), from one forward pass."""
        out = self._forward(images)
        return torch.sigmoid(out["mask"].float()), torch.sigmoid(out["pre_mask"].float())

    def predict_dataset(
        self,
        dataset: Dataset,
        out_dir: Union[str, Path],
        batch_size: int = 4,
        num_workers: int = 2,
        progress: bool = True,
        premask_dir: Union[str, Path, None] = None,
    ) -> Path:
        """Write ``<name>.png`` probability maps at each sample's original size.

        With ``premask_dir`` the Pre-Mask probabilities are written there too (same names).
        """
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        loader = DataLoader(
            dataset,
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=self.device.type == "cuda",
            worker_init_fn=mask_warning_worker_init(),
        )
        # As a context: a failure closes the bar first, so the error gets a line of its own.
        with tqdm(total=len(dataset), desc=f"predict → {out_dir}", disable=not progress) as bar:
            for batch in loader:
                if premask_dir is None:
                    probs = self.predict_batch(batch["image"])
                else:
                    probs, pre = self.predict_batch_with_premask(batch["image"])
                    _write_premasks(pre, batch, Path(premask_dir), self.image_size)
                for prob, size, name in zip(probs, batch["orig_size"], batch["name"]):
                    full = unpad_and_resize(prob[0], size, self.image_size)
                    write_probability_png(full, out_dir / f"{name}.png")
                bar.update(len(batch["name"]))
        return out_dir


def _write_premasks(probs: torch.Tensor, batch: Dict[str, Any], out: Path, size: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for prob, orig, name in zip(probs, batch["orig_size"], batch["name"]):
        write_probability_png(unpad_and_resize(prob[0], orig, size), out / f"{name}.png")


def write_probability_png(prob: torch.Tensor, path: Path) -> None:
    """Save a [0, 1] probability map as an 8-bit grayscale PNG.

    The map may live on the GPU: un-padding, resizing to the original size (2K-4K for DIS) and
    quantising happen there, and only the 8-bit result crosses to the host. Written whole under
    a temporary name, then renamed: a killed run leaves no truncated map under the map's name.
    """
    levels = torch.round(prob.float().clamp(0, 1) * 255.0)  # half to even, as np.rint
    arr = levels.to(torch.uint8).cpu().numpy()
    ok, png = cv2.imencode(".png", arr)
    if not ok:
        raise OSError(f"could not encode prediction '{path}' as PNG")
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(png.tobytes())
    except OSError as err:
        raise OSError(f"could not write prediction '{path}': {err.strerror or err}") from err


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
) -> Path:
    """Predict one split of the dataset described by an experiment config.

    Arguments:
      config: experiment YAML path (or an already loaded ``ExperimentConfig``).
      checkpoint: PMG-SAM weights file or a training run directory.
      split: dataset split name (see :mod:`pmgsam.data.config`).
      out_dir: folder for the PNG probability maps.
      device: ``auto``, ``cpu`` or ``cuda[:i]``.
      batch_size: images per forward pass.
      overrides: ``key=value`` overrides of the experiment config.
      overwrite: allow an ``out_dir`` that holds files this tool did not write (never one of
        the dataset's folders; see :func:`pmgsam.utils.outputs.prepare_output_dir`).
      premask_dir: also write the Pre-Mask probability maps into this folder.
      progress: show a progress bar.
      reuse: a dict the caller keeps across calls: the first call stores its loaded (and,
        with ``performance.compile``, compiled) model there and later calls with the same
        config, checkpoint, overrides and device use it, so several splits cost one load.
    Returns the folder holding one PNG per image stem.
    """
    from pmgsam.data import build_dataset
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
    if predictor:
        model = predictor.model
    else:
        fields = checkpoint_model_fields(checkpoint, config_model, overrides, str(config))
        model = load_pretrained(checkpoint, **fields)
    dataset = build_dataset(cfg.data, split, model.config.image_size, train=False)
    folders = dataset_folders(dataset)
    names = [f"{n}.png" for n in dataset.names]
    prepare_output_dir(out_dir, names, folders, overwrite, "output folder", "predict_split")
    if premask_dir is not None:
        refuse_shared_output(out_dir, "the output folder", premask_dir, "premask_dir")
        prepare_output_dir(premask_dir, names, folders, overwrite, "premask_dir", "predict_split")
    if predictor is None:
        run_on = resolve_device(device or "auto", option="--device")
        predictor = Predictor(model, run_on, performance=cfg.performance)
        if reuse is not None:
            reuse.update(key=key, predictor=predictor)
    logger.info("predicting %d images of split %s → %s", len(dataset), split, out_dir)
    return predictor.predict_dataset(
        dataset,
        out_dir,
        batch_size=batch_size,
        num_workers=cfg.data.num_workers,
        progress=progress,
        premask_dir=premask_dir,
    )


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pmgsam.engine.inference",
        description="Predict probability maps for a folder of images, or one image",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--checkpoint", required=True, help="weights file or training run dir")
    parser.add_argument("--input", required=True, help="folder of images, or one image file")
    parser.add_argument("--out", required=True, help="output folder for <stem>.png maps")
    parser.add_argument("--batch-size", type=positive_int, default=4)
    parser.add_argument("--num-workers", type=non_negative_int, default=2)
    parser.add_argument("--device", default="auto", type=device_name, help=DEVICE_NAMES)
    parser.add_argument("--amp", default="auto", choices=["auto", "bf16", "none"])
    parser.add_argument(
        "--overwrite", action="store_true", help="allow an --out folder holding other files"
    )
    parser.add_argument("--premask-out", help="also write the Pre-Mask maps to this folder")
    parser.add_argument(
        "overrides",
        nargs="*",
        help="where the frozen weights now are, e.g. model.u2net_checkpoint=PATH (as train.py "
        "takes it; the model. prefix may be left out)",
    )
    args = parser.parse_args(argv)
    device = resolve_device(args.device, option="--device")
    input_dir = Path(args.input)
    # Checked before the model is built, so a refused folder costs nothing; created after it
    # loaded, so a checkpoint error leaves no empty folder behind.
    listed = input_images(input_dir)  # listed once: its warnings are said once
    names = [f"{n}.png" for n in listed]
    # A single image's folder counts as input too: maps written there could replace its images.
    read = [input_dir if input_dir.is_dir() else input_dir.parent]
    outputs = [(args.out, "--out")]
    if args.premask_out:
        refuse_shared_output(args.out, "--out", args.premask_out, "--premask-out")
        outputs.append((args.premask_out, "--premask-out"))
    for folder, option in outputs:
        check_output_dir(folder, names, read, args.overwrite, option)
    others = [o for o in args.overrides if "." in o.split("=")[0] and not o.startswith("model.")]
    if others:
        parser.error(
            f"{', '.join(others)}: inference takes model.* overrides only (where the frozen "
            "weights now are); the images come from --input, the rest from the checkpoint"
        )
    fields = [o[len("model.") :] if o.startswith("model.") else o for o in args.overrides]
    model = load_pretrained(args.checkpoint, **apply_overrides({}, fields))
    dataset = ImageFolder(input_dir, model.config.image_size, listed)
    # Only the maps it will write: a name recorded for an unreadable image would later let a
    # user's file of that name pass for the tool's own.
    written = [f"{n}.png" for n in dataset.names]
    for folder, option in outputs:
        prepare_output_dir(folder, written, read, args.overwrite, option, "inference")
    predictor = Predictor(model, device, args.amp)
    out = predictor.predict_dataset(
        dataset, args.out, args.batch_size, args.num_workers, premask_dir=args.premask_out
    )
    pre = f" and their Pre-Mask maps to {args.premask_out}" if args.premask_out else ""
    print(f"wrote {len(dataset)} probability maps to {out}{pre}")
    if dataset.unreadable:
        raise DataError(
            f"{len(dataset.unreadable)} input file(s) in '{input_dir}' could not be read and "
            f"got no map: {dataset.describe_unreadable()}"
        )
    return 0


if __name__ == "__main__":
    run_cli(main, "python -m pmgsam.engine.inference")

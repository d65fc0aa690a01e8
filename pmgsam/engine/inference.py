"""Inference: predict a dataset split or a folder of images into 8-bit probability PNGs.

    python -m pmgsam.engine.inference --checkpoint W.safetensors --input IMAGES_DIR --out DIR
        [--batch-size 4] [--device cuda|cpu] [--amp bf16|none] [--premask-out DIR]
        [hiera_checkpoint=... ...]

Each prediction is written at the original image resolution as ``<stem>.png`` (0–255, the
foreground probability × 255 rounded), which is what the DIS/COS evaluation reads.
``--premask-out`` also writes the intermediate Pre-Mask maps the same way (for the Pre-Mask
analysis, ``python -m pmgsam.analysis premask``).
"""

from __future__ import annotations

import argparse
import logging
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from pmgsam.data import EvalTransform, load_image, unpad_and_resize
from pmgsam.data.io import list_files, natural_key
from pmgsam.engine.distributed import resolve_device
from pmgsam.engine.state import resolve_weights
from pmgsam.modeling.build import build_model
from pmgsam.modeling.checkpoint import load_model_weights, read_model_file
from pmgsam.utils.config import apply_overrides, from_dict, to_dict

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class ImageFolder(Dataset):
    """Every image of a folder (no masks), resized + padded for the model.

    Arguments:
      folder (path): directory of images.
      image_size (int): S.
    """

    def __init__(self, folder: Union[str, Path], image_size: int) -> None:
        files = list_files(Path(folder), IMAGE_EXTENSIONS, "image")
        if not files:
            raise FileNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in '{folder}'")
        self.names = sorted(files, key=natural_key)
        self.image_paths = [files[n] for n in self.names]
        self.transform = EvalTransform(image_size)

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
    """

    def __init__(self, model: torch.nn.Module, device: Any = "auto", amp: str = "auto") -> None:
        if not isinstance(device, torch.device):
            device = resolve_device(device or "auto")
        self.device = device
        self.model = model.to(self.device).eval()
        if amp == "auto":
            amp = "bf16" if self.device.type == "cuda" else "none"
        if amp not in ("bf16", "none"):
            raise ValueError(f"amp must be 'bf16' or 'none', got {amp!r}")
        self.amp = amp
        self.image_size = model.config.image_size

    def _autocast(self):
        if self.amp == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    @torch.inference_mode()
    def predict_batch(self, images: torch.Tensor) -> torch.Tensor:
        """Foreground probabilities (B, 1, S, S) for padded images (B, 3, S, S) in [0, 1]."""
        with self._autocast():
            logits = self.model(images.to(self.device, non_blocking=True))["mask"]
        return torch.sigmoid(logits.float())

    @torch.inference_mode()
    def predict_batch_with_premask(self, images: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(final, Pre-Mask) probabilities, both (B, 1, S, S), from one forward pass."""
        with self._autocast():
            out = self.model(images.to(self.device, non_blocking=True))
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
        )
        bar = tqdm(total=len(dataset), desc=f"predict → {out_dir}", disable=not progress)
        for batch in loader:
            if premask_dir is None:
                probs = self.predict_batch(batch["image"]).cpu()
            else:
                probs, pre = (p.cpu() for p in self.predict_batch_with_premask(batch["image"]))
                _write_premasks(pre, batch, Path(premask_dir), self.image_size)
            for prob, size, name in zip(probs, batch["orig_size"], batch["name"]):
                full = unpad_and_resize(prob[0], size, self.image_size)
                write_probability_png(full, out_dir / f"{name}.png")
            bar.update(len(batch["name"]))
        bar.close()
        return out_dir


def _write_premasks(probs: torch.Tensor, batch: Dict[str, Any], out: Path, size: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for prob, orig, name in zip(probs, batch["orig_size"], batch["name"]):
        write_probability_png(unpad_and_resize(prob[0], orig, size), out / f"{name}.png")


def write_probability_png(prob: torch.Tensor, path: Path) -> None:
    """Save a [0, 1] probability map as an 8-bit grayscale PNG."""
    arr = np.rint(prob.clamp(0, 1).numpy() * 255.0).astype(np.uint8)
    if not cv2.imwrite(str(path), arr):
        raise OSError(f"could not write prediction '{path}'")


def load_model_for_inference(
    checkpoint: Union[str, Path], model_overrides: Optional[Dict[str, Any]] = None
) -> torch.nn.Module:
    """Build the architecture stored in ``checkpoint`` and load its weights.

    ``model_overrides`` may point the frozen branches at other files (``hiera_checkpoint``,
    ``u2net_checkpoint``); an architecture change is refused with the differing fields.
    """
    path = resolve_weights(checkpoint)
    _, config = read_model_file(path)
    model = build_model(config, **{"sam_checkpoint": None, **(model_overrides or {})})
    load_model_weights(model, path)
    return model


def predict_split(
    config: Union[str, Path, Any],
    checkpoint: Union[str, Path],
    split: str,
    out_dir: Union[str, Path],
    device: Optional[str] = "auto",
    batch_size: int = 4,
    overrides: Sequence[str] = (),
    premask_dir: Union[str, Path, None] = None,
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
      premask_dir: also write the Pre-Mask probability maps into this folder.
    Returns the folder holding one PNG per image stem.
    """
    from pmgsam.data import build_dataset
    from pmgsam.engine.config import ExperimentConfig
    from pmgsam.utils.config import load_config

    if isinstance(config, (str, Path)):
        cfg = load_config(ExperimentConfig, config, overrides)
    else:
        cfg = from_dict(ExperimentConfig, apply_overrides(to_dict(config), overrides))
    weights = {
        k: getattr(cfg.model, k)
        for k in ("hiera_checkpoint", "u2net_checkpoint")
        if getattr(cfg.model, k)
    }
    model = load_model_for_inference(checkpoint, weights)
    dataset = build_dataset(cfg.data, split, model.config.image_size, train=False)
    predictor = Predictor(model, device)
    logger.info("predicting %d images of split %s → %s", len(dataset), split, out_dir)
    return predictor.predict_dataset(
        dataset,
        out_dir,
        batch_size=batch_size,
        num_workers=cfg.data.num_workers,
        premask_dir=premask_dir,
    )


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="Predict probability maps for a folder of images")
    parser.add_argument("--checkpoint", required=True, help="weights file or training run dir")
    parser.add_argument("--input", required=True, help="folder of images")
    parser.add_argument("--out", required=True, help="output folder for <stem>.png maps")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--amp", default="auto", choices=["auto", "bf16", "none"])
    parser.add_argument("--premask-out", help="also write the Pre-Mask maps to this folder")
    parser.add_argument("overrides", nargs="*", help="model fields, e.g. u2net_checkpoint=PATH")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    model_overrides = apply_overrides({}, args.overrides)
    model = load_model_for_inference(args.checkpoint, model_overrides)
    predictor = Predictor(model, args.device, args.amp)
    dataset = ImageFolder(args.input, model.config.image_size)
    out = predictor.predict_dataset(
        dataset, args.out, args.batch_size, args.num_workers, premask_dir=args.premask_out
    )
    print(f"wrote {len(dataset)} probability maps to {out}")


if __name__ == "__main__":
    main()

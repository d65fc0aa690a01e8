"""What ``python -m pmgsam.engine.inference`` runs: the :class:`Predictor` that turns images
(:mod:`pmgsam.engine.inference_inputs`) into probability maps, and the record of what produced
the maps.

Each prediction is written at the original image resolution as ``<stem>.png`` (0–255, the
foreground probability × 255 rounded, :mod:`pmgsam.engine.prediction_maps`), which is what the
DIS/COS evaluation reads. The names stay importable from :mod:`pmgsam.engine.inference`.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple, Union

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from pmgsam.data import EvalTransform, unpad_and_resize
from pmgsam.data.io import DataError
from pmgsam.engine.cuda_graphs import maybe_graph
from pmgsam.engine.distributed import autocast, make_current, native_bf16, resolve_device

# Re-exported: callers import ImageFolder and input_images from here.
from pmgsam.engine.inference_inputs import (  # noqa: F401
    ImageFolder,
    SkipUnreadable,
    collate_readable,
    image_argument,
    input_images,
)
from pmgsam.engine.map_writer import MapWriter, prediction_workers, write_threads_for
from pmgsam.engine.performance import (
    configure_backends,
    maybe_compile,
    prepare_model,
    to_memory_format,
)
from pmgsam.engine.performance_config import PerformanceConfig

# Re-exported: callers import the map writer and its NaN warning from here.
from pmgsam.engine.prediction_maps import (  # noqa: F401
    NAN_CAUSE,
    NaNPredictionWarning,
    binary_mask,
    probability_levels,
    warn_nan_maps,
    write_probability_png,
)
from pmgsam.modeling.checkpoint import (
    read_frozen_digests,
    read_model_config,
    resolve_weights,
    weights_digest,
)
from pmgsam.utils.cpus import (
    cpu_share,
    loader_workers,
    say_once,
    threads_beside,
    torch_threads,
)
from pmgsam.utils.loaders import command_worker_init, loader_batches

# The inference command's messages, under its name (it runs as __main__).
logger = logging.getLogger("pmgsam.engine.inference")


def resolve_amp(amp: str, device: torch.device) -> str:
    """``bf16`` or ``none``: ``auto`` is bf16 on a CUDA GPU that computes in bf16 natively
    (compute capability 8.0+), full precision elsewhere (inference has no fp16 mode). An
    explicit ``bf16`` on an older GPU, which only emulates it, runs with a warning."""
    emulated = amp in ("auto", "bf16") and device.type == "cuda" and not native_bf16(device)
    if amp == "auto":
        amp = "bf16" if device.type == "cuda" and not emulated else "none"
    if amp not in ("bf16", "none"):
        raise ValueError(f"amp must be 'auto', 'bf16' or 'none' (no fp16 mode), got {amp!r}")
    if amp == "bf16" and emulated:
        warn_once(
            f"amp bf16 on {torch.cuda.get_device_name(device)} ({device}): this GPU only "
            "emulates bfloat16 (native from compute capability 8.0), many times slower than "
            "fp16 there; amp auto (or none) runs it in full precision"
        )
    return amp


_warned: Set[str] = set()


def warn_once(message: str) -> None:
    """Log ``message`` as a warning once per process (the inference command and its
    Predictor both resolve ``--amp``)."""
    if message not in _warned:
        _warned.add(message)
        logger.warning("%s", message)


def map_producer(
    checkpoint: Union[str, Path], amp: str, weights_sha256: Optional[str] = None
) -> Dict[str, Any]:
    """What makes the maps of a run, as an output folder's manifest records it (see
    :func:`pmgsam.utils.outputs.finished_maps`): the weights file and its SHA-256, the frozen
    branches' SHA-256 as the checkpoint records them (empty for checkpoints from before they
    were; fill them from the loaded model), the image size S and the resolved ``amp``. Read
    from the checkpoint's header and bytes, without building the model; ``weights_sha256``:
    the weights' SHA-256 when the caller already has it (a run of several splits hashes a
    file of gigabytes once, not once per split)."""
    path = resolve_weights(checkpoint)
    config = read_model_config(path)  # first: its errors name a file that is not a checkpoint
    return {
        "weights": str(path.resolve()),
        "weights_sha256": weights_sha256 or weights_digest(path),
        "frozen_sha256": read_frozen_digests(path),
        "image_size": config.image_size,
        "amp": amp,
        "maps": "final",
    }


class Predictor:
    """Runs a PMG-SAM model on padded batches and maps probabilities back to original sizes.

    Arguments:
      model (nn.Module): a PMG-SAM model. It is prepared in place, not copied: moved to
        ``device``, put in eval mode, its convolutions given the memory format
        ``performance.channels_last`` asks for (channels-last, or back to contiguous NCHW) and
        its Hiera attention the form ``performance.hiera_window_attention`` asks for (with
        ``compile_scope="regional"``, its blocks are compiled in place too). Each prediction
        runs in eval mode, also after a ``model.train()``, whose mode it leaves as it was. It
        may be converted to float16 or bfloat16. The model stays usable:
        :func:`~pmgsam.modeling.checkpoint.save_model` and ``torch.save`` store the same
        weights, and it trains after ``model.train()``; only a raw
        ``safetensors.torch.save_file(model.state_dict())`` refuses channels-last tensors
        (``model.to(memory_format=torch.contiguous_format)`` first).
      device (str or torch.device): where to run; ``auto`` picks CUDA when available. A CUDA
        device becomes the current one (the loader's pinned memory and torch.cuda's queries
        follow it).
      amp (str): ``bf16`` autocast, ``none`` for full precision, or ``auto``: bf16 on a CUDA
        GPU with native bf16 (compute capability 8.0+), else none (:func:`resolve_amp`).
      performance (PerformanceConfig, optional): speed options (Hiera attention form,
        channels-last, torch.compile, CUDA graphs, TF32); the defaults when omitted.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        device: Any = "auto",
        amp: str = "auto",
        performance: Optional[PerformanceConfig] = None,
    ) -> None:
        if not hasattr(model, "config"):
            inner = getattr(model, "module", None)  # DistributedDataParallel, DataParallel
            hint = " (pass its .module, the PMG-SAM inside)" if hasattr(inner, "config") else ""
            raise TypeError(
                "Predictor runs a PMG-SAM model (pmgsam.build_model / load_pretrained), got "
                f"{type(model).__name__}{hint}"
            )
        if not isinstance(device, torch.device):
            # Commands resolve their --device first: a string here comes from library code.
            device = resolve_device(device or "auto", option="Predictor(device)")
        self.device = device
        make_current(device)
        self.perf = performance or PerformanceConfig()
        self.perf.validate()
        configure_backends(self.perf, device)
        # The caller's model keeps its input check for its own calls; _forward skips it.
        self.model = prepare_model(model.to(self.device).eval(), self.perf, skip_input_check=False)
        # Replays capture the weights' addresses: GraphedInference captures again when they
        # change (a load, a training step, a move).
        self.net = maybe_graph(
            maybe_compile(self.model, self.perf), self.model, self.perf.cuda_graphs
        )
        self.amp = resolve_amp(amp, self.device)
        self.image_size = model.config.image_size

    def _forward(self, images: torch.Tensor) -> Dict[str, torch.Tensor]:
        # A model converted with .half() or .to(torch.bfloat16) takes images of its own dtype:
        # the float32 ones of EvalTransform would be refused by it, naming a fix (autocast,
        # images.to) that a Predictor's caller cannot apply.
        weight = next(self.model.parameters(), None)  # None: a stand-in model without any
        dtype = images.dtype if weight is None else weight.dtype
        # The caller may have trained the model since (model.train()): predict in eval mode all
        # the same (a `fusion: residual` model's BatchNorm would otherwise normalise by the
        # batch and move its running statistics), then give each module its own mode back:
        # model.train() would also wake the ones a fine-tune holds in eval (frozen BatchNorms).
        modes = [(m, m.training) for m in self.model.modules()] if self.model.training else []
        if modes:
            self.model.eval()
        try:
            with autocast(self.device, torch.bfloat16 if self.amp == "bf16" else None):
                images = images.to(self.device, dtype, non_blocking=True)
                return self.net(to_memory_format(images, self.perf), check_range=False)
        finally:
            for module, mode in modes:
                module.training = mode

    def predict_batch(self, images: torch.Tensor) -> torch.Tensor:
        """Foreground probabilities (B, 1, S, S), float32 on the model's device (an ordinary
        tensor: it may be edited in place, as ``probs[probs < 0.1] = 0``).

        Arguments:
          images (torch.Tensor): padded RGB images (B, 3, S, S) in [0, 1], S being the model's
            ``image_size`` (as :class:`~pmgsam.data.transforms.EvalTransform` makes them); on
            any device (moved here). The range is not checked (that would wait on the device
            once per batch): 0-255 tensors give wrong maps without an error, NaN ones NaN
            probabilities (which the written maps name in a
            :class:`~pmgsam.engine.prediction_maps.NaNPredictionWarning`).
            :meth:`predict_image` checks its input. A model converted to float16 or
            bfloat16 gets them in its dtype.
        """
        with torch.inference_mode():
            probs = torch.sigmoid(self._forward(images)["mask"].float())
        # Cloned outside inference mode: an inference tensor refuses in-place edits and autograd
        # with a torch error that does not say where the tensor came from.
        return probs.clone()

    def predict_batch_with_premask(self, images: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(final, Pre-Mask) probabilities, both (B, 1, S, S), from one forward pass."""
        with torch.inference_mode():
            out = self._forward(images)
            final, pre = torch.sigmoid(out["mask"].float()), torch.sigmoid(out["pre_mask"].float())
        return final.clone(), pre.clone()

    def predict_image(self, image: np.ndarray) -> torch.Tensor:
        """Foreground probabilities (H, W), float32 on the CPU, of one in-memory image.

        The maps :meth:`predict_dataset` writes are these × 255, rounded
        (:func:`~pmgsam.engine.prediction_maps.probability_levels`);
        :func:`~pmgsam.engine.prediction_maps.binary_mask` gives the binary mask that scoring
        reads off such a map (level > 128, as HCE and the DIS tools binarise it), which is
        ``prob > 128.5 / 255`` (about 0.50392), not ``prob > 0.5``.

        Arguments:
          image (np.ndarray): one image, (H, W, 3) RGB, (H, W) gray or (H, W, 4) RGBA (alpha
            dropped), uint8, uint16 or float in [0, 1]
            (:func:`~pmgsam.data.transforms.as_rgb_array`). A PIL image, a tensor, a
            channels-first (3, H, W) array or a batch is refused, the message saying how to
            convert it; a uint16 image whose colours never exceed 4095 gets a warning (it is nearly
            black at 16-bit scale, as such an image file is).
        """
        sample = EvalTransform(self.image_size)(image_argument(image))
        prob = self.predict_batch(sample["image"][None])[0, 0]
        return unpad_and_resize(prob, sample["orig_size"], self.image_size).cpu()

    def predict_dataset(
        self,
        dataset: Dataset,
        out_dir: Union[str, Path],
        batch_size: int = 4,
        num_workers: Optional[int] = None,
        progress: bool = True,
        premask_dir: Union[str, Path, None] = None,
        unreadable: Optional[Callable[[str, str], None]] = None,
        workers_option: str = "num_workers",
        threads: Optional[int] = None,
        threads_option: str = "threads",
        write_threads: Optional[int] = None,
    ) -> Path:
        """Write ``<name>.png`` probability maps (0-255) at each sample's original size;
        returns ``out_dir``.

        Arguments:
          dataset (Dataset): samples as :class:`~pmgsam.data.transforms.EvalTransform` makes
            them (``image``, ``orig_size``, ``name``), with ``names`` (or a ``Subset`` of one
            that has them).
          out_dir (str or Path): folder of the maps (created when missing).
          batch_size (int): images per forward pass.
          num_workers (int, optional): loader processes, at most as many as the CPUs the process
            may use (:func:`~pmgsam.utils.cpus.loader_workers`); None (the default): 2 on the
            CPU, on a GPU most of the CPUs (:func:`~pmgsam.engine.map_writer.prediction_workers`).
          progress (bool): show a progress bar.
          premask_dir (str or Path, optional): also write the Pre-Mask probabilities there
            (same names).
          unreadable (callable, optional): a sample whose files cannot be read
            (:class:`~pmgsam.data.errors.DataError`) gets no map, and ``unreadable(name, reason)``
            is called (it may raise to stop the run, or record it and return to go on:
            :class:`~pmgsam.engine.unreadable.FailedInputs`); without it the error is raised,
            naming the file.
          workers_option (str): how the worker cap's info line names ``num_workers``.
          threads (int, optional): torch threads the model runs on meanwhile
            (:func:`prediction_threads`; None: capped beside the workers on the CPU).
          threads_option (str): how that function's info line names ``threads``.
          write_threads (int, optional): threads that encode and write the maps while the
            model predicts the next batch (:class:`~pmgsam.engine.map_writer.MapWriter`; 0:
            written in between; None: :func:`~pmgsam.engine.map_writer.write_threads_for`,
            none on the CPU, up to 4 on a GPU).
        """
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        if isinstance(dataset, Subset):
            dataset = SkipUnreadable(dataset.dataset, list(dataset.indices))
        else:
            dataset = SkipUnreadable(dataset)
        workers = loader_workers(prediction_workers(self.device, num_workers), workers_option)
        loader = DataLoader(
            dataset,
            batch_size=batch_size,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            # A SIGTERM sent to the whole job (Slurm, `kill -TERM -PGID`) must stop the run as
            # an interruption, not as torch's "DataLoader worker ... killed by signal" crash.
            worker_init_fn=command_worker_init(),
            collate_fn=collate_readable,
        )
        nan_maps: List[str] = []  # one warning for the run: a broken model gives NaN everywhere
        # The bar as a context: a failure closes it first, so the error gets a line of its own;
        # after the thread count, whose info line would otherwise cut through the bar.
        with (
            prediction_threads(self.device, workers, threads, threads_option),
            tqdm(total=len(dataset), desc=f"predict → {out_dir}", disable=not progress) as bar,
            loader_batches(loader) as batches,
            warn_nan_maps(nan_maps),
            MapWriter(write_threads_for(self.device, workers, write_threads), nan_maps) as maps,
        ):
            for loaded in batches:
                for name, reason in loaded["unreadable"]:
                    if unreadable is None:
                        raise DataError(reason)
                    unreadable(name, reason)
                batch = loaded["batch"]
                if batch is not None:
                    self._write_batch(batch, out_dir, premask_dir, maps)
                bar.update(len(loaded["unreadable"]) + (len(batch["name"]) if batch else 0))
        return out_dir

    def _write_batch(
        self,
        batch: Dict[str, Any],
        out_dir: Path,
        premask_dir: Union[str, Path, None],
        maps: MapWriter,
    ) -> None:
        if premask_dir is None:
            probs = self.predict_batch(batch["image"])
        else:
            probs, pre = self.predict_batch_with_premask(batch["image"])
            _write_premasks(pre, batch, Path(premask_dir), self.image_size, maps)
        for prob, size, name in zip(probs, batch["orig_size"], batch["name"]):
            maps.write(unpad_and_resize(prob[0], size, self.image_size), out_dir / f"{name}.png")


@contextlib.contextmanager
def prediction_threads(
    device: torch.device, workers: int, threads: Optional[int], option: str = "threads"
) -> Iterator[int]:
    """Run the enclosed prediction on ``threads`` torch intra-op threads, then restore torch's
    count; yields the count used.

    ``threads`` None: on the CPU, torch's count capped at
    :func:`~pmgsam.utils.cpus.threads_beside` ``workers`` (the loader processes), so that
    threads and workers together fit the CPUs the process may use; on CUDA, unchanged (the
    GPU does the work). An info line names ``option`` when the cap lowers the count.
    """
    before = torch.get_num_threads()
    if threads is None and device.type == "cpu" and threads_beside(workers) < before:
        threads = threads_beside(workers)
        loading = (
            f", {workers} of them for image-loading workers"
            if workers > 0
            else " and reads its images itself, with no image-loading workers"
        )
        say_once(
            f"predicting on {threads} torch thread(s): this process may use {cpu_share()} "
            f"CPU(s){loading} (set {option} to choose)"
        )
    with torch_threads(threads):
        yield torch.get_num_threads()


def _write_premasks(
    probs: torch.Tensor, batch: Dict[str, Any], out: Path, size: int, maps: MapWriter
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for prob, orig, name in zip(probs, batch["orig_size"], batch["name"]):
        maps.write(unpad_and_resize(prob[0], orig, size), out / f"{name}.png")

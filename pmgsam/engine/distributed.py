"""Process-group set-up for ``torchrun`` (DDP) and the few collectives the trainer needs.

A single process (no ``WORLD_SIZE`` or ``WORLD_SIZE=1`` in the environment) runs without a
process group; every helper here then degrades to a no-op.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import time
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import ContextManager, Dict, Iterator, List, Optional, Tuple

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from pmgsam.utils.cli import DEVICE_NAMES, OtherProcessFailed, is_device_name, lost_other_process
from pmgsam.utils.config import ConfigError
from pmgsam.utils.signals import Terminated, sigterm_interrupts  # noqa: F401 (used from here)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job.

    Arguments:
      rank (int): global rank (0 for a single process).
      world_size (int): number of processes.
      owns_group (bool): this module created the process group and must destroy it.
    """

    rank: int = 0
    world_size: int = 1
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0, option: str = "train.device") -> torch.device:
    """``auto`` -> ``cuda:<local_rank>`` when CUDA is available, else ``cpu``.

    Only ``auto``, ``cpu``, ``cuda`` and ``cuda:N`` are devices here (torch would also parse
    ``meta`` or ``mps``, which fail later inside the model). ``option`` names the setting the
    user gave (``train.device``, ``--device``) in the :class:`ConfigError` raised for an unknown
    or unavailable device.
    """
    if not is_device_name(name):
        raise ConfigError(f"{option}={name} is not a device (use {DEVICE_NAMES})")
    if name == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"{option}={name} but CUDA is not available here (use cpu or auto)")
    if name == "cuda":
        return torch.device(f"cuda:{local_rank}")
    device = torch.device(name)
    if device.type == "cuda" and device.index >= torch.cuda.device_count():
        raise ConfigError(
            f"{option}={name} but this machine has {torch.cuda.device_count()} CUDA device(s) "
            "(numbered from 0)"
        )
    return device


def make_current(device: torch.device) -> None:
    """Make CUDA ``device`` the current device (no-op elsewhere, and for ``cuda`` without an
    index, which is the current one). One process on cuda:N too: pinned host memory (the
    loaders') and torch.cuda's queries follow the current device, which would stay cuda:0 (and
    get a context of its own)."""
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)


def synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work so wall-clock timings measure it (no-op elsewhere)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def native_bf16(device: torch.device) -> bool:
    """Whether CUDA ``device`` computes in bfloat16 natively (compute capability 8.0+; ROCm).

    ``torch.cuda.is_bf16_supported()`` also says yes for older GPUs (V100, T4), which only
    emulate bf16, many times slower than fp16, and it asks about the current device, not
    ``device``.
    """
    if torch.version.hip:
        return True
    return torch.cuda.get_device_capability(device)[0] >= 8


def resolve_amp(amp: str, device: torch.device) -> Optional[torch.dtype]:
    """Autocast dtype for ``train.amp`` on ``device``; ``None`` means float32.

    AMP is CUDA-only here: on CPU it logs a warning and falls back to float32 rather than
    failing, so one config serves both a GPU run and a CPU smoke test.
    """
    if amp == "none":
        return None
    if device.type != "cuda":
        # A log record only: it reaches the console and the run's train.log (a Python warning
        # as well printed the line twice).
        logger.warning(f"train.amp={amp} needs CUDA; training on {device} in float32 instead")
        return None
    if amp == "bf16" and not native_bf16(device):
        raise ConfigError(
            f"train.amp=bf16: {torch.cuda.get_device_name(device)} ({device}) has no native "
            "bfloat16 support (compute capability 8.0+); use fp16"
        )
    return torch.bfloat16 if amp == "bf16" else torch.float16


def autocast(device: torch.device, dtype: Optional[torch.dtype]) -> ContextManager:
    """Autocast to ``dtype`` on ``device``; ``None`` means plain float32 (no autocast)."""
    if dtype is None or dtype == torch.float32:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def init_distributed(device_name: str) -> Tuple[DistInfo, torch.device]:
    """Join the ``torchrun`` process group described by the environment (``env://``).

    The backend is nccl for CUDA devices and gloo for CPU. An already initialised group (e.g.
    created by the caller) is used as is.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), False), device
    make_current(device)
    if world_size <= 1:
        return DistInfo(), device
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, init_method="env://")
    return DistInfo(dist.get_rank(), dist.get_world_size(), True), device


@contextmanager
def said_once(is_main: bool) -> Iterator[None]:
    """Meanwhile, on a process other than rank 0, the package's log records below ERROR and
    Python warnings are dropped.

    For what every rank does alike (a run's set-up: the same config, files and model): each
    of its warnings (no pretrained checkpoint, AMP falling back to float32 on a CPU, a moved
    dataset) was printed once per process, rank 0's in the run's log and the others' on the
    console. Errors still show on every rank."""
    if is_main:
        yield
        return
    package = logging.getLogger(__name__.split(".")[0])
    level = package.level
    package.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        package.setLevel(level)


def cleanup_distributed(info: DistInfo) -> None:
    """Destroy the process group if :func:`init_distributed` created it."""
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over all processes in place (no-op without a process group)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def barrier() -> None:
    """Wait for every process (no-op without a process group)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def broadcast_flag(flag: bool, device: torch.device) -> bool:
    """Rank 0's ``flag`` on every process (so that all ranks stop at the same epoch)."""
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return flag
    t = torch.tensor([1 if flag else 0], device=device)
    dist.broadcast(t, src=0)
    return bool(t.item())


def buffers_change_in_training(model: torch.nn.Module) -> bool:
    """Whether ``model`` has a BatchNorm that updates its running statistics while training
    (one outside the frozen branches, which stay in eval mode): the ``residual`` fusion
    ablation's. DDP must then re-broadcast buffers each forward (rank 0's), or the ranks'
    statistics drift apart and the checkpoint keeps rank 0's alone. Without one, the
    re-broadcast of the frozen branches' buffers would be wasted traffic."""
    from pmgsam.modeling.pmgsam import FROZEN_BRANCHES

    frozen = tuple(f"{name}." for name in FROZEN_BRANCHES)
    return any(
        isinstance(module, torch.nn.modules.batchnorm._BatchNorm)
        and module.track_running_stats
        and not f"{name}.".startswith(frozen)
        for name, module in model.named_modules()
    )


def derived_buffer_names(model: torch.nn.Module) -> List[str]:
    """The qualified names of ``model``'s non-persistent buffers: values derived from its
    state (the frozen U²-Net's folded BatchNorm weights, ~176 MB in float32), equal on every
    rank and recomputed where their sources change, so syncing them moves data for nothing."""
    return [
        f"{prefix}.{name}" if prefix else name
        for prefix, module in model.named_modules()
        for name, buffer in module.named_buffers(recurse=False)
        if buffer is not None and name in module._non_persistent_buffers_set
    ]


def broadcast_buffers(model: torch.nn.Module) -> None:
    """Copy rank 0's buffers (e.g. BatchNorm running statistics) to every process; derived
    ones (:func:`derived_buffer_names`) follow their sources by themselves."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        derived = set(derived_buffer_names(model))
        for name, buffer in model.named_buffers():
            if name not in derived:
                dist.broadcast(buffer, src=0)


def buffer_sync_kwargs(sync: bool) -> Dict[str, bool]:
    """``DistributedDataParallel``'s keyword for syncing buffers at each forward: torch 2.14
    renamed ``broadcast_buffers`` (deprecated, with a warning) to ``forward_sync_buffers``."""
    params = inspect.signature(DistributedDataParallel.__init__).parameters
    name = "forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers"
    return {name: sync}


def append_rank_error(log_file: Path, rank: int, err: BaseException) -> None:
    """Add ``rank``'s failure to the run's log, which only rank 0 writes otherwise: the other
    ranks then see a lost connection, not the cause. Best effort (the folder may be gone)."""
    from pmgsam.utils.cli import LOG_DATE_FORMAT
    from pmgsam.utils.messages import one_line

    stamp = time.strftime(LOG_DATE_FORMAT)
    line = f"{stamp} ERROR rank {rank}: training failed ({type(err).__name__}: {one_line(err)})\n"
    try:
        with open(log_file, "a", encoding="utf-8") as f:
            f.write(line)
    except OSError:
        pass


_RANK_FAILED = re.compile(r" ERROR rank (\d+): training failed ")


def log_size(log_file: Path) -> int:
    """How many bytes ``log_file`` holds now (0 if it cannot be read): where
    :func:`other_process_failure` starts looking for the other ranks' failures."""
    try:
        return os.path.getsize(log_file)
    except OSError:
        return 0


def _ranks_failed(log_file: Optional[Path], offset: Optional[int]) -> List[int]:
    """The ranks whose failure :func:`append_rank_error` added to ``log_file`` after byte
    ``offset``."""
    if log_file is None or offset is None:
        return []
    try:
        with open(log_file, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return sorted({int(m.group(1)) for m in _RANK_FAILED.finditer(text)})


def other_process_failure(
    err: BaseException,
    world_size: int,
    log_file: Optional[Path] = None,
    log_offset: Optional[int] = None,
) -> Optional[OtherProcessFailed]:
    """What to raise instead of ``err`` when another of the ``world_size`` processes of this
    job failed (None otherwise, and for one process): a one-line :class:`OtherProcessFailed`
    that sends the reader to the failing process's own error, which it printed (and, in
    training, added to ``log_file`` after byte ``log_offset``: :func:`append_rank_error`).

    ``err`` is gloo's lost connection to that process, whose message and traceback named
    neither it nor its error; or :class:`Terminated` once a rank's failure is in the log,
    torchrun's SIGTERM to the others, which alone said "interrupted"."""
    if world_size <= 1 or isinstance(err, OtherProcessFailed):
        return None
    failed = _ranks_failed(log_file, log_offset)
    if lost_other_process(err):
        how = "this one lost its connection to it"
    elif isinstance(err, Terminated) and failed:
        how = "torchrun then stopped this one"
    else:
        return None
    who = "another process" if not failed else f"rank {', '.join(map(str, failed))}"
    where = "printed above" + (f" and logged in '{log_file}'" if log_file else "")
    return OtherProcessFailed(f"{who} of this torchrun job failed ({how}); its error is {where}")

"""Device-side bookkeeping of a training epoch, read back only at logging steps, and what an
epoch's figures call for.

Reading a tensor's value waits for the GPU; the trainer's steps (and the SAM fine-tune's) only
add to tensors here, so the host synchronises at logging steps and at the end of the epoch,
never in between. :func:`loader_wait_warning` reads the time an epoch waited for its data.
"""

from __future__ import annotations

import time
from typing import Dict, List, Mapping, Optional, Tuple

import torch

from pmgsam.engine import distributed as D


class NonFiniteWatch:
    """Remembers, on the device, the first step whose loss was not finite.

    Arguments:
      device (torch.device): where the losses live.
    """

    def __init__(self, device: torch.device) -> None:
        self.first_step = torch.full((), -1, dtype=torch.int64, device=device)

    def record(self, loss: torch.Tensor, step: int) -> None:
        """Note ``step`` if ``loss`` is not finite and no earlier step was (no host sync)."""
        bad = ~torch.isfinite(loss.detach()) & (self.first_step < 0)
        self.first_step = torch.where(bad, step, self.first_step)

    def check(self, epoch: int) -> None:
        """Raise if a step since the start of the run produced a non-finite loss."""
        step = int(self.first_step.item())
        if step >= 0:
            raise FloatingPointError(
                f"non-finite loss at global step {step} (epoch {epoch + 1}); the weights of "
                f"later steps are not trustworthy, the last checkpoint precedes them"
            )


class EpochLosses:
    """Image-weighted sums of a step's loss components over an epoch, on the device.

    Arguments:
      device (torch.device): where the sums live.
      world_size (int): processes training; every one sees as many images per step.
      dtype (torch.dtype): of the sums. float64 adds exactly as Python floats do, so the
        means equal those of a host-side sum of each step's value read back.
    """

    def __init__(
        self, device: torch.device, world_size: int, dtype: torch.dtype = torch.float32
    ) -> None:
        self.device = device
        self.world_size = world_size
        self.dtype = dtype
        self.sums: Dict[str, torch.Tensor] = {}
        self.count = 0  # this rank's images
        self.start = time.perf_counter()

    def add(self, parts: Dict[str, torch.Tensor], n: int) -> None:
        self.count += n
        for key, value in parts.items():
            zero = torch.zeros((), dtype=self.dtype, device=self.device)
            self.sums[key] = self.sums.get(key, zero) + value.detach().to(self.dtype) * n

    def images_per_s(self) -> float:
        """All ranks' images so far per second (every rank sees as many)."""
        seen = self.count * self.world_size
        return seen / max(time.perf_counter() - self.start, 1e-9)

    def _reduced_means(self) -> Tuple[Dict[str, float], float]:
        """The means over all ranks' images and their count, read back in one copy."""
        keys = sorted(self.sums)
        count = torch.tensor(float(self.count), dtype=self.dtype, device=self.device)
        totals = torch.stack([self.sums[k] for k in keys] + [count])
        D.all_reduce_sum(totals)
        values: List[float] = torch.cat([totals[:-1] / totals[-1], totals[-1:]]).tolist()
        return dict(zip(keys, values[:-1])), values[-1]

    def loss_means(self) -> Dict[str, float]:
        """Means over all ranks' images of each loss component."""
        return self._reduced_means()[0]

    def means(self) -> Dict[str, float]:
        """Means over all ranks' images, with ``images_per_s`` and ``time_s`` (all ranks)."""
        stats, images = self._reduced_means()
        elapsed = time.perf_counter() - self.start
        stats["images_per_s"] = images / max(elapsed, 1e-9)
        stats["time_s"] = elapsed
        return stats


# The share of an epoch spent waiting for the loader above which a run is told so.
LOADER_WAIT_WARNING = 0.2


def loader_wait_warning(
    epoch: int,
    train: Mapping[str, float],
    workers: int,
    cpus: int,
    reduced_decode: bool,
) -> Optional[str]:
    """The warning for an epoch (``epoch`` from 1) whose loop waited for the data loader
    :data:`LOADER_WAIT_WARNING` of its time or more (``train``: the epoch's ``data_wait_s``
    and ``time_s``), with what to change; None otherwise. ``workers``: the loader's worker
    processes; ``cpus``: how many this process may use (:func:`~pmgsam.utils.cpus.cpu_share`);
    ``reduced_decode``: the run's ``data.reduced_decode``.
    """
    wait, total = train.get("data_wait_s"), train.get("time_s")
    if wait is None or not total or wait < LOADER_WAIT_WARNING * total:
        return None
    if workers < cpus:
        advice = f"raise data.num_workers (now {workers}; this process may use {cpus} CPUs)"
    else:
        remedy = "smaller source images or more CPUs"
        if not reduced_decode:
            remedy = "data.reduced_decode=true decodes large JPEGs at reduced size; " + remedy
        advice = (
            f"its {workers} worker(s) already use every CPU this process may use, so decoding "
            f"and augmenting the images is the limit ({remedy})"
        )
    return (
        f"epoch {epoch}: the training loop waited {wait:.1f}s of the epoch's {total:.1f}s "
        f"({wait / total:.0%}) for the data loader, which set the pace: {advice}. Said once "
        "per run; each epoch's wait is train_data_wait_s in metrics.jsonl"
    )

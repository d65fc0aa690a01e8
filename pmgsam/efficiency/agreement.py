"""Whether a compiled or graph-replayed forward computes what the eager one does.

A record of a fast path is worth its images/s only if the path gives the model's outputs: a
CUDA graph replayed without copying the new images in, or a compiled region that reads a stale
weight, is fast and wrong, and nothing in its timing shows it. So the efficiency report runs
the timed path once more on a batch it was not timed on and compares its final mask logits
with the eager forward of the same weights (``torch.compiler.set_stance("force_eager")``
turns compiled regions off; the model is called without its CUDA graphs). The difference that
bf16 rounding leaves is set beside the one a wrong output would show: how far the eager
outputs of the timed batch lie from those of the new one (what a replay of stale inputs
returns). With the randomly initialised branches the report uses, that second figure is
small (mean |Δ logit| ~3e-2 on the CPU, S=256), but bf16's own (~6e-4 against fp32, same
model) is far smaller.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Dict, Iterator, Optional

import torch

from pmgsam.efficiency.timing import amp_dtype
from pmgsam.engine.distributed import autocast

#: The fast path's mean difference, as a share of another batch's, from which its record is
#: called wrong: a replay of stale inputs gives ~1, bf16 rounding ~0.02 (module doc).
SUSPECT_SHARE = 0.5


def can_force_eager() -> bool:
    """Whether this torch can run compiled code eagerly on demand (``set_stance``, >= 2.6)."""
    return hasattr(torch.compiler, "set_stance")


@contextlib.contextmanager
def force_eager() -> Iterator[None]:
    """Run every ``torch.compile``-d function and module eagerly inside the block
    (:func:`can_force_eager`; RuntimeError on an older torch)."""
    if not can_force_eager():
        raise RuntimeError(
            f"torch {torch.__version__} has no torch.compiler.set_stance (torch >= 2.6): a "
            "compiled model cannot be run eagerly for comparison"
        )
    with torch.compiler.set_stance("force_eager"):
        yield


def _mask_logits(call: Callable, images: torch.Tensor, dtype: str) -> torch.Tensor:
    with autocast(images.device, amp_dtype(dtype)):
        return call(images)["mask"].detach().float()


def eager_agreement(
    net: Callable,
    model: torch.nn.Module,
    timed_images: torch.Tensor,
    dtype: str,
    train: bool = False,
    compiled: bool = True,
) -> Dict[str, Any]:
    """Compare ``net`` (``model`` compiled, graph-replayed or both) with ``model``'s eager
    forward on a new random batch shaped and laid out as ``timed_images``.

    Returns ``mean_abs_diff`` and ``max_abs_diff`` between the two forms' final mask logits
    (float32), and ``other_batch_mean_abs_diff``: the eager outputs of ``timed_images`` against
    those of the new batch, the difference a path that returned the timed batch's outputs
    would show; ``suspect`` (:func:`suspect`) whether the first lies about as far as the last.
    ``train``: compare in training mode as the training steps ran, with autograd
    on (a compiled training graph is keyed by it: ``inference_mode`` would compile another);
    the model's mode is the caller's (the training timing leaves it in train mode).

    Arguments:
      net (callable): the timed path; returns the model's output dict.
      model (nn.Module): the model whose weights ``net`` reads, called eagerly.
      timed_images (torch.Tensor): the batch the timing ran on.
      dtype (str): the report's ``fp32`` or ``bf16`` (autocast).
      train (bool): whether the timing ran training steps.
      compiled (bool): whether ``net`` holds compiled code (run eagerly through
        :func:`force_eager` for the reference); False for CUDA graphs alone.
    """
    generator = torch.Generator(device=timed_images.device).manual_seed(1)
    # empty_like keeps the timed batch's memory format: a compiled region is keyed by strides.
    fresh = torch.empty_like(timed_images).uniform_(generator=generator)
    grad: contextlib.AbstractContextManager = (
        torch.enable_grad() if train else torch.inference_mode()
    )
    with grad:
        fast = _mask_logits(net, fresh, dtype)
    eager_only = force_eager() if compiled else contextlib.nullcontext()
    with torch.no_grad() if train else torch.inference_mode(), eager_only:
        eager = _mask_logits(model, fresh, dtype)
        other = _mask_logits(model, timed_images, dtype)
    diff = (fast - eager).abs()
    result: Dict[str, Any] = {
        "mean_abs_diff": diff.mean().item(),
        "max_abs_diff": diff.max().item(),
        "other_batch_mean_abs_diff": (other - eager).abs().mean().item(),
    }
    result["suspect"] = suspect(result)
    return result


def suspect(agreement: Optional[Dict[str, Any]]) -> bool:
    """Whether the fast path's outputs lie about as far from the eager ones as another
    batch's (:data:`SUSPECT_SHARE`), so its record measures a wrong computation."""
    if not agreement:
        return False
    mean, other = agreement["mean_abs_diff"], agreement["other_batch_mean_abs_diff"]
    # Equal outputs pass even where every batch gives the same ones (other is then 0, and a
    # stale output could not be told apart); NaN compares False: as suspect as a stale output.
    return not (mean == 0.0 or mean < SUSPECT_SHARE * other)


def describe(agreement: Dict[str, Any]) -> str:
    """One line of the printed report on the comparison."""
    line = (
        f"vs eager on an untimed batch: mean |diff| of the mask logits "
        f"{agreement['mean_abs_diff']:.1e} (max {agreement['max_abs_diff']:.1e}); another "
        f"batch's outputs differ by {agreement['other_batch_mean_abs_diff']:.1e}"
    )
    if suspect(agreement):
        line += (
            " -- AS FAR AS ANOTHER BATCH'S: this path does not compute the model's outputs, "
            "so its timing measures something else"
        )
    return line

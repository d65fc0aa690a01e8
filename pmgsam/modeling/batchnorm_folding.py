"""Folding a frozen BatchNorm into the convolution before it (``performance.
fold_frozen_batchnorm``), for U²-Net's conv → BatchNorm → ReLU unit
(:class:`~pmgsam.modeling.u2net.REBNCONV`, which builds on :class:`FoldableConvBatchNorm`).

In eval mode a BatchNorm is an affine map per channel, so it can be folded into the weight and
bias of the convolution before it (``torch.nn.utils.fusion.fuse_conv_bn_weights``): one pass
fewer over the output (U²-Net 1.16× faster on an H200, BENCHMARKS.md). The folded tensors are
non-persistent buffers: module structure and state dict stay the official checkpoints', and
``.to()`` moves them with the rest. Train mode, a BatchNorm without running statistics, a
source that requires grad (the fold would cut its gradient) and ``torch.compile`` (which cannot
trace the staleness check below, and fuses the BatchNorm itself) take the plain path.

The fold is redone before a call when any of its sources (conv weight and bias, BatchNorm
weight, bias, running mean and variance, ``eps``) changed since. Each is recorded by identity
(a weak reference), storage address and version counter: that catches ``load_state_dict``
(with or without ``assign``), ``.to()``/``.double()`` and in-place edits of the tensor itself
(``nn.init``, ``running_var.fill_``); BatchNorm's own train-mode update of its running
statistics, which leaves their version counters alone, shows in that of
``num_batches_tracked``. Not caught: an edit through ``.data`` (``param.data.copy_(...)``),
which bypasses the version counter (call ``set_batchnorm_folding(True)`` again after one);
comparing values would catch it, but only if done on every call, a pass over the weights each
time.

Inference tensors (weights made or loaded inside ``torch.inference_mode()``) have no version
counter; for them the record is identity, storage address and ``requires_grad`` alone. Outside
inference mode such a tensor cannot be edited in place, so that record is complete there;
inside inference mode it can, and two such edits are caught another way: ``load_state_dict``
(which copies into the existing tensors) drops the record of every unit it loads, and so does
a train-mode call (whose BatchNorm updates its running statistics). Not caught: any other
in-place edit of an inference-tensor source made inside inference mode (``nn.init`` or
``copy_`` under ``torch.inference_mode()``); call ``set_batchnorm_folding(True)`` again after
one.
"""

from __future__ import annotations

import weakref
from typing import Any, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

__all__ = ["FoldableConvBatchNorm", "set_batchnorm_folding"]


class FoldableConvBatchNorm(nn.Module):
    """A convolution ``conv_s1`` followed by a BatchNorm ``bn_s1`` (the subclass makes both;
    the names are U²-Net's checkpoint keys) that can run with the BatchNorm folded in (module
    doc): :meth:`set_batchnorm_folding` switches it, :meth:`_folded_path_usable` says whether a
    call may take it (refolding a stale fold first) and :meth:`_folded_conv` runs it."""

    conv_s1: nn.Conv2d
    bn_s1: nn.BatchNorm2d

    def __init__(self) -> None:
        super().__init__()
        self.fold_batchnorm = False
        # None while not folded (None buffers are skipped by .to() and never saved).
        self.register_buffer("folded_weight", None, persistent=False)
        self.register_buffer("folded_bias", None, persistent=False)
        self._fold_key: Optional[tuple] = None

    def __getstate__(self) -> dict:
        # Weak references do not pickle (torch.save of the module, spawned workers); the
        # unpickled copy refolds on its first call.
        return {**super().__getstate__(), "_fold_key": None}

    def set_batchnorm_folding(self, enabled: bool) -> None:
        """Switch the folded path on (folding now) or off (freeing the folded tensors)."""
        self.fold_batchnorm = bool(enabled)
        if enabled:
            self._refold()
        else:
            self.folded_weight = self.folded_bias = None
            self._fold_key = None

    def _fold_sources(self) -> Tuple[Optional[Tensor], ...]:
        bn = self.bn_s1
        return (
            self.conv_s1.weight,
            self.conv_s1.bias,
            bn.weight,
            bn.bias,
            bn.running_mean,
            bn.running_var,
        )

    def _watched(self) -> Tuple[Optional[Tensor], ...]:
        # BatchNorm's train-mode update of its running statistics (inside the native kernel)
        # leaves their version counters alone; the batch count it bumps beside them does not.
        return (*self._fold_sources(), self.bn_s1.num_batches_tracked)

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        # Runs for every load that reaches this unit's sources (they are its children), and
        # before they are copied: the only sign of a load into inference tensors in inference
        # mode, which moves no address and has no version counter to bump.
        self._fold_key = None
        super()._load_from_state_dict(*args, **kwargs)

    def _source_key(self) -> tuple:
        """What the fold was computed from: per source, a weak reference, storage address,
        version counter (None for an inference tensor, which has none) and requires_grad."""
        entries = []
        for t in self._watched():
            if t is None:
                entries.append(None)
            else:
                # A weak reference, not id(): a freed tensor's id and address may be reused by
                # the next one loaded (assign=True in a loop over checkpoints).
                version = None if t.is_inference() else t._version
                entries.append((weakref.ref(t), t.data_ptr(), version, t.requires_grad))
        return (self.bn_s1.eps, tuple(entries))

    def _fold_is_current(self) -> bool:
        if self._fold_key is None:
            return False
        eps, entries = self._fold_key
        if eps != self.bn_s1.eps:
            return False
        for entry, t in zip(entries, self._watched()):
            if entry is None or t is None:
                if entry is not None or t is not None:
                    return False
                continue
            ref, address, version, grad = entry
            if ref() is not t:
                return False
            now = None if version is None else t._version
            if (t.data_ptr(), now, t.requires_grad) != (address, version, grad):
                return False
        return True

    def _refold(self) -> None:
        conv_w, conv_b, bn_w, bn_b, mean, var = sources = self._fold_sources()
        self._fold_key = self._source_key()
        if mean is None or var is None or any(t is not None and t.requires_grad for t in sources):
            self.folded_weight = self.folded_bias = None
            return
        # Folded in at least float32 (a bf16 model's fold would otherwise round twice), and
        # outside inference mode: an inference tensor as weight could not be saved for the
        # backward of a later call whose input requires grad.
        compute = torch.promote_types(conv_w.dtype, torch.float32)
        with torch.inference_mode(False), torch.no_grad():
            up = [None if t is None else t.to(compute) for t in sources]
            weight, bias = fuse_conv_bn_weights(
                up[0], up[1], up[4], up[5], self.bn_s1.eps, *up[2:4]
            )
        # Plain tensors: assigning the Parameters fuse_conv_bn_weights returns would register
        # them as parameters, which would enter the state dict and the optimiser.
        self.folded_weight = weight.detach().to(conv_w.dtype)
        self.folded_bias = bias.detach().to(conv_w.dtype if conv_b is None else conv_b.dtype)

    def _folded_path_usable(self) -> bool:
        if not self.fold_batchnorm or torch.compiler.is_compiling():
            return False
        if self.bn_s1.training:
            # This call's BatchNorm may update running statistics that are inference tensors
            # (no version counter to show it).
            self._fold_key = None
            return False
        if not self._fold_is_current():
            self._refold()
        return self.folded_weight is not None

    def _folded_conv(self, x: Tensor) -> Tensor:
        """``bn_s1(conv_s1(x))`` as one convolution (only once :meth:`_folded_path_usable`)."""
        conv = self.conv_s1
        return F.conv2d(
            x,
            self.folded_weight,
            self.folded_bias,
            conv.stride,
            conv.padding,
            conv.dilation,
            conv.groups,
        )


def set_batchnorm_folding(module: nn.Module, enabled: bool) -> int:
    """Switch BatchNorm folding on or off in every :class:`FoldableConvBatchNorm` of ``module``
    (U²-Net's REBNCONVs); returns how many there are."""
    units = [m for m in module.modules() if isinstance(m, FoldableConvBatchNorm)]
    for unit in units:
        unit.set_batchnorm_folding(enabled)
    return len(units)

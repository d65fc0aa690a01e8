"""Memory traffic and FLOPs of a PMG-SAM forward pass or training step, counted without running
it: a floor under its time on a GPU (``benchmarks/traffic_floor.py``).

The model is built on the meta device (shapes and dtypes, no data) and called under a dispatch
mode that sees every ATen operator of the call, forward and backward. Each operator is charged
the bytes of its tensor arguments, each read once, and of its results, each written once: what a
kernel that touches every tensor exactly once moves. FLOPs come from
``torch.utils.flop_counter``'s formulas (one multiply-add = 2). Views (results that alias an
argument without writing it, ``_unsafe_view`` included) and allocations (``empty*``) move
nothing and are not charged; an in-place operator reads and writes its tensor (both charged).
Attention is charged as PyTorch's
fused memory-efficient kernel (queries, keys, values, output and log-sum-exp), which is what
CUDA runs for the 4-D calls of the window-batched Hiera and the decoder: on the meta device
``F.scaled_dot_product_attention`` would take the math path and charge score matrices a GPU
never writes.

Each operator is charged to the top-level component whose call runs it (the U²-Net branch's
``features`` included), a backward operator to the component whose forward made its autograd
node, and what runs outside every component (the loss, glue between components) to ``other``.

Two floors follow for a device of memory bandwidth W and peak rate P (:func:`summarise`):

* **eager**: every operator at its own roofline, Σ max(bytes / W, FLOPs / P): each operator
  one kernel, running at the device's limits;
* **anchors**: the convolutions, matrix products and attention alone (:data:`ANCHORS`, forward
  and backward). ``torch.compile`` does not fuse these into other kernels (they run as cuDNN or
  cuBLAS calls, or as templates reading and writing memory), so their inputs and outputs go
  through memory however the operators between them are fused: a floor for any compiled form
  of the same computation.

Real kernels run below their roofline (a convolution with 8 output channels uses a small share
of a GPU's tensor cores), and launching each costs host time, so measured times sit above both
floors; how far above says how much the kernels leave on the table.

The meta model holds its weights in the compute dtype (``model.to(bfloat16)``), as CUDA
autocast computes: the weight casts autocast adds are not charged (the 21 M trainable weights
are 85 MB against the gigabytes of activations), nor the float32 round trips of the
normalisations it keeps in float32 (what ``performance.bf16_group_norm`` removes). AdamW's
fused step and gradient clipping are charged from the parameter count
(:func:`optimizer_traffic`): their foreach kernels do not run on the meta device.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import flop_registry

from pmgsam.efficiency.flops import count_parameters
from pmgsam.efficiency.method_wraps import wrapped_method

#: Operators (ATen overload packets) that compiled code calls as kernels of their own.
ANCHORS = frozenset(
    {
        "convolution",
        "convolution_backward",
        "mm",
        "addmm",
        "bmm",
        "baddbmm",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_efficient_attention_backward",
    }
)
#: Operators that move no data: allocations, and ``_unsafe_view`` (a view whose schema does not
#: say so: ``reshape`` of a non-contiguous tensor is a ``clone``, charged, then this).
_UNCHARGED = frozenset(
    {"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "_unsafe_view"}
)
#: Component of operators outside every child module (the loss, the top-level forward's glue).
OTHER = "other"
#: Component of the optimiser's work (:func:`optimizer_traffic`).
OPTIMIZER = "optimizer"
#: Bytes per trainable parameter (float32) of the optimiser's work: clipping reads each gradient
#: for the norm, then reads and writes it to scale it; fused AdamW reads parameter, gradient
#: and both moments and writes parameter and moments.
OPTIMIZER_BYTES_PER_PARAMETER = (3 + 7) * 4


@dataclass(frozen=True)
class OpTraffic:
    """One operator call and what it is charged.

    Arguments:
      component (str): the top-level component that ran it (:data:`OTHER` outside them).
      backward (bool): whether it ran in the backward pass.
      op (str): the ATen operator's name (its overload packet).
      bytes (int): its tensor arguments' bytes, each read once, plus its results'.
      flops (int): its FLOPs by ``torch.utils.flop_counter``'s formula (0 where none).
    """

    component: str
    backward: bool
    op: str
    bytes: int
    flops: int

    @property
    def anchor(self) -> bool:
        return self.op in ANCHORS


def _is_view(func: Any) -> bool:
    return any(r.alias_info is not None and not r.alias_info.is_write for r in func._schema.returns)


def _tensor_bytes(tree: Any) -> int:
    """Bytes of the distinct tensors in ``tree`` (a tensor passed twice is read once)."""
    seen: Dict[int, int] = {}
    for leaf in tree_flatten(tree)[0]:
        if isinstance(leaf, Tensor):
            seen[id(leaf)] = leaf.numel() * leaf.element_size()
    return sum(seen.values())


#: Key of an autograd node's ``metadata`` naming the component whose forward made it.
_COMPONENT_KEY = "pmgsam_traffic_component"


def _tag_graph(outputs: Any, name: str) -> None:
    """Name ``name`` in every autograd node behind ``outputs`` not named yet: called as each
    component's forward returns, in call order, so the nodes an earlier component made keep
    its name, and a backward operator is charged to the component whose forward made its node."""
    stack = [t.grad_fn for t in tree_flatten(outputs)[0] if isinstance(t, Tensor) and t.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or _COMPONENT_KEY in node.metadata:
            continue
        node.metadata[_COMPONENT_KEY] = name
        stack.extend(child for child, _ in node.next_functions)


class TrafficMode(TorchDispatchMode):
    """Records an :class:`OpTraffic` for every charged operator run under it (module doc).
    Forward operators are charged to the component whose call is running (:meth:`charge_to`),
    backward ones to the component whose forward made the autograd node that runs them."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: List[OpTraffic] = []
        self._running: List[str] = []

    def charge_to(
        self, module: Optional[nn.Module], method: str, name: str
    ) -> AbstractContextManager:
        """Charge the operators of every ``module.<method>`` call to ``name`` (and the backward
        of the autograd nodes it makes), inside the block returned
        (:func:`~pmgsam.efficiency.method_wraps.wrapped_method`)."""

        def charged(original: Callable, *args: Any, **kwargs: Any) -> Any:
            # What made the inputs is not this component's: top-level glue, or a component
            # before it that already named its own.
            _tag_graph((args, kwargs), OTHER)
            self._running.append(name)
            try:
                out = original(*args, **kwargs)
            finally:
                self._running.pop()
            _tag_graph(out, name)
            return out

        return wrapped_method(module, method, charged)

    def __torch_dispatch__(self, func: Any, types: Any, args: Tuple = (), kwargs: Any = None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func._overloadpacket.__name__
        if _is_view(func) or name in _UNCHARGED:
            return out
        flops = 0
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            flops = int(formula(*args, **kwargs, out_val=out))
        moved = _tensor_bytes((args, kwargs)) + _tensor_bytes(out)
        node = torch._C._current_autograd_node()
        if node is not None:
            component = node.metadata.get(_COMPONENT_KEY, OTHER)
        else:
            component = self._running[-1] if self._running else OTHER
        self.ops.append(OpTraffic(component, node is not None, name, moved, flops))
        return out


def _fused_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Optional[Tensor] = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: Optional[float] = None,
    **_: Any,
) -> Tensor:
    """``F.scaled_dot_product_attention`` as the memory-efficient kernel (4-D inputs)."""
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (query, key, value))
    out = torch.ops.aten._scaled_dot_product_efficient_attention(
        query, key, value, attn_mask, grad, dropout_p, is_causal, scale=scale
    )
    return out[0]


@contextmanager
def fused_attention() -> Iterator[None]:
    """``F.scaled_dot_product_attention`` runs as :func:`_fused_attention` inside (module doc)."""
    original = F.scaled_dot_product_attention
    F.scaled_dot_product_attention = _fused_attention
    try:
        yield
    finally:
        F.scaled_dot_product_attention = original


def count_traffic(model: nn.Module, images: Tensor, train: bool) -> List[OpTraffic]:
    """The operators of one call of a PMG-SAM ``model`` (built on the meta device) on
    ``images``: its forward pass (eval mode, no autograd), or with ``train`` a training step's
    forward, loss (the trainer's :class:`~pmgsam.engine.losses.SegmentationLoss`) and backward.
    Gradient clipping and AdamW's step are not among them (:func:`optimizer_traffic`)."""
    from pmgsam.engine.config import LossConfig
    from pmgsam.engine.losses import SegmentationLoss

    mode = TrafficMode()
    with ExitStack() as charged:
        for name, child in model.named_children():
            charged.enter_context(mode.charge_to(child, "forward", name))
        charged.enter_context(mode.charge_to(getattr(model, "u2net", None), "features", "u2net"))
        charged.enter_context(fused_attention())
        charged.enter_context(mode)
        if not train:
            model.eval()
            with torch.no_grad():
                model(images, check_range=False)
            return mode.ops
        model.train()
        target = torch.empty(images.shape[0], 1, *images.shape[-2:], device=images.device)
        loss_fn = SegmentationLoss(LossConfig(), check_device_targets=False)
        loss, _ = loss_fn(model(images, check_range=False), target)
        loss.backward()
    return mode.ops


def optimizer_traffic(model: nn.Module) -> OpTraffic:
    """Gradient clipping and a fused AdamW step over ``model``'s trainable parameters, as the
    trainer runs them on CUDA (float32 master weights, as autocast training keeps them), charged
    :data:`OPTIMIZER_BYTES_PER_PARAMETER` each; counted as one operator call. (On the meta
    device clipping would loop over the tensors one at a time: no foreach kernels there.)"""
    moved = count_parameters(model)["trainable"] * OPTIMIZER_BYTES_PER_PARAMETER
    return OpTraffic(OPTIMIZER, False, "clip_grad_norm_+adamw", moved, 0)


def summarise(
    ops: Sequence[OpTraffic], bandwidth: float, peak: float, per: int = 1
) -> Dict[Tuple[str, bool], Dict[str, float]]:
    """Per (component, backward), in call order: ``gb`` moved, ``gflop``, ``ops`` (operator
    calls) and the two floors in ms (module doc) ``eager_ms`` and ``anchors_ms``, for a device
    moving ``bandwidth`` bytes/s and computing ``peak`` FLOP/s; every figure divided by ``per``
    (the batch, for per-image figures) except the operator count."""
    if bandwidth <= 0 or peak <= 0:
        raise ValueError(f"bandwidth and peak must be positive, got {bandwidth} and {peak}")
    rows: Dict[Tuple[str, bool], Dict[str, float]] = {}
    for op in ops:
        row = rows.setdefault(
            (op.component, op.backward),
            {"gb": 0.0, "gflop": 0.0, "ops": 0, "eager_ms": 0.0, "anchors_ms": 0.0},
        )
        ms = 1e3 * max(op.bytes / bandwidth, op.flops / peak) / per
        row["gb"] += op.bytes / 1e9 / per
        row["gflop"] += op.flops / 1e9 / per
        row["ops"] += 1
        row["eager_ms"] += ms
        if op.anchor:
            row["anchors_ms"] += ms
    return rows

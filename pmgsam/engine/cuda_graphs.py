"""Replay a model's inference forward as one CUDA graph per input shape.

At batch 1 an eager PMG-SAM forward (``pmgsam_hiera_b+``) issues ~1,700 operators, each
dispatched from Python; on a fast GPU that host work, not the GPU's, can set the latency. A
CUDA graph launches the recorded kernels in one call. Inputs are resized to the model's fixed S,
so a prediction run sees one shape (two with a smaller last batch).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Dict, Hashable, Set, Tuple

import torch
from torch import nn

logger = logging.getLogger(__name__)

_PLAIN = (bool, int, float, str)  # keyword values a graph may be keyed by


@dataclass
class _Captured:
    graph: torch.cuda.CUDAGraph
    images: torch.Tensor  # the graph reads its input from here
    outputs: Dict[str, torch.Tensor]  # and writes its outputs here, on every replay


def _autocast_without_cache(device_type: str) -> ContextManager:
    """The autocast in force with its weight-cast cache off: a cast cached by an earlier call
    would be read by the graph from memory that is freed when that autocast exits."""
    if not torch.is_autocast_enabled(device_type):
        return nullcontext()
    dtype = torch.get_autocast_dtype(device_type)
    return torch.autocast(device_type=device_type, dtype=dtype, cache_enabled=False)


def _tensor_state(t: torch.Tensor) -> Tuple[int, int, int]:
    # An inference tensor keeps no version counter; it can only be edited in place inside
    # inference mode, which this identity does not see (documented in GraphedInference).
    version = -1 if t.is_inference() else t._version
    return (id(t), t.data_ptr(), version)


class GraphedInference:
    """Runs ``net`` through CUDA graphs for inference calls on CUDA, eagerly otherwise.

    The first call of each input shape (with its dtype, strides, autocast and keyword
    arguments) runs eagerly: a batch size met once, such as a run's smaller last batch, costs
    no capture. The second warms up on a side stream and captures a graph, which later calls
    replay after copying their images into its input. The outputs are returned as fresh
    tensors (the graph's own are overwritten by its next replay).

    Calls under autograd (``torch.is_grad_enabled()``), on CPU tensors, inside
    ``torch.compile`` tracing, or with a keyword argument other than ``None``, a bool, a
    number or a string (a tensor, say) run ``net`` directly. Any change to ``model``'s
    parameters or buffers (a weight load, an in-place edit through the parameter, a move)
    drops every graph: each is captured again from the new weights; so does a module switched
    between train and eval mode. Not seen: ``param.data`` edits, in-place edits of inference tensors
    made inside ``torch.inference_mode`` (neither bumps a version counter), and settings held
    in plain attributes (the speed options of
    :func:`~pmgsam.engine.performance.prepare_model`): call :meth:`reset` after changing one.

    Memory: each graph keeps its own pool, about one eager forward's activations; at most
    ``max_graphs`` are kept (least recently used dropped first).

    Arguments:
      net (callable): what to run on ``images`` (the model, or its ``torch.compile`` form
        without CUDA graphs of its own); it returns a dict of tensors.
      model (nn.Module): the module whose parameters and buffers ``net`` reads.
      max_graphs (int): graphs kept at once.
    """

    def __init__(
        self, net: Callable[..., Dict[str, torch.Tensor]], model: nn.Module, max_graphs: int = 2
    ):
        if max_graphs < 1:
            raise ValueError(f"max_graphs must be at least 1, got {max_graphs}")
        self.net = net
        self.model = model
        self.max_graphs = max_graphs
        self._graphs: OrderedDict[Hashable, _Captured] = OrderedDict()
        self._seen: Set[Hashable] = set()
        self._weights: Tuple = ()
        self.captures = 0  # graphs captured so far (a test and a log read it)

    def _weights_state(self) -> Tuple:
        # The modules' own dicts: 3x faster than parameters() + buffers() (their de-duplication
        # dominates); ~1,500 tensors of pmgsam_hiera_b+ take ~2 ms on a slow 2-core CPU.
        modules = list(self.model.modules())
        tensors = tuple(
            _tensor_state(t)
            for module in modules
            for owned in (module._parameters, module._buffers)
            for t in owned.values()
            if t is not None
        )
        return tensors, tuple(module.training for module in modules)

    def _key(self, images: torch.Tensor, kwargs: Dict[str, Any]) -> Hashable:
        dev = images.device.type
        amp = torch.get_autocast_dtype(dev) if torch.is_autocast_enabled(dev) else None
        return (
            tuple(images.shape),
            images.stride(),
            images.dtype,
            images.device,
            amp,
            torch.is_inference_mode_enabled(),
            tuple(sorted(kwargs.items())),
        )

    def _graphable(self, images: torch.Tensor) -> bool:
        """Whether a call on ``images`` may be replayed: CUDA, no autograd, not traced."""
        return (
            images.is_cuda
            and not torch.is_grad_enabled()
            and not torch.compiler.is_compiling()
            and not torch.cuda.is_current_stream_capturing()
        )

    @staticmethod
    def _plain_options(kwargs: Dict[str, Any]) -> bool:
        # A graph bakes in the memory of every tensor it read, so a tensor (or a list holding
        # one) passed by keyword would be replayed from the capture's copy, not the caller's.
        return all(v is None or isinstance(v, _PLAIN) for v in kwargs.values())

    def reset(self) -> None:
        """Drop every graph (and its memory); the next calls capture again."""
        self._graphs.clear()
        self._seen.clear()

    def __call__(self, images: torch.Tensor, **kwargs: Any) -> Dict[str, torch.Tensor]:
        if not (self._graphable(images) and self._plain_options(kwargs)):
            return self.net(images, **kwargs)
        weights = self._weights_state()
        if weights != self._weights:
            if self._graphs:
                logger.info("CUDA graphs dropped: the model's weights changed")
            self.reset()
        key = self._key(images, kwargs)
        entry = self._graphs.get(key)
        if entry is None:
            if key not in self._seen:
                out = self.net(images, **kwargs)
                # Only once it succeeded: a first call that raised (out of memory, a bad
                # input) must not make the next call of the shape a capture.
                self._seen.add(key)
            else:
                entry = self._capture(images, kwargs)
                self._graphs[key] = entry
                while len(self._graphs) > self.max_graphs:
                    self._graphs.popitem(last=False)
            # After the eager call or the capture's warm-up: a lazily refreshed buffer (the
            # U²-Net's folded BatchNorm) is in its final state only now.
            self._weights = self._weights_state()
            if entry is None:
                return out
        else:
            self._graphs.move_to_end(key)
        entry.images.copy_(images)
        entry.graph.replay()
        return {name: t.clone() for name, t in entry.outputs.items()}

    def _capture(self, images: torch.Tensor, kwargs: Dict[str, Any]) -> _Captured:
        static = images.clone()
        side = torch.cuda.Stream(images.device)
        side.wait_stream(torch.cuda.current_stream(images.device))
        # Warm-up on a side stream, as torch's CUDA-graph notes ask: lazy initialisation and
        # cuDNN's algorithm timing must not happen inside the capture.
        with torch.cuda.stream(side), _autocast_without_cache("cuda"):
            self.net(static, **kwargs)
        torch.cuda.current_stream(images.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # thread_local: a DataLoader's pin-memory thread allocating pinned host memory during
        # the capture would otherwise invalidate it ("operation not permitted when stream is
        # capturing").
        with (
            _autocast_without_cache("cuda"),
            torch.cuda.graph(graph, capture_error_mode="thread_local"),
        ):
            outputs = self.net(static, **kwargs)
        if not isinstance(outputs, dict):
            raise TypeError(
                f"CUDA graphs need a dict of tensors from the model, got {type(outputs).__name__}"
            )
        self.captures += 1
        logger.info("CUDA graph %d captured for input %s", self.captures, tuple(images.shape))
        return _Captured(graph, static, outputs)


def maybe_graph(net: Callable, model: nn.Module, enabled: bool) -> Callable:
    """``net`` wrapped in :class:`GraphedInference` when ``enabled``, else ``net`` itself."""
    return GraphedInference(net, model) if enabled else net

"""Mutation audit of GraphedInference (pmgsam.engine.cuda_graphs) on the CPU: what a graph is
keyed by, what drops it, which graph the size limit drops, and the eager call after a drop.

The stand-in graph here is stricter than test_cuda_graphs' re-run: its replay runs a copy of
the module taken at capture, with the capture's keyword arguments and autocast. So a graph kept
past a change it should have been dropped for (a buffer edit, a move to new memory) gives stale
outputs, as a CUDA graph reading freed memory or a folded weight would, and a graph replayed for
a call it was not captured for gives that call wrong outputs. The model is a 4 x 4 linear map,
so each call takes microseconds.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from pmgsam.engine.cuda_graphs import GraphedInference, _Captured


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.eye(4) * 2.0)
        self.register_buffer("shift", torch.full((4,), 0.5))

    def forward(self, images: torch.Tensor, scale: float = 1.0) -> Dict[str, torch.Tensor]:
        dtype = images.dtype
        out = F.linear(images * scale, self.weight.to(dtype), self.shift.to(dtype))
        return {"mask": out + 100.0 if self.training else out}


class _Frozen:
    """A captured graph's stand-in: replay re-runs the capture-time call into its outputs."""

    def __init__(self, run: Callable[[], Dict[str, torch.Tensor]], outputs: Dict) -> None:
        self.run, self.outputs = run, outputs

    def replay(self) -> None:
        for name, value in self.run().items():
            self.outputs[name].copy_(value)


class _SnapshotGraphed(GraphedInference):
    def _graphable(self, images: torch.Tensor) -> bool:
        return not torch.is_grad_enabled()

    def _capture(self, images: torch.Tensor, kwargs: Dict[str, Any]) -> _Captured:
        static = images.clone()
        with torch.inference_mode(False):
            frozen = copy.deepcopy(self.model)
        amp: Optional[torch.dtype] = (
            torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None
        )

        def run() -> Dict[str, torch.Tensor]:
            with torch.autocast("cpu", dtype=amp or torch.bfloat16, enabled=amp is not None):
                return frozen(static, **kwargs)

        outputs = run()
        self.captures += 1
        return _Captured(_Frozen(run, outputs), static, outputs)


def _graphed(max_graphs: int = 2) -> tuple:
    model = _Tiny().eval()
    return _SnapshotGraphed(model, model, max_graphs=max_graphs), model


def _x(seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.rand(2, 4, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _by_hand(x: torch.Tensor, weight: float = 2.0, shift: float = 0.5) -> torch.Tensor:
    return x * weight + shift  # the diagonal linear map of _Tiny


def test_the_stand_in_replays_what_it_captured() -> None:
    graphed, _ = _graphed()
    a, b = _x(1), _x(2)
    with torch.inference_mode():
        outs = [graphed(a), graphed(a), graphed(b)]
    assert graphed.captures == 1
    for x, out in zip((a, a, b), outs):
        torch.testing.assert_close(out["mask"], _by_hand(x), rtol=0, atol=1e-6)


def test_a_buffer_edited_in_place_drops_the_graphs() -> None:
    # A BatchNorm's running statistics loaded in place (load_state_dict copies into them).
    graphed, model = _graphed()
    x = _x()
    with torch.inference_mode():
        graphed(x), graphed(x)
    with torch.no_grad():
        model.shift.fill_(3.0)
    with torch.inference_mode():
        outs = [graphed(x) for _ in range(3)]
    assert graphed.captures == 2
    for out in outs:
        torch.testing.assert_close(out["mask"], _by_hand(x, shift=3.0), rtol=0, atol=1e-6)


def test_weights_moved_to_new_memory_drop_the_graphs() -> None:
    # As Module.to()/.cuda()/.half() move a parameter: the same Parameter object, its version
    # unchanged, its data in new memory (a graph would read the old, freed memory). Only the
    # parameter here: a moved buffer is a new tensor, seen without its address.
    graphed, model = _graphed()
    x = _x()
    with torch.inference_mode():
        graphed(x), graphed(x)
    weight, version = model.weight, model.weight._version
    with torch.no_grad():
        model.weight.data = model.weight.detach() * 3.0
    assert model.weight is weight and model.weight._version == version
    with torch.inference_mode():
        out = graphed(x)
    torch.testing.assert_close(out["mask"], _by_hand(x, 6.0), rtol=0, atol=1e-6)


def test_a_call_with_other_keyword_values_is_not_given_the_captured_graph() -> None:
    graphed, _ = _graphed()
    x = _x()
    with torch.inference_mode():
        graphed(x, scale=1.0), graphed(x, scale=1.0)
        out = graphed(x, scale=3.0)
    torch.testing.assert_close(out["mask"], _by_hand(3.0 * x), rtol=0, atol=1e-6)


def test_a_call_with_another_dtype_gets_its_own_outputs() -> None:
    graphed, _ = _graphed()
    with torch.inference_mode():
        graphed(_x()), graphed(_x())
        out = graphed(_x(dtype=torch.float64))["mask"]
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, _by_hand(_x(dtype=torch.float64)), rtol=0, atol=1e-12)


def test_a_call_under_autocast_is_not_given_the_full_precision_graph() -> None:
    graphed, model = _graphed()
    x = _x()
    with torch.inference_mode():
        graphed(x), graphed(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = graphed(x)["mask"]
            want = model(x)["mask"]
    assert want.dtype == torch.bfloat16  # what the eager call under autocast gives
    assert out.dtype == torch.bfloat16 and torch.equal(out, want)


def test_other_strides_are_a_shape_of_their_own() -> None:
    # Eager when first met, captured when met again, as the class documents for each key.
    graphed, _ = _graphed()
    x = _x()
    turned = x.t().contiguous().t()  # same shape and values, strides (1, 2)
    with torch.inference_mode():
        graphed(x), graphed(x)
        graphed(turned)
        assert graphed.captures == 1
        graphed(turned)
    assert graphed.captures == 2


def test_the_least_recently_used_graph_is_dropped_not_the_oldest() -> None:
    graphed, _ = _graphed(max_graphs=2)
    a, b, c = torch.rand(1, 4), torch.rand(2, 4), torch.rand(3, 4)
    with torch.inference_mode():
        for x in (a, a, b, b):  # a and b captured
            graphed(x)
        graphed(a)  # a replayed: b is now the least recently used
        graphed(c), graphed(c)  # c captured, b dropped
        assert graphed.captures == 3
        graphed(a)  # still kept: a replay, no capture
    assert graphed.captures == 3


def test_after_a_weight_change_the_first_call_of_a_shape_is_eager_again() -> None:
    # A shape met once since the change (a run's last batch) costs no capture.
    graphed, model = _graphed()
    x = _x()
    with torch.inference_mode():
        graphed(x), graphed(x)
    with torch.no_grad():
        model.weight.mul_(2.0)
    with torch.inference_mode():
        out = graphed(x)
    assert graphed.captures == 1
    torch.testing.assert_close(out["mask"], _by_hand(x, 4.0), rtol=0, atol=1e-6)


class _LazilyFolded(_Tiny):
    """Refreshes a derived buffer on its first call, as U²-Net's folded BatchNorm does."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("folded", None, persistent=False)

    def forward(self, images: torch.Tensor, scale: float = 1.0) -> Dict[str, torch.Tensor]:
        if self.folded is None:
            self.folded = self.weight.detach() * 1.0
        return super().forward(images, scale)


def test_a_buffer_refreshed_by_the_first_call_does_not_delay_the_capture() -> None:
    # The refreshed buffer is the model's state from then on, not a change to drop graphs for.
    model = _LazilyFolded().eval()
    graphed = _SnapshotGraphed(model, model)
    x = _x()
    with torch.inference_mode():
        graphed(x), graphed(x)
    assert graphed.captures == 1


def test_the_real_class_runs_a_cuda_call_under_autograd_directly() -> None:
    # test_cuda_graphs checks this through a stand-in's own predicate; here GraphedInference's:
    # a graph records no autograd, so a training step through it would get no gradient.
    class _CudaLike:  # all that the predicate reads of a CUDA tensor before its grad check
        is_cuda = True

    calls = []

    def net(images: Any, **kwargs: Any) -> Dict[str, Any]:
        calls.append(images)
        return {"mask": "direct"}

    graphed = GraphedInference(net, nn.Linear(1, 1))
    images = _CudaLike()
    with torch.enable_grad():
        outs = [graphed(images) for _ in range(3)]
    assert outs == [{"mask": "direct"}] * 3 and calls == [images] * 3
    assert graphed.captures == 0


class _FailsOnce(_Tiny):
    """Raises on its first forward, as a first batch that ran out of memory would."""

    def __init__(self) -> None:
        super().__init__()
        self.failures_left = 1

    def forward(self, images: torch.Tensor, scale: float = 1.0) -> Dict[str, torch.Tensor]:
        if self.failures_left:
            self.failures_left -= 1
            raise RuntimeError("out of memory")
        return super().forward(images, scale)


def test_a_first_call_that_raised_leaves_the_next_call_of_its_shape_eager() -> None:
    # The eager first call is what lets a capture's warm-up meet a model already set up; a call
    # that raised did not set it up, so the next one is the shape's first again.
    model = _FailsOnce().eval()
    model.failures_left = 0
    graphed = _SnapshotGraphed(model, model)
    x = _x()
    with torch.inference_mode():
        graphed(x[:1]), graphed(x[:1])  # another shape, met first: the weights are recorded
        model.failures_left = 1
        try:
            graphed(x)
        except RuntimeError:
            pass
        graphed(x)
        assert graphed.captures == 1
        out = graphed(x)
    assert graphed.captures == 2
    torch.testing.assert_close(out["mask"], _by_hand(x), rtol=0, atol=1e-6)


def test_a_tensor_passed_by_keyword_runs_the_model_directly() -> None:
    # A graph would replay the tensor it read at capture, not the caller's.
    graphed, _ = _graphed()
    x = _x()
    scale = torch.tensor(2.0)
    with torch.inference_mode():
        outs = [graphed(x, scale=scale) for _ in range(3)]
    assert graphed.captures == 0
    for out in outs:
        torch.testing.assert_close(out["mask"], _by_hand(2.0 * x), rtol=0, atol=1e-6)


def test_a_list_passed_by_keyword_runs_the_model_directly() -> None:
    # A list cannot key a graph (it is not hashable): it used to raise TypeError.
    def net(images: torch.Tensor, factors: list) -> Dict[str, torch.Tensor]:
        return {"mask": images * sum(factors)}

    graphed = _SnapshotGraphed(net, _Tiny().eval())
    x = _x()
    with torch.inference_mode():
        outs = [graphed(x, factors=[1.0, 2.0]) for _ in range(3)]
    assert graphed.captures == 0
    for out in outs:
        torch.testing.assert_close(out["mask"], 3.0 * x, rtol=0, atol=0)

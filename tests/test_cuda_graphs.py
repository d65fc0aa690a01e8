"""CUDA-graph inference (``performance.cuda_graphs``, :mod:`pmgsam.engine.cuda_graphs`).

The bookkeeping (which call runs eagerly, which captures, which replays, when weights changed)
is checked on the CPU with a recorded stand-in for ``torch.cuda.CUDAGraph`` that re-runs the
captured call on the static input; the real graphs are checked where a GPU is visible.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Dict, List

import pytest
import torch

from pmgsam.engine.cuda_graphs import GraphedInference, _Captured
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.utils.config import ConfigError

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


class _Replay:
    """Stands in for a captured graph: replay runs the call again on the same static input
    and writes into the same output tensors, as a graph's kernels would."""

    def __init__(self, run: Callable[[], Dict[str, torch.Tensor]], outputs: Dict[str, Any]):
        self.run, self.outputs = run, outputs

    def replay(self) -> None:
        for name, value in self.run().items():
            self.outputs[name].copy_(value)


class _CpuGraphed(GraphedInference):
    """GraphedInference on the CPU: every call counts as graphable, capture is recorded."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: List[str] = []

    def _graphable(self, images: torch.Tensor) -> bool:
        return not torch.is_grad_enabled()

    def _capture(self, images: torch.Tensor, kwargs: Dict[str, Any]) -> _Captured:
        static = images.clone()
        outputs = self.net(static, **kwargs)
        self.captures += 1
        return _Captured(_Replay(lambda: self.net(static, **kwargs), outputs), static, outputs)


@pytest.fixture
def model(small_tiny_model: torch.nn.Module) -> torch.nn.Module:
    m = copy.deepcopy(small_tiny_model).eval()
    m.check_input_range = False
    return m


def _eager(model: torch.nn.Module, images: torch.Tensor) -> Dict[str, torch.Tensor]:
    with torch.inference_mode():
        return model(images)


def _captured_once(model: torch.nn.Module) -> tuple:
    """A CPU-graphed ``model`` and the images of its one captured graph (eager call, capture)."""
    graphed = _CpuGraphed(model, model)
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        graphed(x)
        graphed(x)
    assert graphed.captures == 1
    return graphed, x


def test_first_call_of_a_shape_is_eager_the_second_captures_later_ones_replay(model) -> None:
    graphed = _CpuGraphed(model, model)
    torch.manual_seed(1)
    batches = [torch.rand(2, 3, 64, 64) for _ in range(4)]
    with torch.inference_mode():
        out = [graphed(x) for x in batches]
        assert graphed.captures == 1
        # A new batch size (a run's last batch) runs eagerly once, and is captured only when met
        # again.
        graphed(torch.rand(1, 3, 64, 64))
        assert graphed.captures == 1
        graphed(torch.rand(1, 3, 64, 64))
        assert graphed.captures == 2
    for x, got in zip(batches, out):
        want = _eager(model, x)
        for name in ("pre_mask", "mask"):
            torch.testing.assert_close(got[name], want[name], rtol=0, atol=1e-6)


def test_replayed_outputs_are_not_overwritten_by_the_next_replay(model) -> None:
    graphed = _CpuGraphed(model, model)
    a, b = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        graphed(a)
        first = graphed(a)  # captured
        kept = first["mask"].clone()
        graphed(b)  # replays into the graph's own outputs
    assert torch.equal(first["mask"], kept)


def test_a_weight_edited_in_place_drops_the_graphs_and_the_outputs_follow(model) -> None:
    graphed, x = _captured_once(model)
    before = _eager(model, x)
    # A U²-Net conv: its BatchNorm fold must be redone too before anything is captured again.
    weight = model.u2net.stage1.rebnconvin.conv_s1.weight
    with torch.no_grad():
        weight.mul_(-1.0)
    want = _eager(model, x)
    with torch.inference_mode():
        after = [graphed(x) for _ in range(3)]
    assert graphed.captures == 2
    assert not torch.allclose(before["mask"], want["mask"])
    for got in after:
        torch.testing.assert_close(got["mask"], want["mask"], rtol=0, atol=1e-6)


def test_a_replaced_parameter_drops_the_graphs(model) -> None:
    graphed, x = _captured_once(model)
    head = model.refiner.head
    head.bias = torch.nn.Parameter(head.bias.detach() + 5.0)
    want = _eager(model, x)
    with torch.inference_mode():
        got = [graphed(x) for _ in range(2)]
    assert graphed.captures == 2  # the new parameter's graph
    for g in got:
        torch.testing.assert_close(g["pre_mask"], want["pre_mask"], rtol=0, atol=1e-6)


def test_calls_under_autograd_run_the_model_directly(model) -> None:
    graphed = _CpuGraphed(model, model)
    x = torch.rand(1, 3, 64, 64)
    for _ in range(3):
        out = graphed(x)
    assert graphed.captures == 0 and out["mask"].grad_fn is not None


def test_the_oldest_graph_goes_past_max_graphs(model) -> None:
    graphed = _CpuGraphed(model, model, max_graphs=1)
    with torch.inference_mode():
        for batch in (1, 1, 2, 2, 1, 1):
            graphed(torch.rand(batch, 3, 64, 64))
    # batch 1 captured, batch 2 captured (batch 1 dropped), batch 1 met again: captured again
    assert graphed.captures == 3 and len(graphed._graphs) == 1


def test_on_the_cpu_the_real_class_captures_nothing_and_gives_the_eager_outputs(model) -> None:
    graphed = GraphedInference(model, model)
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        outs = [graphed(x) for _ in range(3)]
    assert graphed.captures == 0
    assert torch.equal(outs[-1]["mask"], _eager(model, x)["mask"])


def test_cuda_graphs_with_a_graph_capturing_compile_mode_are_refused() -> None:
    perf = PerformanceConfig(cuda_graphs=True, compile=True, compile_mode="reduce-overhead")
    with pytest.raises(ConfigError, match="performance.cuda_graphs"):
        perf.validate()
    PerformanceConfig(cuda_graphs=True, compile=False, compile_mode="reduce-overhead").validate()


def test_max_graphs_below_one_is_refused(model) -> None:
    with pytest.raises(ValueError, match="max_graphs"):
        GraphedInference(model, model, max_graphs=0)


@cuda
@pytest.mark.parametrize("amp", [None, torch.bfloat16])
def test_cuda_graph_replays_equal_the_eager_forward(model, amp) -> None:
    model = model.cuda()
    graphed = GraphedInference(model, model)
    torch.manual_seed(0)
    batches = [torch.rand(2, 3, 64, 64, device="cuda") for _ in range(4)]
    ctx = torch.autocast("cuda", dtype=amp) if amp else torch.autocast("cuda", enabled=False)
    with torch.inference_mode(), ctx:
        got = [graphed(x, check_range=False) for x in batches]
        want = [model(x, check_range=False) for x in batches]
    assert graphed.captures == 1
    tol = 1e-5 if amp is None else 2e-2
    for g, w in zip(got, want):
        torch.testing.assert_close(g["mask"], w["mask"], rtol=tol, atol=tol)
    # An in-place weight edit (a training step, a load) is replayed from the new weights.
    with torch.no_grad():
        model.u2net.stage1.rebnconvin.conv_s1.weight.mul_(-1.0)
    with torch.inference_mode(), ctx:
        graphed(batches[0], check_range=False)
        got = graphed(batches[0], check_range=False)
        want = model(batches[0], check_range=False)
    assert graphed.captures == 2
    torch.testing.assert_close(got["mask"], want["mask"], rtol=tol, atol=tol)


@cuda
def test_predictor_with_cuda_graphs_predicts_as_without(model) -> None:
    from pmgsam.engine.predictor import Predictor

    images = torch.rand(2, 3, 64, 64)
    plain = Predictor(copy.deepcopy(model), "cuda", "none").predict_batch(images)
    graphed = Predictor(model, "cuda", "none", PerformanceConfig(cuda_graphs=True))
    probs = [graphed.predict_batch(images) for _ in range(3)]
    assert graphed.net.captures == 1
    for p in probs:
        torch.testing.assert_close(p, plain, rtol=1e-5, atol=1e-5)


@cuda
def test_a_folder_predicted_with_cuda_graphs_and_loader_workers_gives_the_same_maps(
    model, tmp_path
) -> None:
    # Worker processes and the pin-memory thread run while graphs are captured; 5 images in
    # batches of 2 give a shape met twice (captured) and a last batch of 1 (eager).
    import cv2
    import numpy as np

    from pmgsam.engine.inference_inputs import ImageFolder
    from pmgsam.engine.predictor import Predictor

    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(5):
        ok, data = cv2.imencode(".png", rng.integers(0, 255, (48 + 8 * i, 64, 3), dtype=np.uint8))
        assert ok
        (folder / f"img{i}.png").write_bytes(data.tobytes())
    dataset = ImageFolder(folder, 64)
    plain = Predictor(copy.deepcopy(model), "cuda", "none")
    graphed = Predictor(model, "cuda", "none", PerformanceConfig(cuda_graphs=True))
    a = plain.predict_dataset(dataset, tmp_path / "plain", 2, 1, progress=False)
    b = graphed.predict_dataset(dataset, tmp_path / "graphed", 2, 1, progress=False)
    assert graphed.net.captures == 1
    for i in range(5):
        want = cv2.imread(str(a / f"img{i}.png"), cv2.IMREAD_UNCHANGED).astype(int)
        got = cv2.imread(str(b / f"img{i}.png"), cv2.IMREAD_UNCHANGED).astype(int)
        assert np.abs(got - want).max() <= 1


def test_a_module_switched_to_train_mode_drops_the_graphs(model) -> None:
    graphed, x = _captured_once(model)
    with torch.inference_mode():
        model.decoder.train()  # a mode a graph captured in eval would not follow
        graphed(x)
        graphed(x)
    assert graphed.captures == 2


@cuda
def test_cuda_graphs_replay_regions_compiled_in_place(model) -> None:
    # Inductor's kernels inside a captured graph: the combination the regional_graphs phase of
    # benchmarks/gpu_speed.sh times. Only the FeatRefiner (convolutions, GroupNorm+GELU,
    # upsampling) is compiled: enough to put generated kernels in the graph, and one region's
    # compile keeps the lease's tests phase short.
    from pmgsam.engine.performance import compile_regions
    from pmgsam.modeling.fusion import FeatRefiner

    model = model.cuda()
    torch.manual_seed(0)
    batches = [torch.rand(2, 3, 64, 64, device="cuda") for _ in range(3)]
    with torch.inference_mode():
        want = [model(x, check_range=False) for x in batches]
    [refiner] = [r for r in compile_regions(model) if isinstance(r, FeatRefiner)]
    refiner.compile(dynamic=False)
    graphed = GraphedInference(model, model)
    with torch.inference_mode():
        got = [graphed(x, check_range=False) for x in batches]  # eager, capture, replay
    assert graphed.captures == 1
    for g, w in zip(got, want):  # the replay reads the third batch, not the captured second
        torch.testing.assert_close(g["mask"], w["mask"], rtol=1e-3, atol=1e-3)

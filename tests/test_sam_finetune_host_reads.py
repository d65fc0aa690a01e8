"""The SAM fine-tune's steps read nothing back from the device (each read waits for the GPU),
nor select by boolean masks (segment-anything's prompt encoder does: ``point_prompts`` gives
its embeddings bit for bit without them),
its batches reach the GPU from pinned memory without blocking, and its epoch losses are still
those of a host-side sum of every step's losses read back (the loop before it summed so).

A seeded SAM ViT-B at a 64-px input, as in ``test_sam_finetune_recipe.py``.
"""

from __future__ import annotations

import contextlib
import copy
from types import SimpleNamespace
from typing import Any, Dict, Iterator, List

import numpy as np
import pytest
import torch
from sam_finetune_cases import SIDE, ArrayDataset
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.data._utils.pin_memory import pin_memory

from pmgsam.baselines import finetune_recipe
from pmgsam.baselines.finetune_cache import Embedder, MemoryCache
from pmgsam.baselines.finetune_recipe import (
    FinetuneConfig,
    Sample,
    batch_losses,
    freeze_encoders,
    point_prompts,
    run_epoch,
)
from pmgsam.baselines.finetune_sam import PromptedImages

# Tensor methods that copy a value to the host, i.e. wait for the GPU on CUDA.
HOST_READS = ("item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__", "__index__")
pytestmark = pytest.mark.usefixtures("one_thread", "memoised_sam_encoder")


def _items(count: int, cfg: FinetuneConfig, keyed: bool = False) -> PromptedImages:
    rng = np.random.default_rng(5)
    pairs = []
    for i in range(count):
        image = rng.integers(0, 256, (40 + 8 * i, 64 - 4 * i, 3), dtype=np.uint8)
        mask = np.zeros(image.shape[:2], np.uint8)
        mask[6 + 3 * i : 30, 10 : 50 - 4 * i] = 1
        pairs.append((image, mask))
    return PromptedImages(ArrayDataset(pairs), range(count), SIDE, cfg.points, (0, 0), keyed)


def _around_loop_bodies(monkeypatch: pytest.MonkeyPatch, before: Any, after: Any) -> None:
    """Call ``before()`` as each batch's loop body in run_epoch starts, ``after()`` as it ends
    (not while the loader prepares a batch)."""
    real_batches = finetune_recipe.loader_batches

    @contextlib.contextmanager
    def wrapped(loader: Any) -> Iterator[Iterator[Any]]:
        def bodies(batches: Iterator[Any]) -> Iterator[Any]:
            for item in batches:
                before()
                try:
                    yield item
                finally:
                    after()

        with real_batches(loader) as batches:
            yield bodies(batches)

    monkeypatch.setattr(finetune_recipe, "loader_batches", wrapped)


class DeviceWaits(TorchDispatchMode):
    """Notes the ops, under ``active()``, that make the host wait for a CUDA device: a value
    read back (``_local_scalar_dense``: item, float, bool; but not of a ``host`` tensor) and a
    selection by a boolean mask (its nonzero), which Python-level patches do not see when
    library code indexes so."""

    def __init__(self, active: Any, host: Any, waits: List[str]) -> None:
        super().__init__()
        self.active, self.host, self.waits = active, host, waits

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: Any = None):
        name = func.overloadpacket.__name__
        if self.active():
            if name in ("nonzero", "masked_select", "argwhere"):
                self.waits.append(name)
            elif name == "_local_scalar_dense" and not self.host(args[0]):
                self.waits.append(name)
            elif name.startswith("index") and len(args) > 1 and isinstance(args[1], (list, tuple)):
                if any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in args[1]):
                    self.waits.append(f"{name} by a boolean mask")
        return func(*args, **(kwargs or {}))


def test_steps_read_nothing_back_and_the_bar_reads_at_its_interval(vit_b, monkeypatch) -> None:
    model = copy.deepcopy(vit_b)
    optimizer = torch.optim.AdamW(freeze_encoders(model), lr=1e-4)
    cfg = FinetuneConfig(batch_size=1, points=2)
    inside, reads, batch = [False], [], [0]

    def start() -> None:
        batch[0] += 1
        inside[0] = True

    _around_loop_bodies(monkeypatch, start, lambda: inside.__setitem__(0, False))
    # AdamW (capturable=False) keeps its step counters on the host: reading them waits for
    # nothing. Every other read would.
    state = optimizer.state
    for name in HOST_READS:
        original = getattr(torch.Tensor, name)

        def counting(self, *args, _original=original, _name=name, **kwargs):
            if inside[0] and not any(self is st.get("step") for st in state.values()):
                reads.append((batch[0], _name))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)
    waits: List[str] = []
    watch = DeviceWaits(
        lambda: inside[0], lambda t: any(t is st.get("step") for st in state.values()), waits
    )
    items = _items(4, cfg, keyed=True)
    # The embeddings cached first, as the command does (the memoised test encoder hashes its
    # inputs on the host).
    embed = Embedder(model, cache=MemoryCache())
    embed.store([items[i][1] for i in range(len(items))])
    cpu = torch.device("cpu")
    with watch:
        losses, _, steps = run_epoch(model, items, cfg, cpu, optimizer, progress=False, embed=embed)
    assert steps == 4 and set(losses) == {"loss", "mask_loss", "iou_loss"}
    assert reads == [] and waits == []
    # With a progress bar, its running loss is read back every POSTFIX_EVERY batches, once.
    batch[0] = 0
    monkeypatch.setattr(finetune_recipe, "POSTFIX_EVERY", 2)
    run_epoch(model, items, cfg, cpu, optimizer, progress=True, embed=embed)
    assert reads == [(2, "tolist"), (4, "tolist")]


def _host_sums(model: Any, items: PromptedImages, cfg: FinetuneConfig, optimizer: Any) -> dict:
    """The epoch losses as the loop summed them before: each step's losses read back as
    Python floats, weighted by the batch's images, divided by the images."""
    sums: Dict[str, float] = {}
    used = 0
    model.mask_decoder.train(optimizer is not None)
    for start in range(0, len(items), cfg.batch_size):
        samples = [items[i][1] for i in range(start, min(start + cfg.batch_size, len(items)))]
        with torch.set_grad_enabled(optimizer is not None):
            losses = batch_losses(model, samples, cfg)
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            optimizer.step()
        for key, value in losses.items():
            sums[key] = sums.get(key, 0.0) + float(value.detach()) * len(samples)
        used += len(samples)
    model.mask_decoder.eval()
    return {key: value / used for key, value in sums.items()}


@pytest.mark.parametrize("train", [False, True])
def test_epoch_losses_equal_a_host_sum_of_each_step_read_back(vit_b, train: bool) -> None:
    cfg = FinetuneConfig(batch_size=2, points=2)  # 3 images: batches of 2 and 1
    items = _items(3, cfg)
    models = [copy.deepcopy(vit_b) for _ in range(2)]
    optimizers = [
        torch.optim.AdamW(freeze_encoders(model), lr=1e-3) if train else None for model in models
    ]
    cpu = torch.device("cpu")
    found = run_epoch(models[0], items, cfg, cpu, optimizers[0], progress=False)[0]
    expected = _host_sums(models[1], items, cfg, optimizers[1])
    # Exactly: a float32 sum on the device rounds differently in the last bits.
    assert found == expected


def test_batches_are_pinned_by_the_loader_and_copied_without_blocking(monkeypatch) -> None:
    sample = Sample(
        torch.zeros((3, 4, 4), dtype=torch.uint8),
        torch.ones((2, 4, 4), dtype=torch.bool),
        torch.tensor([[1.0, 2.0]]),
        torch.tensor([1]),
        key="k",
        gt_empty=True,
    )
    pinned, copies = [], []

    def fake_pin(self: torch.Tensor) -> torch.Tensor:  # no GPU here to pin for
        pinned.append(self)
        return self.clone()

    def fake_to(self: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        copies.append((args, kwargs))
        return self

    monkeypatch.setattr(torch.Tensor, "pin_memory", fake_pin)
    # What a DataLoader with pin_memory does to a batch of (name, Sample or None) items.
    batch = pin_memory([("a", sample), ("b", None)])
    assert [name for name, _ in batch] == ["a", "b"] and batch[1][1] is None
    moved = batch[0][1]
    assert isinstance(moved, Sample) and (moved.key, moved.gt_empty) == ("k", True)
    tensors = [sample.image, sample.targets, sample.points, sample.owner]
    assert [id(t) for t in pinned] == [id(t) for t in tensors]
    assert all(torch.equal(a, b) for a, b in zip(moved.tensors(), tensors))
    monkeypatch.setattr(torch.Tensor, "to", fake_to)
    cuda = torch.device("cuda:0")
    moved.to(cuda)
    assert copies == [((cuda,), {"non_blocking": True})] * 4
    # A disk cache's embedding (pageable) is pinned before its copy; a pinned one is not.
    pinned.clear(), copies.clear()
    cache = {"k": torch.zeros(2)}
    embedder = Embedder(SimpleNamespace(device=cuda), cache=cache)
    for was_pinned in (False, True):
        monkeypatch.setattr(torch.Tensor, "is_pinned", lambda self, _p=was_pinned: _p)
        embedder([moved])
    assert len(pinned) == 1 and copies == [((cuda,), {"non_blocking": True})] * 2

    # run_epoch asks its loader to pin on CUDA (only there: pinning needs a GPU).
    made = []

    class Stop(Exception):
        pass

    def loader(*args: Any, **kwargs: Any) -> None:
        made.append(kwargs["pin_memory"])
        raise Stop

    monkeypatch.setattr(finetune_recipe, "DataLoader", loader)
    for device in (cuda, torch.device("cpu")):
        with pytest.raises(Stop):
            run_epoch(None, [], FinetuneConfig(), device)
    assert made == [True, False]


def test_point_prompts_equal_sams_prompt_encoder_bit_for_bit(vit_b) -> None:
    # Pixel indices and fractional points, at the frame's corners too.
    points = torch.tensor([[0.0, 0.0], [37.0, 21.0], [63.0, 63.0], [12.25, 50.5]])
    labels = torch.ones((len(points), 1), dtype=torch.int)
    with torch.no_grad():
        sparse, dense = vit_b.prompt_encoder(
            points=(points[:, None], labels), boxes=None, masks=None
        )
        ours_sparse, ours_dense = point_prompts(vit_b, points)
    assert ours_sparse.shape == sparse.shape == (4, 2, 256)
    assert torch.equal(ours_sparse, sparse) and torch.equal(ours_dense, dense)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (sync debug mode)")
def test_steps_do_not_synchronise_cuda(vit_b, monkeypatch) -> None:
    cuda = torch.device("cuda")
    model = copy.deepcopy(vit_b).to(cuda)
    optimizer = torch.optim.AdamW(freeze_encoders(model), lr=1e-4)
    cfg = FinetuneConfig(batch_size=2, points=2)
    items = _items(3, cfg, keyed=True)
    embed = Embedder(model, cache=MemoryCache(pin=True))
    embed.store([items[i][1].to(cuda) for i in range(len(items))])
    # The loop bodies in CUDA's sync debug mode "error": a synchronising call raises.
    _around_loop_bodies(
        monkeypatch,
        lambda: torch.cuda.set_sync_debug_mode("error"),
        lambda: torch.cuda.set_sync_debug_mode("default"),
    )
    losses, _, steps = run_epoch(model, items, cfg, cuda, optimizer, progress=False, embed=embed)
    assert steps == 2 and all(v == v for v in losses.values())

"""The SAM fine-tuning's embedding cache entry by entry (``finetune_cache``): what it stores
(float32 copies), which disk files it refuses, which images the :class:`Embedder` encodes. The
encoder is a stand-in that records its calls; the whole fine-tuning with each cache runs in
tests/test_sam_finetune_cache.py."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import List

import pytest
import torch

from pmgsam.baselines import finetune_cache
from pmgsam.baselines.finetune_cache import CacheError, DiskCache, Embedder, MemoryCache

SHAPE = (256, 4, 4)
MODEL = {"model_type": "vit_b", "image_size": 64, "encoder_dtype": "fp32",
         "checkpoint_sha256": "0123456789abcdef" * 4, "embedding_shape": list(SHAPE)}  # fmt: skip


def test_entries_are_float32_copies(tmp_path: Path) -> None:
    disk, memory = DiskCache(tmp_path, MODEL), MemoryCache()
    assert disk.folder.name == "sam-vit_b-64px-fp32-0123456789abcdef"  # 16 hex digits
    for cache in (disk, memory):
        source = torch.randn(SHAPE).to(torch.bfloat16)  # a bf16 encoder's output
        cache.put("k", source, "im0")
        source.zero_()
        stored = cache.get("k")
        assert stored.dtype == torch.float32 and stored.abs().sum() > 0


@pytest.mark.parametrize(
    "embedding", [torch.zeros(256, 8, 8), torch.zeros(SHAPE, dtype=torch.float16)]
)
def test_a_disk_entry_of_another_shape_or_dtype_is_refused(tmp_path, embedding) -> None:
    cache = DiskCache(tmp_path, MODEL)
    torch.save({"key": "k", "image": "im0", "embedding": embedding}, cache.path("k"))
    with pytest.raises(CacheError, match=r"k\.pt' is not this cache's embedding for its name"):
        cache.get("k")


def test_a_memory_cache_is_pinned_for_cuda_only(tmp_path: Path) -> None:
    ft = SimpleNamespace(embedding_cache="memory")
    for device, pinned in (("cuda:0", True), ("cpu", False)):
        assert finetune_cache.open_cache(ft, "vit_b", 64, "ab", torch.device(device)).pin == pinned


def test_each_missing_image_is_encoded_once_and_empty_items_skipped(monkeypatch) -> None:
    calls: List[int] = []

    def encode(sam, images, dtype):
        calls.append(len(images))
        return torch.stack([torch.full(SHAPE, float(image)) for image in images])

    monkeypatch.setattr(finetune_cache, "encode", encode)
    sam = SimpleNamespace(device=torch.device("cpu"))
    embedder = Embedder(sam, cache=MemoryCache())
    a, b = (SimpleNamespace(key=k, image=torch.tensor(i)) for i, k in ((1, "a"), (2, "b")))
    embedder.fill([[("a.jpg", a), ("a copy.jpg", a), ("gone.jpg", None)], [("b.jpg", b)]])
    assert calls == [1, 1] and embedder.encoded == 2  # a's duplicate in its batch: once
    out = embedder([b, a, a])  # all cached: nothing encoded
    assert calls == [1, 1] and out[:, 0, 0, 0].tolist() == [2.0, 1.0, 1.0]


def test_a_disk_entry_names_its_image(tmp_path: Path, monkeypatch) -> None:
    # The name is what tells a user which image a file of the cache holds.
    monkeypatch.setattr(finetune_cache, "encode", lambda sam, images, dtype: torch.zeros(1, *SHAPE))
    cache = DiskCache(tmp_path, MODEL)
    embedder = Embedder(SimpleNamespace(device=torch.device("cpu")), cache=cache)
    embedder.fill([[("im7.jpg", SimpleNamespace(key="k", image=torch.tensor(0)))]])
    assert torch.load(cache.path("k"), weights_only=True)["image"] == "im7.jpg"

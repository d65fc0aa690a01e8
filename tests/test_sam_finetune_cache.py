"""The embedding cache of SAM fine-tuning (``finetune_cache.py``): each image encoded once, the
same losses and weights as without it, the disk cache's safety, the memory estimate, and the
bf16 encoder. A seeded SAM ViT-B at a 64-px input, its frozen image encoder memoised
(``conftest.memoise``); the command-line runs shrink its encoder (``test_sam_finetune.py``
says why).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from sam_finetune_cases import SIDE, command, pairs
from segment_anything.modeling import ImageEncoderViT

from pmgsam.baselines import finetune_cache, finetune_sam, sam
from pmgsam.baselines.finetune_cache import CacheError, DiskCache, Embedder, embedding_bytes
from pmgsam.baselines.finetune_recipe import FinetuneConfig, encode, prepare
from pmgsam.utils.cli import exit_status
from pmgsam.utils.config import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread", "memoised_sam_encoder")


@pytest.fixture(scope="module")
def finetuned(dis5k_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """The command of ``test_sam_finetune.py``'s run (2 DIS-TR + 2 DIS-VD images), not run:
    ``(source, output, argv, tmp, data)``, with ViT-B's encoder shrunk for the module."""
    patch = pytest.MonkeyPatch()
    patch.setitem(sam._ENCODERS, "vit_b", (64, 2, 2, (1,)))
    tmp = tmp_path_factory.mktemp("finetune_cache")
    data = {"dataset": "dis5k", "root": str(dis5k_root), "num_workers": 0}
    data.update(split_dir=str(tmp / "splits"), test_splits=["DIS-TE1"])
    yield (*command(tmp, data), tmp, data)
    patch.undo()


class EncodedImages:
    """Counts the images the SAM image encoder is run on (under the memoising fixture)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count, forward = 0, ImageEncoderViT.forward

        def counted(encoder: Any, x: torch.Tensor) -> torch.Tensor:
            self.count += x.shape[0]
            return forward(encoder, x)

        monkeypatch.setattr(ImageEncoderViT, "forward", counted)


def _run(finetuned: Any, name: str, *extra: Any) -> tuple:
    """Two epochs of the ``finetuned`` command (2 + 2 images) into ``name``.pth: the written
    mask decoder and the sidecar record."""
    _, _, argv, tmp, _ = finetuned
    argv = [*argv, "--epochs", "2", *extra]
    argv[argv.index("--output") + 1] = out = tmp / "cache" / f"{name}.pth"
    assert exit_status(finetune_sam.main, argv) == 0
    state = torch.load(out, weights_only=True)
    decoder = {k: v for k, v in state.items() if k.startswith("mask_decoder.")}
    return decoder, json.loads(finetune_sam.sidecar_path(out).read_text())


def test_embedding_cache_encodes_each_image_once_and_changes_no_loss(
    finetuned: Any, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    encoded, folder = EncodedImages(monkeypatch), finetuned[3] / "embeddings"
    bars, tqdm = [], finetune_sam.tqdm

    def recorded_bar(*args: Any, **kwargs: Any) -> Any:
        bars.append((args[1], kwargs.get("unit")))
        return tqdm(*args, **kwargs)

    monkeypatch.setattr(finetune_sam, "tqdm", recorded_bar)
    runs = {}
    for name, extra in [("none", ()), ("memory", ()), ("disk", ("--cache-dir", folder))]:
        encoded.count = 0
        with caplog.at_level("INFO", logger="pmgsam.baselines.finetune_sam"):
            runs[name] = (*_run(finetuned, name, "--embedding-cache", name, *extra), encoded.count)
    # 2 training and 2 validation images; validation at epochs 0, 1 and 2.
    assert [runs[name][2] for name in ("none", "memory", "disk")] == [2 * 2 + 2 * 3, 4, 4]
    assert "embedding cache (memory): 4 images x 16 KiB = 64 KiB in CPU memory" in caplog.text
    reference = runs["none"][1]["epochs"]
    assert reference[-1]["steps"] == 1 and len(reference) == 3
    # Counts read as English at 1, and the encoding bar counts batches, not "it".
    assert ", 1 step)" in caplog.text and " 1 steps" not in caplog.text
    assert ("embedding DIS-TR", "batch") in bars and all(unit == "batch" for _, unit in bars)
    for name in ("memory", "disk"):
        decoder, record, _ = runs[name]
        for key, value in runs["none"][0].items():
            torch.testing.assert_close(decoder[key], value, rtol=0, atol=1e-6)
        for ours, theirs in zip(record["epochs"], reference):  # every loss, every epoch
            ours, theirs = (
                {k: v for k, v in e.items() if k != "train_seconds"} for e in (ours, theirs)
            )
            assert ours == pytest.approx(theirs, rel=1e-5, abs=1e-7)
        assert record["config_values"]["finetune"]["embedding_cache"] == name
    # A second run reuses the disk cache: no image encoded, the same weights.
    files = sorted(p.name for p in folder.rglob("*"))
    assert len([f for f in files if f.endswith(".pt")]) == 4 and "cache.json" in files
    encoded.count = 0
    decoder, _ = _run(finetuned, "disk2", "--embedding-cache", "disk", "--cache-dir", folder)
    assert encoded.count == 0 and sorted(p.name for p in folder.rglob("*")) == files
    assert all(torch.equal(decoder[k], v) for k, v in runs["disk"][0].items())


def test_disk_cache_is_tied_to_the_model_and_never_replaces_a_file(tmp_path: Path) -> None:
    model = {"model_type": "vit_b", "image_size": 64, "encoder_dtype": "fp32"}
    model.update(checkpoint_sha256="ab" * 32, embedding_shape=[256, 4, 4])
    cache = DiskCache(tmp_path, model)
    batch = torch.randn(4, 256, 4, 4)
    embedding = batch[1]  # a view, as the encoder's batch gives
    cache.put("k1", embedding, "im0")
    assert "k1" in cache and "k2" not in cache and torch.equal(cache.get("k1"), embedding)
    assert cache.path("k1").stat().st_size < 1.5 * embedding.numel() * 4  # not the batch
    assert not list(cache.folder.glob(".*"))  # no temporary file left behind
    for change in (
        {"checkpoint_sha256": "cd" * 32},
        {"image_size": 128},
        {"encoder_dtype": "bf16"},
    ):
        other = DiskCache(tmp_path, {**model, **change})  # another folder: nothing reused
        assert other.folder != cache.folder and "k1" not in other
    (cache.folder / "k2.pt").write_text("a user's file")  # a name the cache would use
    with pytest.raises(CacheError, match="k2.pt' is unreadable"):
        cache.get("k2")
    torch.save({"key": "k1", "image": "im0", "embedding": embedding}, cache.folder / "k3.pt")
    with pytest.raises(CacheError, match="k3.pt' is not this cache's embedding"):
        cache.get("k3")
    header = cache.folder / "cache.json"
    header.write_text(header.read_text().replace('"vit_b"', '"vit_h"'))
    with pytest.raises(CacheError, match="was made for"):
        DiskCache(tmp_path, model)
    foreign = tmp_path / "foreign"
    mine = DiskCache(foreign, model).folder
    (mine / "cache.json").unlink()
    (mine / ".cache.json.pmgsam-0123456789ab.tmp").write_text("{")  # a killed run's: no obstacle
    assert DiskCache(foreign, model).folder == mine
    (mine / "cache.json").unlink()
    (mine / "notes.txt").write_text("mine")
    before = {p: p.read_bytes() for p in foreign.rglob("*") if p.is_file()}
    with pytest.raises(CacheError, match="no cache.json: not an embedding cache"):
        DiskCache(foreign, model)
    assert {p: p.read_bytes() for p in foreign.rglob("*") if p.is_file()} == before


def test_a_cache_dir_that_is_a_file_or_an_unreadable_header_is_refused_untouched(
    tmp_path: Path,
) -> None:
    model = {"model_type": "vit_b", "image_size": 64, "encoder_dtype": "fp32"}
    model.update(checkpoint_sha256="ab" * 32, embedding_shape=[256, 4, 4])
    a_file = tmp_path / "notes.txt"
    a_file.write_text("a user's notes")
    with pytest.raises(CacheError, match=rf"^finetune.cache_dir '{a_file}' is a file, not a"):
        DiskCache(a_file, model)
    assert a_file.read_text() == "a user's notes"
    header = DiskCache(tmp_path / "cache", model).folder / "cache.json"
    header.write_text('{"format": ')  # cut short (a full disk)
    with pytest.raises(CacheError, match=rf"^embedding cache '{header}' is unreadable: "):
        DiskCache(tmp_path / "cache", model)
    assert header.read_text() == '{"format": '


def test_the_plan_warns_of_a_disk_cache_beyond_the_free_space(tmp_path, monkeypatch, caplog):
    usage = {}

    def disk_usage(path: Path) -> Any:
        usage["path"] = path
        return SimpleNamespace(free=1 << 30)

    monkeypatch.setattr(finetune_cache.shutil, "disk_usage", disk_usage)
    folder = tmp_path / "not" / "made"  # its first existing parent is the one measured
    with caplog.at_level("WARNING", logger="pmgsam.baselines.finetune_sam"):
        finetune_cache.check_plan("disk", 256, 1024, str(folder), pinned=False)  # 1 GiB exactly
        assert caplog.text == ""
        finetune_cache.check_plan("disk", 1000, 1024, str(folder), pinned=False)  # 1000 x 4 MiB
    assert usage["path"] == tmp_path
    assert f"may need up to 3.91 GiB but '{tmp_path}' has 1.00 GiB free" in caplog.text


@pytest.mark.parametrize("meminfo", ["MemTotal: 8 kB\n", "MemAvailable: lots\n", OSError()])
def test_memory_that_cannot_be_read_is_unknown_not_an_error(monkeypatch, meminfo) -> None:
    def read_text(encoding: str = "") -> str:
        if isinstance(meminfo, Exception):
            raise meminfo
        return meminfo

    monkeypatch.setattr(finetune_cache, "Path", lambda _: SimpleNamespace(read_text=read_text))
    assert finetune_cache.available_memory() is None
    finetune_cache.check_plan("memory", 10**6, 1024, None, pinned=False)  # 3.8 TiB: not refused


def test_bf16_encoder_on_the_cpu_runs_with_a_warning(caplog) -> None:
    with caplog.at_level("WARNING", logger="pmgsam.baselines.finetune_sam"):
        finetune_cache.check_encoder_dtype("fp32", torch.device("cpu"))
        assert caplog.text == ""
        finetune_cache.check_encoder_dtype("bf16", torch.device("cpu"))
    assert "finetune.encoder_dtype=bf16 on the CPU: autocast runs, but is slower" in caplog.text


def test_cache_settings_are_checked_and_a_too_large_memory_cache_refused(monkeypatch) -> None:
    assert embedding_bytes(1024) == 4 << 20  # ViT-B/L/H alike: 256 x 64 x 64 float32
    for bad, message in [
        ({"embedding_cache": "ram"}, "'finetune.embedding_cache' must be one of"),
        ({"encoder_dtype": "fp16"}, "'finetune.encoder_dtype' must be one of"),
        ({"embedding_cache": "disk"}, "needs a folder: set finetune.cache_dir"),
    ]:
        with pytest.raises(ConfigError, match=message):
            FinetuneConfig(**bad).validate()
    monkeypatch.setattr(finetune_cache, "available_memory", lambda: 8 << 30)
    finetune_cache.check_plan("memory", 1000, 1024, None, pinned=False)  # 3.9 GiB
    with pytest.raises(ConfigError, match=r"about 13.55 GiB .* only 8.00 GiB .*cache=disk"):
        finetune_cache.check_plan("memory", 3470, 1024, None, pinned=True)


def test_bf16_encoder_keeps_float32_weights_and_outputs(
    vit_b: Any, memoised_sam_encoder: Any
) -> None:
    images = [torch.as_tensor(p[0]).permute(2, 0, 1)[:, :24, :64].contiguous() for p in pairs(2)]
    model = copy.deepcopy(vit_b)
    memoised_sam_encoder.clear()  # the memo does not key on autocast
    fp32 = encode(model, images, "fp32")
    memoised_sam_encoder.clear()
    bf16 = encode(model, images, "bf16")
    memoised_sam_encoder.clear()
    assert fp32.dtype == bf16.dtype == torch.float32 and fp32.shape == (2, 256, 4, 4)
    error = (bf16 - fp32).abs().max() / fp32.abs().max()
    assert 0 < error < 0.05, error  # bf16's precision, not another result
    assert all(p.dtype == torch.float32 for p in model.parameters())
    embedder = Embedder(model, "bf16")  # no cache: encodes every call
    samples = [prepare(*pair, np.array([[40.0, 20.0]]), SIDE) for pair in pairs(1)]
    torch.testing.assert_close(embedder(samples), encode(model, [samples[0].image], "bf16"))


def test_available_memory_reads_meminfos_kib_as_bytes(monkeypatch) -> None:
    # /proc/meminfo counts in KiB ("kB"): 8388608 kB available is 8 GiB, which holds a
    # 1000-image cache (3.9 GiB); read as bytes (8 MiB) it refused every memory cache.
    text = "MemTotal:       16777216 kB\nMemFree: 1024 kB\nMemAvailable:    8388608 kB\n"
    monkeypatch.setattr(
        finetune_cache, "Path", lambda _: SimpleNamespace(read_text=lambda encoding="": text)
    )
    assert finetune_cache.available_memory() == 8 << 30
    finetune_cache.check_plan("memory", 1000, 1024, None, pinned=False)

"""The image embeddings of SAM fine-tuning, computed once per image.

The image encoder is frozen and the images are not augmented, so an image's embedding is the
same every epoch; with ViT-H it is about 90% of a training step. Before training,
:meth:`Embedder.fill` encodes every training and validation image once (in batches of
``batch_size``, under ``finetune.encoder_dtype``) into a cache; the epochs then only run the
mask decoder (the point prompts are still drawn anew each epoch). An embedding is float32
(256, side/16, side/16): 4 MiB for a 1024-px input.

``finetune.embedding_cache``:

* ``memory`` (default): float32 tensors on the CPU (pinned when training on CUDA, so they copy
  to the GPU asynchronously); refused before the model loads when the estimate exceeds the
  memory the machine has available;
* ``disk``: one ``<key>.pt`` file per image in ``<cache_dir>/<tag>/``, written atomically
  (temporary file + rename). ``<tag>`` names the model type, input side, encoder dtype and the
  first 16 hex digits of the checkpoint's SHA-256 (its ``cache.json`` holds all of it); ``key``
  is the SHA-256 of the encoder's input pixels (the image as decoded and resized), so a changed
  image file, checkpoint, side or dtype never meets a stale embedding: it gets a new file, and
  later runs with the same inputs reuse the existing ones. Nothing in the cache folder is ever
  deleted or overwritten; a file there that is not a valid entry for its name is refused with
  an error naming it. On CUDA an entry read is pinned before its copy to the GPU;
* ``none``: the encoder runs on every image of every epoch (as without a cache).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Sequence

import torch

from pmgsam.baselines.finetune_recipe import FinetuneConfig, Sample, encode
from pmgsam.engine.distributed import native_bf16
from pmgsam.utils.config import ConfigError
from pmgsam.utils.io import atomic_path, is_temporary, write_text_atomic
from pmgsam.utils.messages import counted
from pmgsam.utils.outputs import OutputError

if TYPE_CHECKING:
    from segment_anything.modeling import Sam

logger = logging.getLogger("pmgsam.baselines.finetune_sam")
CACHE_FORMAT = "pmgsam-sam-embeddings"
EMBED_CHANNELS, PATCH = 256, 16  # SAM's image embedding: 256 channels, one per 16-px patch
GIB, MIB = 1 << 30, 1 << 20


class CacheError(OutputError):
    """A disk-cache folder or file that is not this cache's (refused, never replaced)."""


def embedding_bytes(side: int) -> int:
    """Bytes of one float32 embedding of a SAM with input side ``side``."""
    return 4 * EMBED_CHANNELS * (side // PATCH) ** 2


def human_size(size: float) -> str:
    """``16 KiB``, ``4.0 MiB``, ``13.56 GiB``."""
    if size < MIB:
        return f"{size / 1024:.0f} KiB"
    return f"{size / MIB:.1f} MiB" if size < GIB else f"{size / GIB:.2f} GiB"


def available_memory() -> Optional[int]:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes; None where it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_plan(mode: str, images: int, side: int, folder: Optional[str], pinned: bool) -> None:
    """Log the cache's size estimate; refuse a memory cache larger than the available memory
    (before the model loads), warn about a disk cache larger than the free space."""
    if mode == "none":
        logger.info("embedding cache: none (the image encoder runs on every image every epoch)")
        return
    size = images * embedding_bytes(side)
    where = f"CPU memory{' (pinned)' if pinned else ''}" if mode == "memory" else f"'{folder}'"
    logger.info(
        "embedding cache (%s): %s x %s = %s in %s, each image encoded once",
        mode, counted(images, "image"), human_size(embedding_bytes(side)), human_size(size), where,
    )  # fmt: skip
    if mode == "memory":
        free = available_memory()
        if free is not None and size > free:
            raise ConfigError(
                f"finetune.embedding_cache=memory needs about {human_size(size)} for {images} "
                f"images but only {human_size(free)} of memory is available: use "
                "finetune.embedding_cache=disk with finetune.cache_dir=FOLDER (or none)"
            )
        return
    parent = Path(folder)  # type: ignore[arg-type]
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    free = shutil.disk_usage(parent).free if parent.is_dir() else None
    if free is not None and size > free:
        logger.warning(
            "the embedding cache may need up to %s but '%s' has %s free",
            human_size(size), parent, human_size(free),
        )  # fmt: skip


def check_encoder_dtype(dtype: str, device: torch.device) -> None:
    """bf16 needs a GPU with bf16 (compute capability 8.0+); on the CPU it runs (autocast),
    with a warning: few CPUs run it faster than float32."""
    if dtype != "bf16":
        return
    if device.type == "cuda" and not native_bf16(device):
        raise ConfigError(
            f"finetune.encoder_dtype=bf16 but {torch.cuda.get_device_name(device)} has no bf16 "
            "support (compute capability 8.0+, e.g. A100, H100, RTX 30xx); use fp32"
        )
    if device.type == "cpu":
        logger.warning(
            "finetune.encoder_dtype=bf16 on the CPU: autocast runs, but is slower than fp32 on "
            "CPUs without native bf16 (AVX512-BF16 or AMX); it is meant for CUDA"
        )


def open_cache(
    ft: FinetuneConfig, model_type: str, side: int, checkpoint_sha256: str, device: torch.device
) -> Any:
    """The cache ``ft.embedding_cache`` names (None for ``none``)."""
    if ft.embedding_cache == "memory":
        return MemoryCache(pin=device.type == "cuda")
    if ft.embedding_cache == "disk":
        grid = side // PATCH
        model = {"model_type": model_type, "image_size": side, "encoder_dtype": ft.encoder_dtype,
                 "checkpoint_sha256": checkpoint_sha256,
                 "embedding_shape": [EMBED_CHANNELS, grid, grid]}  # fmt: skip
        return DiskCache(ft.cache_dir, model)  # type: ignore[arg-type]
    return None


class MemoryCache:
    """Embeddings by key, float32 on the CPU.

    Arguments:
        pin: keep them in pinned memory (set when training on CUDA: the copies to the GPU
            are then asynchronous).
    """

    def __init__(self, pin: bool = False) -> None:
        self.pin, self.entries = pin, {}  # type: Dict[str, torch.Tensor]

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def get(self, key: str) -> torch.Tensor:
        return self.entries[key]

    def put(self, key: str, embedding: torch.Tensor, name: str) -> None:
        stored = torch.empty(embedding.shape, dtype=torch.float32, pin_memory=self.pin)
        self.entries[key] = stored.copy_(embedding)


class DiskCache:
    """Embeddings by key, one file ``<key>.pt`` each in ``folder/<tag>/``, the tag being the
    model's; a ``cache.json`` there made for another model is refused (:class:`CacheError`).

    Arguments:
        folder: the cache folder (``finetune.cache_dir``); created when missing.
        model: what the embeddings depend on: ``model_type``, ``image_size`` (input side in
            pixels), ``encoder_dtype``, ``checkpoint_sha256`` and ``embedding_shape`` (C, H, W);
            recorded in ``cache.json`` and, but for the shape, in the tag.
    """

    def __init__(self, folder: str | Path, model: Dict[str, Any]) -> None:
        self.model, self.shape = dict(model), tuple(model["embedding_shape"])
        tag = (
            f"sam-{model['model_type']}-{model['image_size']}px-{model['encoder_dtype']}-"
            f"{model['checkpoint_sha256'][:16]}"
        )
        self.folder = Path(folder) / tag
        if Path(folder).exists() and not Path(folder).is_dir():
            raise CacheError(f"finetune.cache_dir '{folder}' is a file, not a folder")
        header = self.folder / "cache.json"
        expected = {"format": CACHE_FORMAT, **self.model}
        if header.is_file():
            try:
                found = json.loads(header.read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:
                raise CacheError(f"embedding cache '{header}' is unreadable: {err}") from None
            if found != expected:
                raise CacheError(
                    f"embedding cache '{self.folder}' was made for {found}, not {expected}: "
                    "point finetune.cache_dir at another folder"
                )
        elif self.folder.exists() and any(not is_temporary(p.name) for p in self.folder.iterdir()):
            raise CacheError(
                f"'{self.folder}' holds files but no cache.json: not an embedding cache; point "
                "finetune.cache_dir at another folder (nothing there is replaced)"
            )
        else:
            write_text_atomic(header, json.dumps(expected, indent=2) + "\n")

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.pt"

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()

    def get(self, key: str) -> torch.Tensor:
        path = self.path(key)
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
            embedding = entry["embedding"]
            valid = entry["key"] == key and tuple(embedding.shape) == self.shape
            valid = valid and embedding.dtype == torch.float32
        except Exception as err:  # any unreadable or foreign file
            raise CacheError(
                f"embedding cache file '{path}' is unreadable ({err}); remove it"
            ) from None
        if not valid:
            raise CacheError(f"'{path}' is not this cache's embedding for its name; remove it")
        return embedding

    def put(self, key: str, embedding: torch.Tensor, name: str) -> None:
        # A copy: a view would save the whole batch's storage.
        embedding = embedding.detach().to("cpu", torch.float32).clone()
        entry = {"key": key, "image": name, "embedding": embedding}
        with atomic_path(self.path(key)) as tmp:
            torch.save(entry, tmp)


class Embedder:
    """The image embeddings of a batch of samples on ``sam``'s device: from ``cache`` (those
    missing are encoded and stored first), or from the encoder when ``cache`` is None.

    Arguments:
        sam: the segment-anything model whose frozen image encoder computes the embeddings.
        dtype: ``fp32`` or ``bf16`` (autocast of the encoder; ``finetune.encoder_dtype``).
        cache: a :class:`MemoryCache`, a :class:`DiskCache` or None (no cache).
    """

    def __init__(self, sam: Sam, dtype: str = "fp32", cache: Any = None) -> None:
        self.sam, self.dtype, self.cache = sam, dtype, cache
        self.encoded = 0  # images encoded into the cache

    def __call__(self, samples: Sequence[Sample]) -> torch.Tensor:
        if self.cache is None:
            return encode(self.sam, [s.image for s in samples], self.dtype)
        self.store(samples)
        device = self.sam.device
        return torch.stack([self.to_device(self.cache.get(s.key), device) for s in samples])

    @staticmethod
    def to_device(embedding: torch.Tensor, device: torch.device) -> torch.Tensor:
        # A copy to CUDA from pageable memory (a disk cache's) may wait for the GPU's queued
        # work (CUDA stages it through pinned memory); from pinned memory (the memory
        # cache's) it does not.
        if device.type == "cuda" and not embedding.is_pinned():
            embedding = embedding.pin_memory()
        return embedding.to(device, non_blocking=True)

    def store(self, samples: Sequence[Sample], names: Sequence[str] = ()) -> None:
        """Encode and cache the samples whose key the cache lacks."""
        missing: Dict[str, Any] = {}
        for i, sample in enumerate(samples):
            if sample.key not in self.cache and sample.key not in missing:
                missing[sample.key] = (sample, names[i] if names else "")
        if not missing:
            return
        todo = list(missing.values())
        device = self.sam.device
        embeddings = encode(self.sam, [s.image.to(device) for s, _ in todo], self.dtype)
        for (sample, name), embedding in zip(todo, embeddings):
            self.cache.put(sample.key, embedding, name)
        self.encoded += len(todo)

    def fill(self, batches: Iterable[List[tuple]]) -> None:
        """Cache every sample of ``batches`` of ``(name, Sample or None)`` items."""
        for batch in batches:
            named = [(name, s) for name, s in batch if s is not None]
            self.store([s for _, s in named], [name for name, _ in named])

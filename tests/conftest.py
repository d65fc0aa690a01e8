"""Shared fixtures: small generated datasets in the official layouts.

The trees are generated once per test session (a fraction of a second) in a temporary folder:

* ``dis5k_root``  -> ``.../DIS5K``     DIS-TR 8 images, DIS-VD and DIS-TE1..4 2 each;
* ``cod10k_root`` -> ``.../COD10K-v3`` Train 6 CAM (+1 NonCAM), Test 3 CAM (+1 NonCAM), COCO JSON;
* ``nc4k_root``   -> ``.../NC4K``      10 images with instance PNGs.

Images are about 96x72 with varied aspect ratios. Treat the trees as read-only; ``data_config``
builds a :class:`~pmgsam.data.config.DataConfig` whose split files go to a per-test folder, so
tests never write into the shared trees.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Tuple

import pytest
import torch
from small_branches import SMALL_HIERA, use_small_branches

from pmgsam.data.config import DataConfig
from pmgsam.data.synthetic import generate
from pmgsam.utils.config import from_dict

SYNTHETIC_SIZE = (96, 72)


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``-n N``) each worker runs on one intra-op thread: N workers with
    torch's default of one thread per core would oversubscribe the cores N-fold, and OpenMP
    teams spin badly when they share cores (see :func:`one_thread`). Tests that need another
    count set it and put it back themselves."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Run a test on one intra-op thread (``pytestmark = pytest.mark.usefixtures(...)``).

    OpenMP thread teams spin badly when other processes share the cores (up to 20x slower on
    the shared 2-core machines), so the heavier model tests opt in.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def backend_flags() -> Iterator[None]:
    """Put torch's matmul precision and cuDNN switches back after a test that sets them (they
    are process-wide)."""
    cudnn = torch.backends.cudnn
    before = torch.get_float32_matmul_precision(), cudnn.benchmark, cudnn.allow_tf32
    yield
    torch.set_float32_matmul_precision(before[0])
    cudnn.benchmark, cudnn.allow_tf32 = before[1:]


@pytest.fixture
def two_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process may run on CPUs 0 and 3 only (as under ``taskset -c 0,3``), with no
    cgroup CPU quota (the machine running the tests may have one), outside ``torchrun``;
    the worker-cap lines logged so far are forgotten, so a test sees its own."""
    import os

    from pmgsam.utils import cpus

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3}, raising=False)
    monkeypatch.setattr(cpus, "cpu_quota", lambda: None)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.setattr(cpus, "_said", set())


@pytest.fixture
def torch_default() -> Iterator[int]:
    """torch's thread count set to 4 for the test (then put back): above the two CPUs of
    :func:`two_cpus`, as torch's default is on a machine with more cores than the process may
    use. Yields that count."""
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    yield 4
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def one_thread_module() -> Iterator[None]:
    """:func:`one_thread` for a whole module, its module-scoped fixtures included."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def memoise() -> Iterator[Callable[..., Dict[tuple, Any]]]:
    """``memoise(cls, name, clone)`` caches ``cls.<name>(self, x)`` for the rest of the module.

    The key is a digest of all the module's weights and of ``x``, so a different model or input
    recomputes; ``clone`` copies a cached output so callers may modify what they get. Heavy image
    encoders (SAM ViT-B, SAM2) then run once per image per module. Returns the cache.
    """
    patcher = pytest.MonkeyPatch()

    def patch(cls: type, name: str, clone: Callable[[Any], Any]) -> Dict[tuple, Any]:
        original, cache = getattr(cls, name), {}

        def memoised(self: torch.nn.Module, x: torch.Tensor) -> Any:
            if not hasattr(self, "_weights_digest"):
                digest = hashlib.sha1()
                for p in self.state_dict().values():
                    digest.update(p.detach().cpu().numpy().tobytes())
                self._weights_digest = digest.hexdigest()
            key = (self._weights_digest, hashlib.sha1(x.detach().cpu().numpy().tobytes()).digest())
            if key not in cache:
                cache[key] = original(self, x)
            return clone(cache[key])

        patcher.setattr(cls, name, memoised)
        return cache

    yield patch
    patcher.undo()


@pytest.fixture(scope="module")
def memoised_sam_encoder(memoise: Callable[..., Dict[tuple, Any]]) -> Dict[tuple, Any]:
    """segment-anything's image encoder run once per image for the module (:func:`memoise`);
    the cache is returned (clear it where autocast must change the output)."""
    from segment_anything.modeling import ImageEncoderViT

    return memoise(ImageEncoderViT, "forward", lambda out: out.clone())


@pytest.fixture(scope="module")
def vit_b() -> torch.nn.Module:
    """A seeded random SAM ViT-B at a 64-px input (the SAM fine-tuning tests' model)."""
    from pmgsam.baselines import sam

    torch.manual_seed(0)
    return sam.build("vit_b", 64)


@pytest.fixture(scope="module")
def checkpoints(
    tmp_path_factory: pytest.TempPathFactory, small_tiny_model: torch.nn.Module
) -> Dict[str, Tuple[Path, Any]]:
    """Two 64-px tiny PMG-SAM weights files, ``one`` and ``other`` (one trainable tensor moved
    by 0.5), with the model each loads as: ``{name: (path, model)}``. The frozen branches are
    the small ones (:func:`use_small_branches`: what the tests of these files check does not
    depend on their size, and they copy, run and digest the weights many times; Hiera-T's 27 M
    took most of their time), so load them through :func:`weights`."""
    import copy

    from pmgsam.modeling.checkpoint import save_model

    model = copy.deepcopy(small_tiny_model).eval()
    other = copy.deepcopy(model)
    with torch.no_grad():
        next(p for p in other.parameters() if p.requires_grad).add_(0.5)
    root = tmp_path_factory.mktemp("weights")
    return {
        "one": (save_model(model, root / "one.safetensors"), model),
        "other": (save_model(other, root / "other.safetensors"), other),
    }


@pytest.fixture
def weights(checkpoints: Dict[str, Tuple[Path, Any]], monkeypatch) -> Dict[str, Path]:
    """The paths of :func:`checkpoints`, which inference now loads as copies of their models
    (building the frozen branches takes seconds)."""
    load_copies(monkeypatch, checkpoints)
    return {name: path for name, (path, _) in checkpoints.items()}


def load_copies(mp: pytest.MonkeyPatch, checkpoints: Dict[str, Tuple[Path, Any]]) -> None:
    """While ``mp`` holds, inference loads each of :func:`checkpoints`' files as a copy of its
    model (:func:`weights`', for a fixture of wider scope)."""
    import copy

    from pmgsam.engine import inference

    models = {str(path): model for path, model in checkpoints.values()}
    mp.setattr(inference, "load_pretrained", lambda p, **kw: copy.deepcopy(models[str(p)]))


@pytest.fixture
def cocoeval_stats() -> Callable[[Any, Path], list]:
    """pycocotools' own class-agnostic ``segm`` evaluation: the 12 stats of results in a file."""
    from pycocotools.cocoeval import COCOeval

    def stats(coco_gt: Any, results: Path) -> list:
        ev = COCOeval(coco_gt, coco_gt.loadRes(str(results)), iouType="segm")
        ev.params.useCats = 0
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        return [float(s) for s in ev.stats]

    return stats


@pytest.fixture(scope="session")
def seed0_tiny() -> Callable[[], torch.nn.Module]:
    """``seed0_tiny()`` gives what ``torch.manual_seed(0)`` and building ``pmgsam_tiny`` at
    64 px would: the model (a new copy each call) and the global RNG in the state that build
    leaves. One build per session: Hiera-T's 27 M weights take about twice as long to
    initialise as to copy."""
    import copy

    from pmgsam.modeling.build import build_model

    torch.manual_seed(0)
    model = build_model("pmgsam_tiny", image_size=64)
    rng = torch.get_rng_state()

    def copy_of_build() -> torch.nn.Module:
        torch.set_rng_state(rng)
        return copy.deepcopy(model)

    return copy_of_build


@pytest.fixture(scope="module")
def tiny_model(seed0_tiny: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """One tiny PMG-SAM (seed 0) per test module; tests that train copy it, so they never
    share state."""
    return seed0_tiny()


@pytest.fixture
def small_branches(monkeypatch: pytest.MonkeyPatch) -> tuple:
    """Build ``pmgsam_tiny`` with the small frozen branches (:func:`use_small_branches`)
    during the test; returns the Hiera spec."""
    use_small_branches(monkeypatch)
    return SMALL_HIERA


@pytest.fixture(scope="module")
def small_tiny_model() -> torch.nn.Module:
    """:func:`tiny_model` with the small frozen branches (:func:`use_small_branches`); tests
    that train copy it."""
    from pmgsam.modeling.build import build_model

    with pytest.MonkeyPatch.context() as mp:
        use_small_branches(mp)
        torch.manual_seed(0)
        return build_model("pmgsam_tiny", image_size=64)


@pytest.fixture(scope="module")
def small_model_file(
    small_tiny_model: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory
) -> Tuple[Path, torch.nn.Module]:
    """(weights file, model): :func:`small_tiny_model` saved once for the module."""
    from pmgsam.modeling.checkpoint import save_model

    folder = tmp_path_factory.mktemp("weights")
    return save_model(small_tiny_model, folder / "small.safetensors"), small_tiny_model.eval()


@pytest.fixture
def stubbed_prediction(
    small_model_file: Tuple[Path, torch.nn.Module], monkeypatch: pytest.MonkeyPatch
) -> Dict[str, list]:
    """Prediction with its costly parts stubbed, for tests of how it is resourced: every
    ``load_pretrained`` gives the small model, every prediction DataLoader loads in-process,
    and the forward pass is skipped (maps of zeros). Records the ``num_workers`` each loader
    was given (``"workers"``) and torch's thread count at each forward pass (``"threads"``)."""
    from torch.utils.data import DataLoader

    from pmgsam.engine import inference, predictor
    from pmgsam.modeling import build

    seen: Dict[str, list] = {"workers": [], "threads": []}

    def in_process(*args: Any, num_workers: int = 0, **kwargs: Any) -> DataLoader:
        seen["workers"].append(num_workers)
        return DataLoader(*args, num_workers=0, **kwargs)

    def zeros(self: Any, images: torch.Tensor) -> torch.Tensor:
        seen["threads"].append(torch.get_num_threads())
        return torch.zeros(len(images), 1, *images.shape[2:])

    monkeypatch.setattr(predictor, "DataLoader", in_process)
    monkeypatch.setattr(predictor.Predictor, "predict_batch", zeros)
    for module in (inference, build):
        monkeypatch.setattr(module, "load_pretrained", lambda *a, **k: small_model_file[1])
    return seen


@pytest.fixture(scope="session")
def sam_file(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, torch.nn.Module]:
    """(file, model): a random, seeded SAM ViT-B at a 64-px input and its state-dict file.

    Shared by the SAM baseline test files (building and saving the 360 MB file takes seconds);
    treat both as read-only.
    """
    from pmgsam.baselines import sam

    torch.manual_seed(0)
    model = sam.build("vit_b", 64)
    path = tmp_path_factory.mktemp("sam") / "sam_vit_b_random.pth"
    torch.save(model.state_dict(), path)
    return path, model


@pytest.fixture(scope="session")
def synthetic_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("synthetic_data")


@pytest.fixture(scope="session")
def dis5k_root(synthetic_data_dir: Path) -> Path:
    return generate("dis5k", synthetic_data_dir, num=8, seed=0, size=SYNTHETIC_SIZE)


@pytest.fixture(scope="session")
def cod10k_root(synthetic_data_dir: Path) -> Path:
    return generate("cod10k", synthetic_data_dir, num=6, seed=1, size=SYNTHETIC_SIZE)


@pytest.fixture(scope="session")
def nc4k_root(synthetic_data_dir: Path) -> Path:
    return generate("nc4k", synthetic_data_dir, num=10, seed=2, size=SYNTHETIC_SIZE)


_DEFAULT_SPLITS = {
    "dis5k": {"train_split": "DIS-TR", "val_split": "DIS-VD", "test_splits": ["DIS-TE1"]},
    "cod10k": {"train_split": "Train", "val_split": None, "test_splits": ["Test"]},
    "nc4k": {"train_split": "train", "val_split": None, "test_splits": ["test"]},
    "folder": {"train_split": "train", "val_split": None, "test_splits": ["test"]},
}


def data_configs_in(split_dir: Path) -> Callable[..., DataConfig]:
    """Factory ``make(dataset, root, **overrides) -> DataConfig`` saving split files in
    ``split_dir`` (:func:`data_config`'s, for a fixture of wider scope)."""

    def make(dataset: str, root: Path, **overrides: Any) -> DataConfig:
        values = {"dataset": dataset, "root": str(root), "num_workers": 0}
        values.update(_DEFAULT_SPLITS[dataset])
        values["split_dir"] = str(split_dir)
        values.update(overrides)
        return from_dict(DataConfig, values)

    return make


@pytest.fixture
def data_config(tmp_path: Path) -> Callable[..., DataConfig]:
    """Factory ``data_config(dataset, root, **overrides) -> DataConfig`` (split files in tmp)."""
    return data_configs_in(tmp_path / "splits")


@pytest.fixture
def deny_listing(monkeypatch) -> Callable[[Path], None]:
    """``deny_listing(folder)``: listing ``folder`` raises PermissionError from then on, as a
    folder of mode 711 on a shared machine does (other folders list as usual)."""
    listing, scanning = Path.iterdir, os.scandir
    denied: set = set()

    def iterdir(self):
        if self in denied:
            raise PermissionError(13, "Permission denied", str(self))
        return listing(self)

    def scandir(path="."):
        # shutil.rmtree scans by file descriptor: an int is no folder of denied.
        if not isinstance(path, int) and Path(os.fsdecode(path)) in denied:
            raise PermissionError(13, "Permission denied", str(path))
        return scanning(path)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    monkeypatch.setattr(os, "scandir", scandir)
    return denied.add

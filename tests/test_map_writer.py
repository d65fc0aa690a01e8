"""MapWriter: maps encoded and written on threads while the caller goes on, each map's own
bytes under its own name, errors raised naming the map, and a bounded queue."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
import torch

from pmgsam.engine import map_writer
from pmgsam.engine.map_writer import MapWriter, prediction_workers, write_threads_for

SLOW_S = 0.4


def _levels_of(path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


@pytest.mark.parametrize("threads", [0, 1, 3])
def test_each_map_holds_its_own_levels(tmp_path, threads) -> None:
    # k/255 saves as level k (hand value): twelve maps of different levels and shapes, written
    # by threads that finish out of order, must not swap contents or names.
    with MapWriter(threads) as maps:
        for k in range(12):
            maps.write(torch.full((5 + k, 9), k * 20 / 255), tmp_path / f"m{k}.png")
    for k in range(12):
        levels = _levels_of(tmp_path / f"m{k}.png")
        assert levels.shape == (5 + k, 9) and (levels == k * 20).all(), k
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"m{k}.png" for k in range(12))


def _slow_saves(monkeypatch, seconds: float = SLOW_S) -> list:
    saved = []
    real = map_writer.save_levels_png

    def slow(levels, path):
        time.sleep(seconds)
        real(levels, path)
        saved.append(path.name)

    monkeypatch.setattr(map_writer, "save_levels_png", slow)
    return saved


def test_writes_return_before_the_maps_are_encoded_and_leaving_waits(tmp_path, monkeypatch):
    saved = _slow_saves(monkeypatch)
    with MapWriter(2) as maps:
        start = time.perf_counter()
        for k in range(4):
            maps.write(torch.zeros(4, 4), tmp_path / f"{k}.png")
        handed_over = time.perf_counter() - start
        assert handed_over < SLOW_S / 2  # inline, four saves would take 4 × 0.4 s
    elapsed = time.perf_counter() - start
    assert sorted(saved) == ["0.png", "1.png", "2.png", "3.png"]  # all written on leaving
    assert 2 * SLOW_S <= elapsed < 4 * SLOW_S  # two threads, two maps each


def test_without_threads_each_write_is_done_when_it_returns(tmp_path, monkeypatch):
    saved = _slow_saves(monkeypatch, 0.05)
    with MapWriter(0) as maps:
        maps.write(torch.zeros(4, 4), tmp_path / "a.png")
        assert saved == ["a.png"]


def test_a_full_queue_makes_the_caller_wait(tmp_path, monkeypatch) -> None:
    release = threading.Event()
    real = map_writer.save_levels_png

    def held(levels, path):
        release.wait(10)
        real(levels, path)

    monkeypatch.setattr(map_writer, "save_levels_png", held)
    returned = threading.Event()
    with MapWriter(1, max_pending=2) as maps:
        maps.write(torch.zeros(3, 3), tmp_path / "a.png")
        maps.write(torch.zeros(3, 3), tmp_path / "b.png")
        third = threading.Thread(
            target=lambda: (maps.write(torch.zeros(3, 3), tmp_path / "c.png"), returned.set())
        )
        third.start()
        assert not returned.wait(0.3)  # two maps pending: the third waits for one to be written
        release.set()
        assert returned.wait(10)
        third.join()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "c.png"]


def test_a_writer_error_is_raised_naming_the_map(tmp_path, monkeypatch) -> None:
    real = map_writer.save_levels_png

    def failing(levels, path):
        if path.name == "b.png":
            raise OSError(f"could not write prediction '{path}': No space left on device")
        real(levels, path)

    monkeypatch.setattr(map_writer, "save_levels_png", failing)
    with pytest.raises(OSError, match=r"'.*b\.png': No space left"):
        with MapWriter(2) as maps:
            for name in "abc":
                maps.write(torch.zeros(3, 3), tmp_path / f"{name}.png")
    assert not (tmp_path / "b.png").exists()


def test_an_error_of_the_caller_drops_the_queued_maps_and_is_the_one_raised(tmp_path, monkeypatch):
    saved = _slow_saves(monkeypatch)
    start = time.perf_counter()
    with pytest.raises(KeyError, match="stop"):
        with MapWriter(1, max_pending=10) as maps:
            for k in range(6):
                maps.write(torch.zeros(3, 3), tmp_path / f"{k}.png")
            raise KeyError("stop")
    # The map being written finished; the five queued ones were dropped, not written for 2 s.
    assert time.perf_counter() - start < 3 * SLOW_S
    assert saved == ["0.png"] and [p.name for p in tmp_path.iterdir()] == ["0.png"]


def test_nan_maps_are_noted_by_the_caller(tmp_path) -> None:
    noted: list = []
    prob = torch.zeros(4, 4)
    prob[1, 2] = float("nan")
    with MapWriter(2, noted) as maps:
        maps.write(prob, tmp_path / "n.png")
        assert noted == [f"'{tmp_path / 'n.png'}' (NaN at 1 of its 16 pixels)"]
    assert (_levels_of(tmp_path / "n.png") == 0).all()


def _overlapping(monkeypatch) -> list:
    # The copy-overlapping path as a GPU map takes it, on the CPU: records which thread waited.
    waited = []
    real = map_writer.LevelsInFlight.wait

    def wait(self):
        waited.append(threading.current_thread().name)
        return real(self)

    monkeypatch.setattr(map_writer, "_overlaps", lambda prob: True)
    monkeypatch.setattr(map_writer.LevelsInFlight, "wait", wait)
    return waited


def test_overlapped_copies_are_waited_for_by_the_writer_threads(tmp_path, monkeypatch) -> None:
    waited = _overlapping(monkeypatch)
    noted: list = []
    probs = [torch.full((6, 4 + k), k * 30 / 255) for k in range(5)]
    probs[1][0, 0] = probs[3][2, 1] = probs[3][5, 3] = float("nan")
    with MapWriter(2, noted) as maps:
        for k, prob in enumerate(probs):
            maps.write(prob, tmp_path / f"{k}.png")
    assert len(waited) == 5 and all(name.startswith("pmgsam-map-writer") for name in waited)
    for k in range(5):  # k·30/255 saves as level k·30; a NaN as 0
        expected = np.full((6, 4 + k), k * 30, np.uint8)
        expected[torch.isnan(probs[k]).numpy()] = 0
        assert (_levels_of(tmp_path / f"{k}.png") == expected).all(), k
    # Noted when collected, in the order the maps were predicted, with the caller's wording.
    assert noted == [
        f"'{tmp_path / '1.png'}' (NaN at 1 of its 30 pixels)",
        f"'{tmp_path / '3.png'}' (NaN at 2 of its 42 pixels)",
    ]


def test_overlapped_maps_written_before_an_error_keep_their_nan_notes(tmp_path, monkeypatch):
    _overlapping(monkeypatch)
    noted: list = []
    prob = torch.zeros(3, 3)
    prob[0, 0] = float("nan")
    with pytest.raises(KeyError, match="stop"):
        with MapWriter(1, noted, max_pending=10) as maps:
            maps.write(prob, tmp_path / "a.png")
            # Written (renamed into place) before the error, its note not yet collected; a map
            # still queued at the error would be dropped, so wait for it rather than sleep.
            deadline = time.monotonic() + 60
            while not (tmp_path / "a.png").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            raise KeyError("stop")
    assert (tmp_path / "a.png").exists()
    assert noted == [f"'{tmp_path / 'a.png'}' (NaN at 1 of its 9 pixels)"]


def test_without_overlap_the_caller_waits_for_each_copy(tmp_path, monkeypatch) -> None:
    waited = _overlapping(monkeypatch)
    with MapWriter(2, [], overlap_copies=False) as maps:
        maps.write(torch.zeros(3, 3), tmp_path / "a.png")
    assert waited == [] and (tmp_path / "a.png").exists()


def test_loader_workers_of_a_prediction(monkeypatch) -> None:
    monkeypatch.setattr(map_writer, "cpu_share", lambda: 16)
    cuda = torch.device("cuda")
    assert prediction_workers(torch.device("cpu")) == 2  # as before: the model has the CPUs
    # A GPU: 16 CPUs less 1 for the process and 4 for the writer; its threads then get 4.
    assert prediction_workers(cuda) == 11
    assert write_threads_for(cuda, prediction_workers(cuda)) == 4
    assert prediction_workers(cuda, requested=3) == 3 and prediction_workers(cuda, 0) == 0
    monkeypatch.setattr(map_writer, "cpu_share", lambda: 8)
    assert (prediction_workers(cuda), write_threads_for(cuda, 5)) == (5, 3)
    monkeypatch.setattr(map_writer, "cpu_share", lambda: 2)
    assert prediction_workers(cuda) == 2  # never fewer than the CPU default
    monkeypatch.setattr(map_writer, "cpu_share", lambda: 128)
    assert prediction_workers(cuda) == 16  # nor more than MAX_AUTO_WORKERS


def test_thread_counts(monkeypatch) -> None:
    monkeypatch.setattr(map_writer, "cpu_share", lambda: 16)
    cuda = torch.device("cuda")
    assert write_threads_for(torch.device("cpu"), 2) == 0  # the model has the CPUs
    assert write_threads_for(cuda, 12) == 4  # at most MAX_WRITE_THREADS
    assert write_threads_for(cuda, 14) == 2  # what the workers leave
    assert write_threads_for(cuda, 16) == 1  # at least one
    assert write_threads_for(torch.device("cpu"), 2, requested=3) == 3
    with pytest.raises(ValueError, match="0 or more"):
        write_threads_for(cuda, 2, requested=-1)


# The two tests below predict with conftest's small frozen branches: the maps' bytes and the
# writer threads handed on do not depend on the branches' size (Hiera-T's builds, loads and
# digests took most of their time).
def test_a_folder_predicted_with_writer_threads_gives_the_same_map_bytes(
    tmp_path, small_tiny_model
):
    from pmgsam.engine.predictor import ImageFolder, Predictor

    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    for k, shape in enumerate([(40, 90, 3), (120, 50, 3), (64, 64, 3), (33, 31, 3), (70, 20, 3)]):
        cv2.imwrite(str(folder / f"i{k}.png"), rng.integers(0, 255, shape, dtype=np.uint8))
    predictor = Predictor(small_tiny_model.eval(), "cpu")
    dataset = ImageFolder(folder, 64)
    inline = predictor.predict_dataset(
        dataset, tmp_path / "inline", 2, 0, progress=False, write_threads=0
    )
    threaded = predictor.predict_dataset(
        dataset, tmp_path / "threaded", 2, 0, progress=False, write_threads=2,
        premask_dir=tmp_path / "pre",
    )  # fmt: skip
    names = sorted(p.name for p in inline.iterdir())
    assert names == [f"i{k}.png" for k in range(5)]
    assert sorted(p.name for p in threaded.iterdir()) == names
    assert sorted(p.name for p in (tmp_path / "pre").iterdir()) == names
    for name in names:
        assert (inline / name).read_bytes() == (threaded / name).read_bytes(), name


def test_the_inference_command_hands_its_write_threads_to_the_predictor(
    tmp_path, small_tiny_model, small_branches, monkeypatch
):
    import pmgsam.engine.inference as inference
    from pmgsam.modeling.checkpoint import save_model

    # small_branches: inference builds the file's model with the small branches it holds.
    path = save_model(small_tiny_model, tmp_path / "w" / "model.safetensors")
    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((20, 30, 3), 90, np.uint8))
    chosen = []
    real = inference.Predictor.predict_dataset

    def spy(self, dataset, out, batch_size, num_workers, *args, write_threads=None, **kwargs):
        chosen.append((num_workers, write_threads))
        return real(self, dataset, out, batch_size, num_workers, *args,
                    write_threads=write_threads, **kwargs)  # fmt: skip

    monkeypatch.setattr(inference.Predictor, "predict_dataset", spy)
    argv = ["--checkpoint", str(path), "--input", str(folder), "--quiet"]
    inference.main([*argv, "--out", str(tmp_path / "o1"), "--write-threads", "3",
                    "--num-workers", "0"])  # fmt: skip
    inference.main([*argv, "--out", str(tmp_path / "o2")])
    assert chosen == [(0, 3), (None, None)]  # the defaults are the device's
    assert (tmp_path / "o1" / "a.png").read_bytes() == (tmp_path / "o2" / "a.png").read_bytes()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_maps_on_the_gpu_write_the_bytes_of_the_same_maps_on_the_cpu(tmp_path) -> None:
    # The levels are computed where the map lives: on the GPU they must round as on the CPU,
    # and the writer threads must get every map's own host copy.
    gen = torch.Generator().manual_seed(0)
    maps = [torch.rand(300 + k, 200, generator=gen) for k in range(6)]
    maps[2][5, 5] = float("nan")
    noted: list = []
    with MapWriter(2, noted) as writer:
        for k, prob in enumerate(maps):
            writer.write(prob.cuda(), tmp_path / "gpu" / f"{k}.png")
    with MapWriter(0, []) as writer:
        for k, prob in enumerate(maps):
            writer.write(prob, tmp_path / "cpu" / f"{k}.png")
    for k in range(6):
        assert (tmp_path / "gpu" / f"{k}.png").read_bytes() == (
            tmp_path / "cpu" / f"{k}.png"
        ).read_bytes(), k
    assert noted == [f"'{tmp_path / 'gpu' / '2.png'}' (NaN at 1 of its 60400 pixels)"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_writing_a_gpu_map_does_not_wait_for_the_gpu(tmp_path) -> None:
    # The GPU is kept busy (10^9 cycles, ~0.5 s at 2 GHz): the caller's write must return
    # before that, queueing the map's copy behind the work (no host synchronisation: the sync
    # debug mode raises on one), and the map must still be written whole.
    prob = torch.rand(1200, 900, device="cuda")
    expected = (prob.cpu() * 255).round().to(torch.uint8).numpy()
    with MapWriter(1, []) as writer:
        torch.cuda.synchronize()
        torch.cuda._sleep(10**9)
        torch.cuda.set_sync_debug_mode("error")
        try:
            writer.write(prob, tmp_path / "g.png")
        finally:
            torch.cuda.set_sync_debug_mode("default")
        still_busy = torch.cuda.Event()
        still_busy.record()
        assert not still_busy.query()  # a write that waited would find the GPU idle
    assert (_levels_of(tmp_path / "g.png") == expected).all()

"""torchrun set-up and collectives (pmgsam.engine.distributed) without a GPU or a second
process: torch.distributed and the CUDA queries are replaced by fakes that record their calls,
so that multi-node cases (global rank != local rank) and CUDA devices can be checked on a CPU.
A real two-process run is tests/test_train.py's DDP test."""

from __future__ import annotations

import logging
from typing import Any, List

import pytest
import torch
import torch.distributed as dist

from pmgsam.engine import distributed as D
from pmgsam.utils.config import ConfigError


@pytest.fixture
def gpus(monkeypatch):
    """Pretend this machine has ``n`` CUDA devices (torch.device objects need no GPU)."""

    def make(n: int) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)

    return make


def test_main_process_is_global_rank_zero() -> None:
    # Second node of a 2 x 2 job: local rank 0 but global rank 2 must not write the run.
    assert not D.DistInfo(rank=2, world_size=4).is_main
    assert D.DistInfo(rank=0, world_size=4).is_main
    assert not D.DistInfo().distributed and D.DistInfo(world_size=2).distributed


def test_devices_follow_the_local_rank(gpus) -> None:
    gpus(4)
    assert D.resolve_device("auto", local_rank=2) == torch.device("cuda:2")
    assert D.resolve_device("cuda", local_rank=3) == torch.device("cuda:3")
    assert D.resolve_device("cuda:3", local_rank=1) == torch.device("cuda:3")
    with pytest.raises(ConfigError, match=r"cuda:4 but this machine has 4 CUDA device\(s\)"):
        D.resolve_device("cuda:4")


def test_cuda_asked_for_without_cuda_is_named(gpus) -> None:
    gpus(0)
    assert D.resolve_device("auto", local_rank=2) == torch.device("cpu")
    for name in ("cuda", "cuda:1"):
        with pytest.raises(ConfigError, match=f"--device={name} but CUDA is not available"):
            D.resolve_device(name, option="--device")


def test_amp_dtypes(monkeypatch, caplog) -> None:
    cuda = torch.device("cuda:0")
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "GPU")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    assert D.resolve_amp("bf16", cuda) is torch.bfloat16
    assert D.resolve_amp("fp16", cuda) is torch.float16
    assert D.resolve_amp("none", cuda) is None
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 0))
    with pytest.raises(ConfigError, match=r"train\.amp=bf16.*use fp16"):
        D.resolve_amp("bf16", cuda)
    with caplog.at_level(logging.WARNING, logger="pmgsam.engine.distributed"):
        # "none" on a CPU is no fallback: nothing to warn about.
        assert D.resolve_amp("none", torch.device("cpu")) is None
        assert not caplog.records
        assert D.resolve_amp("fp16", torch.device("cpu")) is None
    assert [r.getMessage() for r in caplog.records] == [
        "train.amp=fp16 needs CUDA; training on cpu in float32 instead"
    ]


class FakeGroup:
    """Stands in for torch.distributed: a group of ``world`` processes, this one ``rank``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, initialised: bool, world: int = 2):
        self.calls: List[tuple] = []
        self.initialised, self.world, self.rank = initialised, world, 1
        for name in ("init_process_group", "destroy_process_group", "barrier"):
            monkeypatch.setattr(dist, name, self._record(name))
        monkeypatch.setattr(dist, "is_available", lambda: True)
        monkeypatch.setattr(dist, "is_initialized", lambda: self.initialised)
        monkeypatch.setattr(dist, "get_rank", lambda: self.rank)
        monkeypatch.setattr(dist, "get_world_size", lambda: self.world)
        monkeypatch.setattr(torch.cuda, "set_device", self._record("set_device"))

    def _record(self, name: str):
        def call(*args: Any, **kwargs: Any) -> None:
            self.calls.append((name, args, kwargs))
            if name == "init_process_group":
                self.initialised = True

        return call


@pytest.mark.parametrize("device, backend", [("cpu", "gloo"), ("cuda", "nccl")])
def test_torchrun_environment_joins_a_group_it_then_owns(
    monkeypatch, gpus, device, backend
) -> None:
    gpus(2)
    # Node 2 of a 2-node job with 2 processes each: global rank 3, local rank 1.
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    group = FakeGroup(monkeypatch, initialised=False, world=4)
    group.rank = 3
    info, dev = D.init_distributed(device)
    assert info == D.DistInfo(rank=3, world_size=4, owns_group=True)
    expected = torch.device("cuda:1") if device == "cuda" else torch.device("cpu")
    assert dev == expected
    init = [c for c in group.calls if c[0] == "init_process_group"]
    assert init == [("init_process_group", (), {"backend": backend, "init_method": "env://"})]
    assert [c[1] for c in group.calls if c[0] == "set_device"] == (
        [(expected,)] if device == "cuda" else []
    )
    D.cleanup_distributed(info)
    assert group.calls[-1][0] == "destroy_process_group"


def test_a_group_made_by_the_caller_is_used_and_left_alone(monkeypatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    group = FakeGroup(monkeypatch, initialised=True)
    info, _ = D.init_distributed("cpu")
    assert info == D.DistInfo(rank=1, world_size=2, owns_group=False)
    D.cleanup_distributed(info)
    assert group.calls == []  # neither created nor destroyed here


def test_a_single_process_makes_its_gpu_the_current_device(monkeypatch, gpus) -> None:
    gpus(2)
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    group = FakeGroup(monkeypatch, initialised=False)
    info, dev = D.init_distributed("cuda:1")
    assert info == D.DistInfo() and dev == torch.device("cuda:1")
    assert group.calls == [("set_device", (torch.device("cuda:1"),), {})]


def test_single_process_without_torchrun_makes_no_group(monkeypatch) -> None:
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    group = FakeGroup(monkeypatch, initialised=False)
    info, dev = D.init_distributed("cpu")
    assert info == D.DistInfo() and dev == torch.device("cpu")
    t = torch.tensor([2.0, 3.0])
    assert D.all_reduce_sum(t) is t and t.tolist() == [2.0, 3.0]
    assert D.broadcast_flag(True, dev) is True
    D.barrier()
    assert group.calls == []


def test_collectives_sum_and_take_rank_zero_flag(monkeypatch) -> None:
    group = FakeGroup(monkeypatch, initialised=True)
    others = torch.tensor([5.0, 1.0])  # what the other process holds

    def all_reduce(tensor: torch.Tensor, op: Any = None) -> None:
        group.calls.append(("all_reduce", op))
        tensor += others if op == dist.ReduceOp.SUM else 0 * others

    def broadcast(tensor: torch.Tensor, src: int) -> None:
        group.calls.append(("broadcast", src))
        tensor.fill_(1 if src == 0 else 0)  # rank 0 asks every rank to stop

    monkeypatch.setattr(dist, "all_reduce", all_reduce)
    monkeypatch.setattr(dist, "broadcast", broadcast)
    t = torch.tensor([1.0, 2.0])
    assert D.all_reduce_sum(t).tolist() == [6.0, 3.0]
    # This process (rank 1) would go on; rank 0's early stop wins.
    assert D.broadcast_flag(False, torch.device("cpu")) is True
    D.barrier()
    assert [c[0] for c in group.calls] == ["all_reduce", "broadcast", "barrier"]


def test_ddp_rebroadcasts_buffers_only_where_a_trainable_batchnorm_updates_them(tiny_model):
    # The frozen branches' BatchNorms (U²-Net) never update; the residual fusion ablation's
    # Conv-BN-ReLU does, and its statistics must stay one across ranks.
    from pmgsam.modeling.build import build_model

    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in tiny_model.u2net.modules())
    assert D.buffers_change_in_training(tiny_model) is False
    residual = build_model(tiny_model.config, fusion="residual")
    assert D.buffers_change_in_training(residual) is True


def test_a_failure_on_another_rank_is_recorded_in_the_runs_log(tmp_path) -> None:
    # Rank 0 only sees the lost connection; the cause must reach train.log too.
    log = tmp_path / "train.log"
    lines = ["2026-01-01 00:00:00 INFO pmgsam.engine.trainer: epoch 1", "... INFO: epoch 2"]
    log.write_text("\n".join(lines) + "\n")
    D.append_rank_error(log, 1, ValueError("cannot read image file 'x.jpg'"))
    kept = log.read_text().splitlines()
    assert kept[:2] == lines and len(kept) == 3  # appended, the log's own lines kept
    assert kept[2].endswith(
        " ERROR rank 1: training failed (ValueError: cannot read image file 'x.jpg')"
    )


def test_a_train_log_that_cannot_be_written_never_hides_the_ranks_own_error(tmp_path) -> None:
    # Best effort: the rank's error is what must propagate, not one from writing the log.
    D.append_rank_error(tmp_path / "gone" / "train.log", 1, ValueError("x"))  # folder removed
    (tmp_path / "train.log").mkdir()  # opening it for appending raises IsADirectoryError
    D.append_rank_error(tmp_path / "train.log", 1, ValueError("x"))
    assert not (tmp_path / "gone").exists() and not any((tmp_path / "train.log").iterdir())


def test_ddp_is_told_to_sync_buffers_without_a_deprecation_warning(tmp_path) -> None:
    import inspect
    import warnings

    from torch.nn.parallel import DistributedDataParallel

    kwargs = D.buffer_sync_kwargs(True)
    assert list(kwargs.values()) == [True]
    assert next(iter(kwargs)) in inspect.signature(DistributedDataParallel.__init__).parameters
    # A file rendezvous: a TCP port picked free could be taken before the store bound it.
    store = f"file://{tmp_path / 'rendezvous'}"
    torch.distributed.init_process_group("gloo", init_method=store, rank=0, world_size=1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)
            DistributedDataParallel(torch.nn.Linear(2, 2), **D.buffer_sync_kwargs(False))
    finally:
        torch.distributed.destroy_process_group()


def test_every_buffer_is_broadcast_from_rank_zero(monkeypatch):
    model = torch.nn.Sequential(torch.nn.BatchNorm2d(2), torch.nn.Conv2d(2, 2, 1))
    calls = []
    monkeypatch.setattr(D.dist, "is_available", lambda: True)
    monkeypatch.setattr(D.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(D.dist, "get_world_size", lambda: 2)
    monkeypatch.setattr(D.dist, "get_rank", lambda: 1)
    monkeypatch.setattr(D.dist, "broadcast", lambda t, src: calls.append((t, src)))
    D.broadcast_buffers(model)
    # BatchNorm2d holds running_mean, running_var and num_batches_tracked; Conv2d none.
    assert len(calls) == 3 and all(src == 0 for _, src in calls)
    bn = model[0]
    expected = [bn.running_mean, bn.running_var, bn.num_batches_tracked]
    assert all(t is e for (t, _), e in zip(calls, expected))
    monkeypatch.setattr(D.dist, "get_world_size", lambda: 1)
    calls.clear()
    D.broadcast_buffers(model)  # one process: nothing to send
    assert calls == []


def test_only_an_indexed_cuda_device_is_made_current(monkeypatch) -> None:
    # "cuda" is the current device already; a CPU or another kind has none to set.
    calls: List[torch.device] = []
    monkeypatch.setattr(torch.cuda, "set_device", calls.append)
    for name in ("cpu", "cpu:0", "cuda", "meta", "cuda:1"):
        D.make_current(torch.device(name))
    assert calls == [torch.device("cuda:1")]


def test_derived_buffers_are_neither_broadcast_nor_synced_by_ddp(monkeypatch, tmp_path) -> None:
    from torch.nn.parallel import DistributedDataParallel

    from pmgsam.modeling.u2net import REBNCONV, set_batchnorm_folding

    unit = REBNCONV(2, 2).eval().requires_grad_(False)
    model = torch.nn.Sequential(unit, torch.nn.Conv2d(2, 2, 1))  # a trainable part for DDP
    set_batchnorm_folding(model, True)  # the folded weight and bias: non-persistent buffers
    assert D.derived_buffer_names(model) == ["0.folded_weight", "0.folded_bias"]
    calls = []
    monkeypatch.setattr(D.dist, "is_available", lambda: True)
    monkeypatch.setattr(D.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(D.dist, "get_world_size", lambda: 2)
    monkeypatch.setattr(D.dist, "broadcast", lambda t, src: calls.append(t))
    D.broadcast_buffers(model)
    bn = unit.bn_s1
    assert [id(t) for t in calls] == [
        id(bn.running_mean),
        id(bn.running_var),
        id(bn.num_batches_tracked),
    ]
    monkeypatch.undo()
    # DDP's per-forward sync (on where a BatchNorm trains) leaves them out too.
    from pmgsam.engine.trainer_setup import TrainerSetup

    holder = TrainerSetup.__new__(TrainerSetup)
    holder.model, holder.device, holder._buffers_train = model, torch.device("cpu"), True
    holder.dist = type("Dist", (), {"distributed": True})()
    store = f"file://{tmp_path / 'rendezvous'}"
    torch.distributed.init_process_group("gloo", init_method=store, rank=0, world_size=1)
    try:
        wrapped = holder._wrap_distributed()
        assert isinstance(wrapped, DistributedDataParallel)
        synced = {id(b) for b in wrapped.modules_buffers}
        assert id(unit.folded_weight) not in synced and id(unit.folded_bias) not in synced
        assert id(bn.running_mean) in synced
    finally:
        torch.distributed.destroy_process_group()

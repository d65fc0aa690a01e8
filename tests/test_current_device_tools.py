"""The efficiency report and the SAM baselines on ``cuda:N`` make that GPU the current device
before any model reaches it, as training and inference do: pinned host memory, memory
statistics and torch.cuda's queries follow the current device, which would stay cuda:0 (and get
a context of its own). Two GPUs are faked, as in test_inference_device.py."""

from __future__ import annotations

import warnings
from typing import List

import pytest
import torch
import yaml

import evaluate
from pmgsam.baselines import row
from pmgsam.efficiency import cli as efficiency_cli
from pmgsam.efficiency import report
from pmgsam.utils.config import to_dict


class Reached(Exception):
    """Raised where the model would be built: everything before it has run."""


@pytest.fixture
def set_device_calls(monkeypatch: pytest.MonkeyPatch) -> List[torch.device]:
    calls: List[torch.device] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.append(torch.device(d)))
    return calls


def test_efficiency_on_cuda_n_makes_it_current(set_device_calls, monkeypatch) -> None:
    def stop(*args, **kwargs):
        raise Reached(list(set_device_calls))

    monkeypatch.setattr(report, "efficiency_report", stop)
    with pytest.raises(Reached) as reached:
        efficiency_cli.main(["--model", "pmgsam_tiny", "--device", "cuda:1", "--size", "64"])
    assert reached.value.args[0] == [torch.device("cuda:1")]


def test_a_sam_baseline_on_cuda_n_makes_it_current_before_the_model_is_built(
    set_device_calls, monkeypatch, sam_file, cod10k_root, data_config, tmp_path
) -> None:
    def stop(args, owner, device):
        raise Reached(list(set_device_calls), device)

    monkeypatch.setattr(row, "_build", stop)
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump({"data": to_dict(data_config("cod10k", cod10k_root))}))
    argv = ["--baseline", "sam-box", "--checkpoint", str(sam_file[0]), "--config", str(cfg),
            "--dataset", "cod10k", "--splits", "Test", "--device", "cuda:1", "--quiet",
            "--model-image-size", "64", "--output-dir", str(tmp_path / "out")]  # fmt: skip
    with pytest.raises(Reached) as reached:
        evaluate.main(argv)
    assert reached.value.args == ([torch.device("cuda:1")], torch.device("cuda:1"))


def test_efficiency_in_bf16_on_a_gpu_that_emulates_it_warns(set_device_calls, monkeypatch) -> None:
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: "Tesla T4")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (7, 5))
    monkeypatch.setattr(report, "efficiency_report", lambda *a, **k: (_ for _ in ()).throw(Reached))
    argv = ["--model", "pmgsam_tiny", "--device", "cuda:1", "--size", "64", "--dtype", "bf16"]
    with pytest.warns(UserWarning, match=r"--dtype bf16 on Tesla T4 \(cuda:1\), which has no nat"):
        with pytest.raises(Reached):
            efficiency_cli.main(argv)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (9, 0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(Reached):
            efficiency_cli.main(argv)

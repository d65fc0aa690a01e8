"""A checkpoint loads only with the frozen-branch weights it was trained on.

Giving inference or evaluation another Hiera (MAE instead of fine-tuned, another variant) or
U²-Net file of the right shapes builds without complaint and predicts other maps; the checkpoint
records each branch's SHA-256, so such a file is refused, while the same file moved elsewhere
still loads.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file
from small_branches import use_small_branches

import pmgsam
from pmgsam.modeling.checkpoint import save_model
from pmgsam.modeling.weights import CheckpointError

S = 32


@pytest.fixture(scope="module", autouse=True)
def small_frozen_hiera():
    """conftest's small Hiera as "tiny" for the whole module, the module-scoped ``trained``
    included: the digests and refusals do not depend on the branch's size, and every load
    rebuilds and digests it (Hiera-T's 27 M weights took most of the module's time)."""
    with pytest.MonkeyPatch.context() as mp:
        use_small_branches(mp)
        yield


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A saved tiny model built on Hiera / U²-Net files, and a second, different file of each."""
    torch.manual_seed(0)
    model = pmgsam.build_model("pmgsam_tiny", image_size=S)
    root = tmp_path_factory.mktemp("frozen")
    hiera = model.hiera.trunk.state_dict()
    u2net = model.u2net.state_dict()
    torch.save({"model_state": hiera}, root / "hiera.pth")
    torch.save(u2net, root / "u2netp.pth")
    # Same keys and shapes, one weight changed: what another variant's file looks like here.
    other_hiera = {k: v.clone() for k, v in hiera.items()}
    first = next(k for k, v in other_hiera.items() if v.is_floating_point())
    other_hiera[first] += 0.01
    torch.save({"model_state": other_hiera}, root / "hiera_other.pth")
    other_u2net = {k: v.clone() for k, v in u2net.items()}
    first = next(k for k, v in other_u2net.items() if v.is_floating_point())
    other_u2net[first] += 0.01
    torch.save(other_u2net, root / "u2netp_other.pth")
    model = pmgsam.build_model(
        model.config,
        hiera_checkpoint=str(root / "hiera.pth"),
        u2net_checkpoint=str(root / "u2netp.pth"),
    )
    return save_model(model, root / "model.safetensors"), root


def test_the_files_it_was_trained_on_load_also_when_moved(trained, tmp_path) -> None:
    path, root = trained
    shutil.copy(root / "hiera.pth", tmp_path / "moved_hiera.pth")
    model = pmgsam.load_pretrained(path, hiera_checkpoint=str(tmp_path / "moved_hiera.pth"))
    assert model.config.hiera_checkpoint == str(tmp_path / "moved_hiera.pth")


@pytest.mark.parametrize(
    "field, file, branch",
    [
        ("hiera_checkpoint", "hiera_other.pth", "Hiera"),
        ("u2net_checkpoint", "u2netp_other.pth", "U²-Net"),
    ],
)
def test_other_frozen_weights_are_refused(trained, field, file, branch) -> None:
    path, root = trained
    with pytest.raises(CheckpointError, match=f"the {branch} weights in .*{file}' are not those"):
        pmgsam.load_pretrained(path, **{field: str(root / file)})


def test_checkpoints_saved_before_the_digests_load_as_before(trained, tmp_path) -> None:
    path, root = trained
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        metadata = dict(f.metadata())
    assert set(json.loads(metadata.pop("frozen_sha256"))) == {"hiera", "u2net"}
    old = tmp_path / "old.safetensors"
    save_file(load_file(str(path)), str(old), metadata=metadata)
    pmgsam.load_pretrained(old, hiera_checkpoint=str(root / "hiera_other.pth"))  # no record


def test_u2net_weights_differing_only_in_batchnorm_statistics_are_refused(trained, tmp_path):
    # The running mean / variance are buffers, not parameters, yet they set U²-Net's eval-mode
    # output: a file that differs only there gives other Pre-Masks, so the digest covers them.
    path, root = trained
    state = torch.load(root / "u2netp.pth", weights_only=True)
    key = next(k for k in state if k.endswith(".running_var"))
    state[key] = state[key] * 2
    other = tmp_path / "u2netp_other_statistics.pth"
    torch.save(state, other)
    with pytest.raises(CheckpointError, match="the U²-Net weights in .* are not those"):
        pmgsam.load_pretrained(path, u2net_checkpoint=str(other))


def test_a_random_branch_this_build_does_not_reproduce_is_warned_about(tmp_path, caplog) -> None:
    # A demo model trained on seeded random branches: a torch release that initialised them
    # otherwise would give other maps; no file can restore them, so it loads with a warning.
    import logging

    from safetensors import safe_open

    path = save_model(pmgsam.build_model("pmgsam_tiny", image_size=S), tmp_path / "m.safetensors")
    with safe_open(str(path), framework="pt") as f:
        metadata = dict(f.metadata())

    def other_init() -> list:
        return [
            r.getMessage() for r in caplog.records if "initialises differently" in r.getMessage()
        ]

    with caplog.at_level(logging.WARNING, logger="pmgsam.modeling.build"):
        pmgsam.load_pretrained(path)
    assert not other_init()  # the seeded init is reproduced: nothing to say
    digests = json.loads(metadata["frozen_sha256"])
    metadata["frozen_sha256"] = json.dumps({**digests, "hiera": "0" * 64})
    other = tmp_path / "other_init.safetensors"
    save_file(load_file(str(path)), str(other), metadata=metadata)
    with caplog.at_level(logging.WARNING, logger="pmgsam.modeling.build"):
        pmgsam.load_pretrained(other)
    [message] = other_init()  # the Hiera branch only: U²-Net's digest still matches
    assert "fixed-seed random Hiera branch" in message and str(other) in message

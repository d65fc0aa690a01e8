"""Why ``pmgsam.ablate --evaluate`` scores a variant again (``rescore_reason`` of
:mod:`pmgsam.ablation.settings`, from the settings the scores record): each change that changes the
scores is named (the weights' SHA-256, HCE, image size, device type, precision, speed options,
the data), a setting the scores lack is named as lacking, and the data's digest follows its
files, not their folder. Pure functions of the records; the passes that act on them are
test_ablate_rescoring.py's."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Dict

import pytest
import torch

import pmgsam.ablation.settings as ablation_settings
from pmgsam.engine.performance_config import PerformanceConfig

OPTIONS = {
    "hiera_window_attention": True,
    "channels_last": False,
    "fold_frozen_batchnorm": True,
    "compile": False,
    "compile_scope": None,
    "compile_mode": None,
    "tf32": True,
    "cudnn_benchmark": True,  # the default since the H200 measured it
    "bf16_group_norm": None,  # off, as scores recorded before the option ran
}
NOW = {
    "weights_sha256": "5" * 64,
    "hce": True,
    "image_size": 64,
    "device": "cuda",
    "amp": "bf16",
    "performance": OPTIONS,
    "data_root": "/d/DIS5K",
    "data": "abc",
}
# What the version before weights, device and speed options were recorded wrote.
OLDER = {"hce": True, "image_size": 64, "amp": "bf16", "data_root": "/d/DIS5K", "data": "abc"}


def test_settings_as_recorded_keep_the_scores() -> None:
    assert ablation_settings.rescore_reason(dict(NOW), NOW) == (None, False)
    # Scores with HCE also serve a call with --no-hce: nothing is lost by keeping them.
    assert ablation_settings.rescore_reason(dict(NOW), {**NOW, "hce": False})[0] is None
    # The same files found under another data.root (the dataset moved): the same data.
    assert ablation_settings.rescore_reason({**NOW, "data_root": "/old/DIS5K"}, NOW)[0] is None


@pytest.mark.parametrize(
    "recorded, words, predict",
    [
        (None, "do not record the settings", True),
        (
            OLDER,
            r"do not record the weights_sha256, device, performance they were predicted with "
            r"\(scored by an older pmgsam\)",
            True,
        ),
        ({**NOW, "hce": False}, r"lack HCE \(scored with --no-hce\)", False),
        (
            {**NOW, "weights_sha256": "a" * 64},
            r"best weights changed since it was scored \(SHA-256 aaaaaaaaaaaa then, "
            r"555555555555 now",
            True,
        ),
        ({**NOW, "image_size": 1024}, "image size S 1024 then, 64 now", True),
        # The same bf16 precision on another device (a CUDA run after a bf16-capable CPU one).
        ({**NOW, "device": "cpu"}, r"maps predicted on cpu then, cuda now \(--device\)", True),
        (
            {**NOW, "amp": "none"},
            r"amp 'none' then, 'bf16' now \(--device, or a GPU with or without native bf16\)",
            True,
        ),
        (
            {**NOW, "performance": {**OPTIONS, "tf32": False}},
            r"other speed options \(performance.tf32 False then, True now\)",
            True,
        ),
        (
            {**NOW, "data": "xyz", "data_root": "/demo/DIS5K"},
            r"other images or GT masks .*data\.root '/demo/DIS5K' then, '/d/DIS5K' now",
            True,
        ),
    ],
    ids=["unrecorded", "older", "hce-added", "weights", "image-size", "device", "amp", "tf32",
         "data"],
)  # fmt: skip
def test_a_change_that_changes_the_scores_is_named(recorded, words, predict) -> None:
    reason, must_predict = ablation_settings.rescore_reason(recorded, NOW)
    assert reason is not None and re.search(words, reason), reason
    assert must_predict is predict


def test_speed_options_are_recorded_as_they_act_on_the_device() -> None:
    perf = PerformanceConfig(tf32=False, compile_mode="max-autotune", fused_optimizer=False)
    # On CUDA TF32 and cuDNN's timing change the arithmetic; a compile mode without compile
    # changes nothing, and training-only options are no prediction's.
    assert ablation_settings.prediction_options(perf, "cuda") == {**OPTIONS, "tf32": False}
    assert ablation_settings.prediction_options(perf, "cpu") == {
        **OPTIONS,
        "tf32": None,
        "cudnn_benchmark": None,
    }
    # TF32 and cuDNN are CUDA's alone: on Apple's GPU (mps) too they change nothing.
    assert ablation_settings.prediction_options(
        perf, "mps"
    ) == ablation_settings.prediction_options(perf, "cpu")
    compiled = PerformanceConfig(compile=True, compile_scope="regional")
    assert ablation_settings.prediction_options(compiled, "cpu")["compile_scope"] == "regional"


def test_bf16_group_norms_on_predict_again_and_scores_from_before_the_option_stand() -> None:
    # GroupNorms computed in bf16 round differently: maps predicted with them off (also by a
    # pmgsam before the option, whose record lacks the key) do not stand for a call with them on.
    on = ablation_settings.prediction_options(PerformanceConfig(bf16_group_norm=True), "cuda")
    assert on["bf16_group_norm"] is True
    before = {key: value for key, value in OPTIONS.items() if key != "bf16_group_norm"}
    older = {**NOW, "performance": before}
    why, predict = ablation_settings.rescore_reason(older, {**NOW, "performance": on})
    assert predict and "performance.bf16_group_norm None then, True now" in why
    assert ablation_settings.rescore_reason(older, NOW) == (None, False)


def _dataset(root: Path, sizes: Dict[str, int]) -> SimpleNamespace:
    """A split of ``root``: images im/<stem>.jpg and masks gt/<stem>.png of ``sizes`` bytes."""
    for folder in ("im", "gt"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for stem, size in sizes.items():
        (root / "im" / f"{stem}.jpg").write_bytes(b"i" * 10)
        (root / "gt" / f"{stem}.png").write_bytes(b"g" * size)
    return SimpleNamespace(
        names=list(sizes),
        image_paths=[root / "im" / f"{s}.jpg" for s in sizes],
        mask_paths=[root / "gt" / f"{s}.png" for s in sizes],
        skeleton_paths=None,
    )


def test_data_digest_follows_the_files_not_the_folder(tmp_path) -> None:
    a = _dataset(tmp_path / "A" / "DIS-TE1", {"x": 5, "y": 7})
    digest = ablation_settings.data_digest(tmp_path / "A", {"DIS-TE1": a})
    # The same files under another root (moved or copied): the same data.
    b = _dataset(tmp_path / "B" / "DIS-TE1", {"x": 5, "y": 7})
    assert ablation_settings.data_digest(tmp_path / "B", {"DIS-TE1": b}) == digest
    # A mask of another size, another image list, or the files read as another part: not.
    c = _dataset(tmp_path / "C" / "DIS-TE1", {"x": 5, "y": 8})
    assert ablation_settings.data_digest(tmp_path / "C", {"DIS-TE1": c}) != digest
    d = _dataset(tmp_path / "D" / "DIS-TE1", {"x": 5})
    assert ablation_settings.data_digest(tmp_path / "D", {"DIS-TE1": d}) != digest
    assert ablation_settings.data_digest(tmp_path / "A", {"DIS-TE2": a}) != digest


def test_a_speed_option_the_scores_do_not_record_is_a_change() -> None:
    # Scores from before an option was compared do not say how it was set: scored again.
    then = {key: value for key, value in OPTIONS.items() if key != "channels_last"}
    reason, predict = ablation_settings.rescore_reason({**NOW, "performance": then}, NOW)
    assert reason is not None and "performance.channels_last None then, False now" in reason
    assert predict is True


def test_the_device_is_recorded_by_type(tmp_path, monkeypatch) -> None:
    # cuda:1 computes as cuda:0 does: scores of either serve the other (GPUs of one kind, here
    # with native bf16: amp auto is bf16 there).
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    perf = PerformanceConfig()
    settings = ablation_settings.scoring_settings(64, "cuda:1", True, tmp_path, {}, "5" * 64, perf)
    assert (settings["device"], settings["amp"]) == ("cuda", "bf16")


@pytest.mark.parametrize("key", ["weights_sha256", "image_size", "device", "amp", "performance"])
def test_a_setting_the_scores_lack_is_named_once_as_lacking(key: str) -> None:
    # Not also as a change from None: the record says nothing of how it was set.
    recorded = {k: v for k, v in NOW.items() if k != key}
    reason, predict = ablation_settings.rescore_reason(recorded, NOW)
    assert reason == (
        f"its scores do not record the {key} they were predicted with (scored by an older pmgsam)"
    )
    assert predict is True

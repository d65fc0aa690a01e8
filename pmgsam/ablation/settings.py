"""What a variant's kept scores depend on, and why they no longer stand (used by
:mod:`pmgsam.ablation.scoring`).

A variant's scores (``<run>/metrics/<set>.json``) record in ``scored_with`` what decided them
(:func:`scoring_settings`): the SHA-256 of the best weights, HCE scored or not, and how the
maps were predicted: the evaluation image size S, the device type, the autocast precision
(``bf16`` on CUDA, none on the CPU) and the speed options that change the arithmetic
(:data:`PREDICTION_OPTIONS`: TF32 and cuDNN's algorithm choice on CUDA, Hiera's attention form,
channels-last, ``torch.compile``); and the images, GT masks and skeletons scored (their paths
under ``data.root`` and their sizes, :func:`data_digest`, so a dataset moved elsewhere is the
same data, another dataset is not). :func:`rescore_reason` says why recorded settings do not
stand for a call, and whether its maps must be predicted again or only scored.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

from pmgsam.utils.command_names import command_name
from pmgsam.utils.io import path_under

SCORED_WITH = "scored_with"


def data_digest(root: str | Path, datasets: Mapping[str, Any]) -> str:
    """SHA-256 of every part's images, GT masks and skeletons: each file's path relative to
    ``root`` (absolute when outside it) and its size in bytes. The same after the dataset
    folder moved; different for other images, another image list or a changed mask."""
    digest = hashlib.sha256()
    base = Path(root).resolve()
    for part, dataset in datasets.items():
        digest.update(f"[{part}]\n".encode())
        skeletons = getattr(dataset, "skeleton_paths", None) or [None] * len(dataset.names)
        for files in zip(dataset.image_paths, dataset.mask_paths, skeletons):
            for path in files:
                if path is None:
                    digest.update(b"-\n")
                    continue
                # os.fsencode: a name that is not UTF-8 (held as surrogates) as its bytes.
                line = f"{path_under(path, base)} {Path(path).stat().st_size}\n"
                digest.update(os.fsencode(line))
    return digest.hexdigest()


#: The ``performance`` options a prediction runs with that change its arithmetic (up to
#: rounding): the rest (fused optimiser, persistent workers) act in training only, and CUDA
#: graphs replay the eager forward's own kernels.
PREDICTION_OPTIONS = (
    "hiera_window_attention",
    "channels_last",
    "fold_frozen_batchnorm",
    "compile",
    "compile_scope",
    "compile_mode",
    "tf32",
    "cudnn_benchmark",
    "bf16_group_norm",
)
#: What :func:`rescore_reason` compares besides HCE, and what a record lacking one means.
PREDICTION_KEYS = ("weights_sha256", "image_size", "device", "amp", "performance")


def prediction_options(performance: Any, device_type: str) -> Dict[str, Any]:
    """The :data:`PREDICTION_OPTIONS` of a ``PerformanceConfig`` as they act on
    ``device_type``: TF32 and cuDNN's algorithm timing only on CUDA (None elsewhere), the
    compile scope and mode only when compiling (None otherwise), bf16 GroupNorms only when on
    (None off: what scores recorded before the option ran), so that a setting that changes
    nothing does not cause a rescore."""
    options = {key: getattr(performance, key) for key in PREDICTION_OPTIONS}
    options["bf16_group_norm"] = options["bf16_group_norm"] or None
    if device_type != "cuda":
        options.update(tf32=None, cudnn_benchmark=None)
    if not options["compile"]:
        options.update(compile_scope=None, compile_mode=None)
    return options


def scoring_settings(
    image_size: int,
    device: Any,
    with_hce: bool,
    root: str | Path,
    datasets: Mapping[str, Any],
    weights_sha256: str,
    performance: Any,
) -> Dict[str, Any]:
    """What a variant's scores depend on (recorded as ``scored_with``): its weights'
    ``weights_sha256``, HCE, how its maps are predicted (image size, ``device``'s type,
    precision, the ``performance`` options of :func:`prediction_options`) and the data."""
    import torch

    from pmgsam.engine.predictor import resolve_amp

    device = torch.device(device)
    return {
        "weights_sha256": weights_sha256,
        "hce": with_hce,
        "image_size": image_size,
        "device": device.type,
        # The Predictor's amp 'auto': bf16 on a GPU with native bf16, else full precision.
        "amp": resolve_amp("auto", device),
        "performance": prediction_options(performance, device.type),
        "data_root": str(Path(root).resolve()),
        "data": data_digest(root, datasets),
    }


def rescore_reason(
    recorded: Optional[Mapping[str, Any]], now: Mapping[str, Any]
) -> Tuple[Optional[str], bool]:
    """(why scores recorded as ``recorded`` do not stand for a call with the settings ``now``,
    or None when they do; whether the maps must be predicted again, not only scored)."""
    if not isinstance(recorded, Mapping):
        why = (
            "its scores do not record the settings they were computed with (scored by an "
            f"older pmgsam, or by {command_name('evaluate')} into the variant's folder)"
        )
        return why, True
    reasons, predict = [], False
    lacking = [key for key in PREDICTION_KEYS if key not in recorded]
    if lacking:
        reasons.append(
            f"its scores do not record the {', '.join(lacking)} they were predicted with "
            "(scored by an older pmgsam)"
        )
        predict = True
    if now["hce"] and not recorded.get("hce"):
        reasons.append("its scores lack HCE (scored with --no-hce), which is asked for now")

    def changed(key: str) -> bool:
        # A key the scores lack is named once, above, not again as a change from None.
        return key in recorded and recorded[key] != now[key]

    if changed("weights_sha256"):
        reasons.append(
            "its best weights changed since it was scored (SHA-256 "
            f"{str(recorded['weights_sha256'])[:12]} then, {now['weights_sha256'][:12]} now: "
            "trained again)"
        )
        predict = True
    if changed("image_size"):
        reasons.append(f"image size S {recorded['image_size']} then, {now['image_size']} now")
        predict = True
    if changed("device"):
        reasons.append(
            f"maps predicted on {recorded['device']} then, {now['device']} now (--device)"
        )
        predict = True
    if changed("amp"):
        reasons.append(
            f"maps predicted with amp {recorded['amp']!r} then, {now['amp']!r} now (--device, "
            "or a GPU with or without native bf16)"
        )
        predict = True
    then_options = recorded.get("performance")
    if isinstance(then_options, Mapping):
        changed = [
            f"performance.{key} {then_options.get(key)!r} then, {value!r} now"
            for key, value in now["performance"].items()
            if then_options.get(key) != value
        ]
        if changed:
            reasons.append(f"maps predicted with other speed options ({'; '.join(changed)})")
            predict = True
    if recorded.get("data") != now["data"]:
        where = f"data.root '{recorded.get('data_root')}' then, '{now['data_root']}' now"
        reasons.append(f"other images or GT masks than were scored ({where})")
        predict = True
    return ("; ".join(reasons) or None), predict

"""Whether an earlier timing in a baseline row's run.json still describes the row.

``evaluate.py --baseline ... --speed-iters 0`` measures no speed, so run.json's merge would keep
the speed, FLOPs and peak memory of an earlier timed run. They are kept only when that run was
timed with the settings of this one (:func:`timing_settings`, recorded as ``meta.timed_with``
by a timed run); otherwise they are dropped, with one line saying why, so the table shows no
speed of another device, input side or model as this row's.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional

import torch

from pmgsam.evaluation.run_efficiency import cpu_threads
from pmgsam.evaluation.run_json import read_run_file

logger = logging.getLogger(__name__)

#: The run.json ``efficiency`` figures a timing gives (the parameter counts need none).
TIMING_FIGURES = ("flops_G", "fps", "peak_memory_MB", "threads", "timed_on")
#: The run.json ``meta`` entries a timed baseline run writes.
TIMING_META = ("efficiency_report", "timed_with", "fps_timing", "flops_counting")


def timing_settings(
    report: Mapping[str, Any], image_size: Optional[int], weights_sha256: str, model: Dict[str, Any]
) -> Dict[str, Any]:
    """What a baseline row's timing ``report`` (``measure_efficiency``'s) depends on: the device
    (the GPU's name, or ``cpu``), the precision, torch's thread count on a CPU (the timing runs
    on it), the model input side ``image_size``, the checkpoint's ``weights_sha256`` and the
    ``model`` as run.json's meta records it (family, type, mode, generator or E-SAM settings)."""
    return {
        **_measured_on(report),
        "image_size": image_size,
        "weights_sha256": weights_sha256,
        "model": model,
    }


def untimed_settings(
    device: torch.device, image_size: Optional[int], weights_sha256: str, model: Dict[str, Any]
) -> Dict[str, Any]:
    """:func:`timing_settings` of a run that measured nothing: those a timing on ``device``
    would have recorded (fp32, as every baseline runs, on torch's own thread count)."""
    cuda = device.type == "cuda"
    report = {
        "device": torch.cuda.get_device_name(device) if cuda else "cpu",
        "dtype": "fp32",
        "threads": torch.get_num_threads(),
    }
    return timing_settings(report, image_size, weights_sha256, model)


def _measured_on(report: Mapping[str, Any]) -> Dict[str, Any]:
    """The device, precision and (on a CPU) torch thread count a timing ``report`` records."""
    return {
        "device": report.get("device"),
        "dtype": report.get("dtype"),
        "threads": cpu_threads(report),
    }


def _earlier_settings(meta: Mapping[str, Any], now: Mapping[str, Any]) -> Optional[Dict]:
    """The settings an earlier timing recorded: ``meta.timed_with``, or for a run.json of an
    older pmgsam what its efficiency report and meta say (not the checkpoint's bytes, which it
    did not record; the checkpoint path is the same,
    :func:`~pmgsam.evaluation.run_json.check_same_model`); None when neither is there."""
    if isinstance(meta.get("timed_with"), Mapping):
        return dict(meta["timed_with"])
    report = meta.get("efficiency_report")
    if not isinstance(report, Mapping):
        return None
    return {
        **_measured_on(report),
        "image_size": report.get("image_size"),
        "model": {key: meta.get(key) for key in now["model"]},
    }


def stale_timing(run_dir: Path, settings: Callable[[], Dict[str, Any]]) -> Dict[str, List[str]]:
    """What to drop from ``run_dir``'s run.json (``{section: [keys]}``, for
    :func:`~pmgsam.evaluation.run_json.write_run_json`) when this untimed run's
    ``settings()`` (:func:`untimed_settings`, asked only when there is an earlier timing) are
    not those its earlier timing was measured with; ``{}`` when there is no timing or it still
    stands. Logs one line naming what changed."""
    path = Path(run_dir) / "run.json"
    run = read_run_file(path)
    efficiency = run.get("efficiency") if isinstance(run.get("efficiency"), Mapping) else {}
    meta = run.get("meta") if isinstance(run.get("meta"), Mapping) else {}
    figures = [k for k in TIMING_FIGURES if efficiency.get(k) is not None]
    if not figures and not any(k in meta for k in TIMING_META):
        return {}
    now = settings()
    then = _earlier_settings(meta, now)
    if then is None:
        why = "the settings it was measured with are not recorded"
    else:
        changed = [
            f"{key} {then[key]!r} then, {value!r} now"
            for key, value in now.items()
            if key in then and then[key] != value
        ]
        if not changed:
            return {}
        why = f"it was measured with other settings ({'; '.join(changed)})"
    logger.info(
        "dropping the earlier timing in '%s' (%s): %s; time this row again with --speed-iters",
        path,
        ", ".join(figures) or "efficiency report",
        why,
    )
    return {"efficiency": list(TIMING_FIGURES), "meta": list(TIMING_META)}

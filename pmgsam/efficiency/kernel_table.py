"""Which operators (and, on a GPU, which kernels) a timed call spends its time in.

``benchmarks/component_times.py --kernels N`` runs its step a few more times under
``torch.profiler`` and prints two tables of the N largest rows, as a share of the profiled
time:

* on a GPU, the CUDA kernels by their own device time (convolution algorithms, normalisation,
  element-wise and copy kernels: what the device actually ran); on a CPU, the operators by
  their own CPU time;
* the operators by input shapes, by the device (CPU) time of the kernels they launched
  themselves: which convolution, normalisation or concatenation, at which width and
  resolution, holds the time.

Times are per call (the profiled calls' totals divided by their count), so they compare with
the component table above them, give or take the profiler's own overhead.
"""

from __future__ import annotations

from typing import Any, Callable, List, Sequence

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

from pmgsam.engine.distributed import synchronize

#: Longest operator or kernel name printed (kernel names run to hundreds of characters).
NAME_WIDTH = 70


def profile_calls(step: Callable[[], Any], device: torch.device, calls: int) -> profile:
    """``calls`` calls of ``step`` under the profiler (CPU, and CUDA on a GPU), input shapes
    recorded; one unprofiled call first, so caches and algorithm choices are settled."""
    if calls < 1:
        raise ValueError(f"calls must be at least 1, got {calls}")
    step()
    synchronize(device)
    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities, record_shapes=True) as prof:
        for _ in range(calls):
            step()
        synchronize(device)
    return prof


def _self_us(event: Any, on_device: bool) -> float:
    return event.self_device_time_total if on_device else event.self_cpu_time_total


def _short(text: str, width: int = NAME_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _rows(events: Sequence[Any], on_device: bool, calls: int, top: int, shapes: bool) -> List[str]:
    timed = [(e, _self_us(e, on_device)) for e in events]
    timed = [(e, us) for e, us in timed if us > 0]
    total = sum(us for _, us in timed)
    timed.sort(key=lambda pair: pair[1], reverse=True)
    lines = []
    for event, us in timed[:top]:
        name = _short(event.key)
        if shapes:
            name = f"{_short(event.key, 28)} {_short(str(event.input_shapes), NAME_WIDTH - 29)}"
        lines.append(
            f"  {name:{NAME_WIDTH}s}  {event.count / calls:10.1f}  {us / 1000 / calls:9.3f}  "
            f"{100 * us / total:5.1f}%"
        )
    return lines


def kernel_tables(prof: profile, device: torch.device, calls: int, top: int) -> List[str]:
    """The two tables of the module doc, ``top`` rows each, times per call."""
    on_device = device.type == "cuda"
    what = "device" if on_device else "CPU"
    header = f"  {'':{NAME_WIDTH}s}  {'count/call':>10s}  {'ms/call':>9s}  {'share':>6s}"
    events = prof.key_averages()
    kernels = [e for e in events if e.device_type == DeviceType.CUDA]
    operators = [e for e in events if e.device_type == DeviceType.CPU]
    first = kernels if on_device else operators
    by_shape = prof.key_averages(group_by_input_shape=True)
    by_shape = [e for e in by_shape if e.device_type == DeviceType.CPU]
    return [
        f"{'kernels' if on_device else 'operators'} by own {what} time, over {calls} profiled "
        f"call(s), share of all of them:",
        header,
        *_rows(first, on_device, calls, top, shapes=False),
        f"operators by input shapes, by the {what} time of their own work:",
        header,
        *_rows(by_shape, on_device, calls, top, shapes=True),
    ]

"""pmgsam.efficiency.kernel_table (``component_times.py --kernels N``): the profiled call's
operators, counted and timed per call, and told apart by input shape."""

from __future__ import annotations

import re
from typing import List

import pytest
import torch
from cli_cases import benchmark_module

from pmgsam.efficiency.kernel_table import kernel_tables, profile_calls

CALLS = 3


def _table(lines: List[str], title: str) -> List[str]:
    """The rows under the header that follows the line starting with ``title``."""
    start = next(i for i, line in enumerate(lines) if line.startswith(title)) + 2
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("  ")), len(lines))
    return lines[start:end]


def _row(rows: List[str], pattern: str) -> List[float]:
    """count/call, ms/call and share of the first row whose name matches ``pattern``."""
    line = next(r for r in rows if re.search(pattern, r))
    return [float(v.rstrip("%")) for v in line.split()[-3:]]


@pytest.fixture(scope="module")
def tables() -> List[str]:
    # Two convolutions of different widths per call, the wider one twice: per call the
    # convolution operator runs 3 times, and by shape 1 + 2.
    torch.manual_seed(0)
    narrow, wide = torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(3, 64, 3, padding=1)
    x = torch.rand(2, 3, 40, 40)

    def step() -> None:
        with torch.no_grad():
            narrow(x)
            wide(wide.weight.new_zeros(2, 3, 40, 40) + x)
            wide(x)

    device = torch.device("cpu")
    return kernel_tables(profile_calls(step, device, CALLS), device, CALLS, top=50)


def test_operators_are_counted_and_timed_per_call(tables) -> None:
    rows = _table(tables, "operators by own CPU time")
    count, ms, share = _row(rows, r"^  aten::\w*convolution")
    # 9 convolutions over the 3 profiled calls: 3 per call (9 without the division).
    assert count == 3.0 and ms > 0
    shares = [_row([r], ".")[2] for r in rows]
    assert sum(shares) == pytest.approx(100.0, abs=0.1 * len(rows))  # every timed row listed
    assert shares == sorted(shares, reverse=True)  # largest first


def test_operators_by_input_shape_tell_the_two_convolutions_apart(tables) -> None:
    rows = _table(tables, "operators by input shapes")
    narrow = _row(rows, r"convolution.*\[\[2, 3, 40, 40\], \[4, 3, 3, 3\]")
    wide = _row(rows, r"convolution.*\[\[2, 3, 40, 40\], \[64, 3, 3, 3\]")
    assert (narrow[0], wide[0]) == (1.0, 2.0)


def test_the_script_prints_both_tables_after_the_components(capsys) -> None:
    component_times = benchmark_module("component_times")
    args = ["--model", "pmgsam_tiny", "--size", "32", "--batch", "1", "--iters", "1"]
    component_times.main(args + ["--warmup", "0", "--threads", "1", "--kernels", "4"])
    out = capsys.readouterr().out
    assert out.index("whole forward as the efficiency report") < out.index("operators by own")
    lines = out.splitlines()
    # 4 rows each, as asked.
    assert len(_table(lines, "operators by own CPU time")) == 4
    assert len(_table(lines, "operators by input shapes")) == 4


def test_no_profiled_call_is_refused() -> None:
    with pytest.raises(ValueError, match="calls must be at least 1"):
        profile_calls(lambda: None, torch.device("cpu"), 0)

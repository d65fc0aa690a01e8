"""The inference command's usage line (module docstring, shown in the docs) states the defaults
its parser uses."""

from __future__ import annotations

import re

import pmgsam.engine.inference as inference
from pmgsam.engine.inference_options import build_parser


def test_usage_line_defaults_are_the_parsers() -> None:
    usage = " ".join(inference.__doc__.split())
    stated = dict(re.findall(r"\[--(batch-size|num-workers|write-threads) (\w+)\]", usage))
    # The loader workers and writer threads depend on the device: no number is stated.
    assert stated == {"batch-size": "4", "num-workers": "N", "write-threads": "N"}
    args = build_parser().parse_args(["--checkpoint", "w", "--input", "i", "--out", "o"])
    assert (args.batch_size, args.num_workers, args.write_threads) == (4, None, None)
    assert (args.device, args.amp) == ("auto", "auto")  # [--device auto|...] [--amp auto|...]

"""rounded_to with integer buffers: ``model.half()`` converts floating tensors only, so a
U²-Net's BatchNorm ``num_batches_tracked`` (an int64 count, past float16's exact range in a
pretrained file) is recorded unrounded, and the recognition must leave it so too."""

from __future__ import annotations

import copy

import torch

from pmgsam.modeling.checkpoint import branch_digests
from pmgsam.modeling.checkpoint_rounding import rounded_to


def test_integer_buffers_are_not_rounded(small_tiny_model: torch.nn.Module) -> None:
    model = copy.deepcopy(small_tiny_model)
    names = [n for n, _ in model.u2net.named_buffers() if n.endswith("num_batches_tracked")]
    counters = [model.u2net.get_buffer(n) for n in names]
    assert counters
    with torch.no_grad():
        for counter in counters:
            counter.fill_(4097)  # float16 has no 4097: a round trip of it gives 4096
    rounded = copy.deepcopy(model).half().float()
    assert rounded.u2net.get_buffer(names[0]).item() == 4097  # as half() leaves it
    recorded = branch_digests(rounded)
    assert rounded_to(model, "u2net", recorded["u2net"]) == torch.float16

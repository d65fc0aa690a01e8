"""The U²-Net high-resolution path with the full U2NET branch (cases found by mutation testing).

Every other model test builds ``pmgsam_tiny``, whose U²-Net† gives 64 channels at every level,
so a decoder built for the wrong U²-Net levels (stride 8 and 4 swapped, or strides 2 and 4)
still runs there. With the full U2NET the levels have different widths (DESIGN.md §2: hx3d at
stride 4 has 128 channels, hx4d at stride 8 has 256), and such a decoder cannot even run.
"""

from __future__ import annotations

import pytest
import torch

import pmgsam

pytestmark = pytest.mark.usefixtures("one_thread")

SIZE = 64


def test_full_u2net_feeds_the_decoder_its_stride_4_and_8_levels(small_branches):
    torch.manual_seed(0)
    model = pmgsam.build_model("pmgsam_tiny", image_size=SIZE, u2net="u2net", high_res="both")
    decoder = model.decoder
    # The 1x1 projections read hx3d (stride 4) and hx4d (stride 8) of the official U2NET.
    assert decoder.conv_s0_u2net.in_channels == 128
    assert decoder.conv_s1_u2net.in_channels == 256
    model.eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, SIZE, SIZE))
    assert out["mask"].shape == out["pre_mask"].shape == (1, 1, SIZE, SIZE)
    assert torch.isfinite(out["mask"]).all()

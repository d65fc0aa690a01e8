"""The frozen share of the FLOPs (design budget: the trainable parts at most half the frozen
branches) holds both frozen branches, Hiera as well as U²-Net, each counted by hand."""

from __future__ import annotations

import pytest
import torch
from stand_in_models import ConvBranch

from pmgsam.efficiency import count_flops

pytestmark = pytest.mark.usefixtures("one_thread")


class _TwoBranches(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hiera = torch.nn.Conv2d(3, 2, 1, bias=False).requires_grad_(False)
        self.u2net = ConvBranch(4).requires_grad_(False)
        self.neck = torch.nn.Conv2d(6, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neck(torch.cat((self.hiera(x), self.u2net.features(x)), 1))


def test_hiera_and_u2net_flops_are_both_frozen() -> None:
    # Per image at 8×8 (64 pixels), a multiply-add = 2 FLOPs:
    # hiera 1×1 conv 3→2: 2·2·64·3 = 768; u2net 3×3 conv 3→4: 2·4·64·27 = 13824;
    # neck 1×1 conv 6→1: 2·1·64·6 = 768.
    hiera, u2net, neck = 768, 13824, 768
    flops = count_flops(_TwoBranches(), torch.rand(2, 3, 8, 8))
    assert flops["components"] == {"hiera": hiera, "u2net": u2net, "neck": neck}
    assert flops["frozen"] == hiera + u2net
    assert flops["trainable"] == neck
    assert flops["trainable_over_frozen"] == pytest.approx(neck / (hiera + u2net))

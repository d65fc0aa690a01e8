"""The edges of the U²-Net building blocks the full networks never reach: the smallest RSU the
height check admits, and a network spec with one wrong list among two."""

from __future__ import annotations

import pytest
import torch

from pmgsam.modeling.u2net import RSU, _U2NetBase

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_smallest_rsu_the_height_check_admits_is_built_and_runs():
    # RSU-2: one encoder level, the dilation-2 bottom and one decoder level, no pooling. By
    # hand from its submodules: hxin = in(x); h1 = c1(hxin); h2 = c2(h1);
    # out = c1d(cat(h2, h1)) + hxin.
    torch.manual_seed(0)
    block = RSU(2, 3, 4, 5).double().eval()
    names = [n for n, _ in block.named_children() if n.startswith("rebnconv")]
    assert names == ["rebnconvin", "rebnconv1", "rebnconv2", "rebnconv1d"]
    assert block.rebnconv2.conv_s1.dilation == (2, 2)
    assert block.rebnconv1.conv_s1.dilation == block.rebnconv1d.conv_s1.dilation == (1, 1)
    x = torch.randn(1, 3, 7, 5, dtype=torch.float64)
    with torch.no_grad():
        hxin = block.rebnconvin(x)
        h1 = block.rebnconv1(hxin)
        h2 = block.rebnconv2(h1)
        want = block.rebnconv1d(torch.cat((h2, h1), 1)) + hxin
        torch.testing.assert_close(block(x), want, rtol=0, atol=0)


@pytest.mark.parametrize("n_encoder, n_decoder", [(6, 4), (5, 5), (7, 5), (6, 6)])
def test_a_network_spec_with_either_list_the_wrong_length_is_refused(n_encoder, n_decoder):
    spec = (4, 8, 4, 8, True)
    with pytest.raises(ValueError, match="U²-Net needs 6 encoder and 5 decoder stage specs"):
        _U2NetBase([spec] * n_encoder, [spec] * n_decoder)

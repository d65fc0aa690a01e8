"""The 4-D (window-batched) Hiera attention against hiera-transformer's own MaskUnitAttention,
module by module, on batches of several different inputs (the whole-branch comparison in
test_performance_equivalence.py runs one image, where batch and window order cannot be told
apart)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from pmgsam.modeling.hiera_attention import WindowBatchedAttention, set_window_batched_attention


@pytest.mark.parametrize(
    "dim, dim_out, heads, q_stride, window_size, mask_unit, tokens",
    [
        (8, 8, 2, 1, 4, True, 48),  # mask-unit attention, 12 windows
        (8, 16, 2, 4, 4, True, 128),  # with q pooling (stride 4), 8 windows
        (16, 16, 4, 1, 16, False, 36),  # global attention
        (8, 16, 2, 4, 4, False, 64),  # global with q pooling
    ],
)
def test_window_batched_equals_mask_unit_attention(
    dim, dim_out, heads, q_stride, window_size, mask_unit, tokens
) -> None:
    from hiera.hiera import MaskUnitAttention

    torch.manual_seed(0)
    reference = MaskUnitAttention(dim, dim_out, heads, q_stride, window_size, mask_unit).eval()
    ours = copy.deepcopy(reference)
    ours.__class__ = WindowBatchedAttention
    x = torch.randn(3, tokens, dim)
    with torch.no_grad():
        expected = reference(x)
        got = ours(x)
    assert got.shape == (3, tokens // q_stride, dim_out)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_switch_counts_only_modules_it_changes() -> None:
    from hiera.hiera import MaskUnitAttention

    model = nn.Sequential(MaskUnitAttention(8, 8, 2), nn.Linear(8, 8), MaskUnitAttention(8, 8, 2))
    assert set_window_batched_attention(model, True) == 2
    assert set_window_batched_attention(model, True) == 0
    assert type(model[0]) is WindowBatchedAttention
    assert set_window_batched_attention(model, False) == 2
    assert type(model[2]) is MaskUnitAttention

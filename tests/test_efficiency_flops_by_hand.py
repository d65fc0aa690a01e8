"""FLOPs of a tiny linear + cross-attention model counted by hand (a multiply-add = 2 FLOPs,
bias adds not counted): 5 queries attend to 3 keys, so a formula that took the query length
for the key length would give another count."""

from __future__ import annotations

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from pmgsam.efficiency import count_flops

pytestmark = pytest.mark.usefixtures("one_thread")


class _CrossAttention(torch.nn.Module):
    def __init__(self, value_width: int) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(4, 4)
        self.repeats = value_width // 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, heads 2, 5 queries, 4)
        q = self.proj(x)
        k = x[:, :, :3].contiguous()  # 3 keys of width 4
        v = k.repeat(1, 1, 1, self.repeats)
        return torch.nn.functional.scaled_dot_product_attention(q, k, v)


@pytest.mark.parametrize("value_width", [4, 8])
@pytest.mark.parametrize("backend", ["default", "math"])
def test_linear_and_cross_attention_flops_by_hand(backend: str, value_width: int) -> None:
    # The default backend takes the CPU's fused kernel where the widths agree (4: the
    # custom formula counts it), the math one decomposes into matmuls that torch's counter
    # scores itself (and so does the default one for width 8): all must agree with the hand
    # count. Per image: the linear layer, 2·5 rows of 4 → 4: 2·10·4·4 = 320; per head
    # Q·Kᵀ (5×4 by 4×3) 2·5·3·4 = 120 and A·V (5×3 by 3×w) 2·5·3·w = 30·w, for 2 heads.
    linear, attention = 320, 2 * (120 + 30 * value_width)
    model, images = _CrossAttention(value_width), torch.rand(3, 2, 5, 4)
    if backend == "math":
        with sdpa_kernel(SDPBackend.MATH):
            flops = count_flops(model, images)
    else:
        flops = count_flops(model, images)
    assert flops["components"] == {"proj": linear, "other": attention}
    assert flops["total"] == linear + attention

"""FLOPs of a baseline's whole prediction (Table 1's column for the SAM rows).

Expectations come from torch's own counter run on the image encoder alone, and from how the
count must grow with the prompts: a count of the encoder only, or of one decoder pass for an
automatic mode's whole grid, breaks them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from pmgsam.baselines import sam
from pmgsam.baselines.base import AutoBaseline, BoxBaseline
from pmgsam.baselines.runner import prediction_flops
from pmgsam.efficiency import flops

SIDE = 64


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return sam.build("vit_b", SIDE).eval()


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)


def test_box_prediction_counts_the_encoder_once_and_the_decoder_per_box(model, image) -> None:
    with torch.no_grad(), FlopCounterMode(display=False) as direct:
        model.image_encoder(torch.zeros(1, 3, SIDE, SIDE))
    box = BoxBaseline("sam", "vit_b", model)
    boxes = np.array([[2, 2, 30, 30], [5, 5, 20, 40], [0, 0, 63, 47]], np.float32)
    one, three = prediction_flops(box, image, boxes[:1]), prediction_flops(box, image, boxes)
    assert one["image_encoder"] == three["image_encoder"] == direct.get_total_flops()
    decoder = one["total"] - one["image_encoder"]
    assert decoder > 0 and three["total"] - three["image_encoder"] == 3 * decoder


def test_automatic_mode_counts_every_grid_prompt(model, image) -> None:
    # A 4x4 grid decodes 16 prompts, a 2x2 grid 4: the decoder's share grows 4-fold (prompts
    # differ only in their point coordinates, so up to rounding of the per-prompt count).
    counts = {
        side: prediction_flops(
            AutoBaseline("sam", "vit_b", model, {"points_per_side": side}), image, None
        )
        for side in (2, 4)
    }
    shares = {side: c["total"] - c["image_encoder"] for side, c in counts.items()}
    assert counts[2]["image_encoder"] == counts[4]["image_encoder"] > 0
    assert shares[4] / shares[2] == pytest.approx(4.0, rel=1e-3)


def test_where_inference_mode_hides_operations_the_count_runs_under_no_grad(monkeypatch) -> None:
    # torch 2.4.1's FlopCounterMode misses linear and conv2d under inference_mode; forced here
    # so that releases without the gap check the same path.
    monkeypatch.setattr(flops, "counts_under_inference_mode", lambda: False)
    layer = torch.nn.Linear(3, 5)
    modes = []

    def call() -> torch.Tensor:
        modes.append((torch.is_grad_enabled(), torch.is_inference_mode_enabled()))
        return layer(torch.ones(4, 3))

    counts = flops.count_call_flops(call, layer)
    assert modes == [(False, False)]
    # 4 rows x 3 inputs x 5 outputs multiply-adds, 2 FLOPs each.
    assert counts == {"total": 120.0, "image_encoder": 120.0}


def test_sam2_box_prediction_counts_its_image_encoder(image) -> None:
    pytest.importorskip("sam2", reason="the optional sam2 extra is not installed")
    from pmgsam.baselines import sam2

    torch.manual_seed(0)
    model = sam2.build("tiny", 128).eval()
    # SAM2's encoder attends with 4-D scaled_dot_product_attention: the math backend makes it
    # plain matmuls, which torch's own counter counts (it scores the CPU fused kernel 0).
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as direct:
        model.image_encoder(torch.zeros(1, 3, 128, 128))
    box = BoxBaseline("sam2", "tiny", model)
    boxes = np.array([[2, 2, 30, 30], [5, 5, 20, 40], [0, 0, 63, 47]], np.float32)
    counts = [prediction_flops(box, image, boxes[:k]) for k in (1, 2, 3)]
    assert [c["image_encoder"] for c in counts] == [direct.get_total_flops()] * 3
    # SAM2 also projects the high-resolution features once per image, so each box adds the
    # same decoder pass on top of a fixed part.
    per_box = counts[1]["total"] - counts[0]["total"]
    assert per_box > 0 and counts[2]["total"] - counts[1]["total"] == per_box

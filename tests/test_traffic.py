"""pmgsam.efficiency.traffic (``benchmarks/traffic_floor.py``): bytes and FLOPs charged per
operator against hand-computed values, backward operators charged to the component that made
them, and the two floors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from cli_cases import benchmark_module
from torch import nn

from pmgsam.efficiency.flops import count_flops
from pmgsam.efficiency.traffic import (
    OTHER,
    OpTraffic,
    TrafficMode,
    count_traffic,
    fused_attention,
    summarise,
)
from pmgsam.modeling.build import build_model

META = torch.device("meta")


def _only(ops, name):
    found = [op for op in ops if op.op == name]
    assert len(found) == 1, [op.op for op in ops]
    return found[0]


def test_a_convolution_moves_its_input_weight_bias_and_output_once():
    conv = nn.Conv2d(3, 4, 3, padding=1, device=META)
    x = torch.empty(2, 3, 8, 8, device=META)
    with torch.no_grad(), TrafficMode() as mode:
        conv(x)
    op = _only(mode.ops, "convolution")
    # float32: input 2·3·8·8, weight 4·3·3·3, bias 4, output 2·4·8·8 elements.
    assert op.bytes == 4 * (384 + 108 + 4 + 512)
    # A multiply-add per output element and kernel tap: 2 · (2·4·8·8) · (3·3·3).
    assert op.flops == 2 * 512 * 27
    assert op.anchor and op.component == OTHER and not op.backward


def test_views_move_nothing_a_repeated_argument_is_read_once_in_place_reads_and_writes():
    x = torch.empty(4, 8, device=META)  # 128 bytes
    with TrafficMode() as mode:
        y = x.view(8, 4).t().relu()
        y.relu_()
        x * x
        x.t().reshape(-1)  # a copy (clone), then a view that is not marked as one
    assert [op.op for op in mode.ops] == ["relu", "relu_", "mul", "clone"]
    # relu reads 128 and writes 128; relu_ reads and writes one tensor (charged once it would
    # be 128); x * x reads x once; reshape copies once.
    assert [op.bytes for op in mode.ops] == [256, 256, 256, 256]
    assert not any(op.anchor for op in mode.ops)


def test_attention_is_charged_as_the_fused_kernel_not_the_score_matrices():
    # 256 tokens, 2 heads of 16 in bf16: q, k, v and the output are 16 KB each; one head's
    # 256 × 256 scores alone would be 128 KB (float32), which a fused kernel never writes.
    q, k, v = (torch.empty(1, 2, 256, 16, device=META, dtype=torch.bfloat16) for _ in range(3))
    io = 4 * 1 * 2 * 256 * 16 * 2
    package_attention = F.scaled_dot_product_attention
    with torch.no_grad(), fused_attention(), TrafficMode() as fused:
        F.scaled_dot_product_attention(q, k, v)
    assert F.scaled_dot_product_attention is package_attention  # put back
    op = _only(fused.ops, "_scaled_dot_product_efficient_attention")
    assert io <= op.bytes <= io + 64  # and the kernel's two int64 random-number offsets
    # Two matrix products of 2·L·L·D FLOPs per head: Q·Kᵀ and P·V.
    assert op.flops == 2 * 2 * 2 * 256 * 256 * 16
    assert op.anchor
    # What the stand-in is for: left to itself the meta device takes the math path.
    with torch.no_grad(), TrafficMode() as math:
        F.scaled_dot_product_attention(q, k, v)
    assert sum(o.bytes for o in math.ops) > 2 * 2 * 256 * 256 * 2


class _TwoConvs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1, device=META)
        self.b = nn.Conv2d(4, 4, 3, padding=1, device=META)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x) * 2)


def test_backward_operators_are_charged_to_the_component_whose_forward_made_them():
    model = _TwoConvs()
    x = torch.empty(1, 3, 8, 8, device=META)  # needs no gradient: a's backward skips it
    mode = TrafficMode()
    with mode.charge_to(model.a, "forward", "a"), mode.charge_to(model.b, "forward", "b"):
        with mode:
            model(x).sum().backward()
    backward = [(op.component, op.op) for op in mode.ops if op.backward]
    # Last entered, first left: a tracker that kept the latest module would charge both
    # convolution backwards to "b"; the glue (× 2) and the sum's backward are the top level's.
    assert ("a", "convolution_backward") in backward
    assert ("b", "convolution_backward") in backward
    assert (OTHER, "mul") in backward
    a_back = next(op for op in mode.ops if op.backward and op.component == "a")
    # Reads the output's gradient (1·4·8·8), the input (1·3·8·8) and the weight (4·3·3·3);
    # writes the weight's and the bias's gradients: no input gradient.
    assert a_back.bytes == 4 * (256 + 192 + 108 + 108 + 4)
    forward = {op.component for op in mode.ops if not op.backward and op.op == "convolution"}
    assert forward == {"a", "b"}


@pytest.fixture(scope="module")
def tiny_meta_model():
    with torch.device("meta"):
        model = build_model("pmgsam_tiny", image_size=64)
    return model


def test_a_training_step_charges_frozen_branches_no_backward_and_u2net_its_own_glue(
    tiny_meta_model,
):
    images = torch.empty(2, 3, 64, 64, device=META)
    ops = count_traffic(tiny_meta_model, images, train=True)
    backward = {op.component for op in ops if op.backward}
    assert {"fusion", "refiner", "decoder", "neck"} <= backward
    assert not backward & {"hiera", "u2net"}
    # U²-Net's decoder concatenations run in ``features``, outside every submodule's forward:
    # without the method charged to it they would land in "other".
    u2net_cats = [op for op in ops if op.component == "u2net" and op.op == "cat"]
    assert len(u2net_cats) >= 5
    assert not [op for op in ops if op.component == OTHER and op.op == "cat"]
    # The loss (outside every component) is charged to "other", forward and backward.
    assert any(op.component == OTHER and op.backward for op in ops)


def test_forward_flops_equal_flop_counter_mode_on_a_real_forward(tiny_meta_model, tiny_model):
    real = tiny_model.eval()  # pmgsam_tiny at 64 px, as the meta one
    images = torch.rand(2, 3, 64, 64)
    expected = count_flops(real, images)["total"]  # per image, FlopCounterMode on the CPU
    ops = count_traffic(tiny_meta_model, torch.empty(2, 3, 64, 64, device=META), train=False)
    assert sum(op.flops for op in ops) / 2 == pytest.approx(expected, rel=1e-9)


def test_each_operator_is_held_to_its_own_roofline():
    ops = [
        OpTraffic("x", False, "convolution", 2_000_000_000, 10**12),  # 2 ms of bytes, 1 of FLOPs
        OpTraffic("x", False, "relu", 4_000_000_000, 0),  # 4 ms
        OpTraffic("y", True, "convolution_backward", 0, 3 * 10**12),  # 3 ms of FLOPs
    ]
    rows = summarise(ops, bandwidth=1e12, peak=1e15, per=2)
    # max(bytes, FLOPs) per operator, not the sum of both (2 + 1 + 4 = 7 for x).
    assert rows[("x", False)]["eager_ms"] == pytest.approx((2 + 4) / 2)
    assert rows[("x", False)]["anchors_ms"] == pytest.approx(2 / 2)
    assert rows[("y", True)]["anchors_ms"] == pytest.approx(3 / 2)
    assert rows[("x", False)]["gb"] == pytest.approx(3.0) and rows[("x", False)]["ops"] == 2
    with pytest.raises(ValueError, match="positive"):
        summarise(ops, bandwidth=0, peak=1)


def test_the_script_prints_each_component_and_the_floors(capsys):
    script = benchmark_module("traffic_floor")
    out = script.main(
        ["--model", "pmgsam_tiny", "--size", "64", "--batch", "2", "--train"]
        + ["--bandwidth", "1", "--peak", "100", "--measured-ms", "5"]
    )
    printed = capsys.readouterr().out
    rows = out["rows"]
    assert out["eager_ms"] == pytest.approx(sum(r["eager_ms"] for r in rows.values()))
    assert ("optimizer", False) in rows and ("fusion", True) in rows
    for line in ("fusion backward", "clipping + AdamW", "total"):
        assert line in printed
    ratio = f"measured 5 ms is {5 / out['eager_ms']:.1f}x"
    assert ratio in printed
    assert "bandwidth=1 TB/s peak=100 TFLOP/s" in printed


def test_folded_batchnorms_leave_the_u2net_forward_without_its_batchnorm_passes():
    from pmgsam.engine.performance import prepare_model
    from pmgsam.engine.performance_config import PerformanceConfig

    images = torch.empty(1, 3, 64, 64, device=META)
    charged = {}
    for fold in (False, True):
        with torch.device("meta"):
            model = build_model("pmgsam_tiny", image_size=64)
        prepare_model(model, PerformanceConfig(fold_frozen_batchnorm=fold))
        ops = [op for op in count_traffic(model, images, train=False) if op.component == "u2net"]
        charged[fold] = ops
    norms = [op for op in charged[False] if "batch_norm" in op.op]
    assert len(norms) == len([op for op in charged[False] if op.op == "convolution"])
    assert not [op for op in charged[True] if "batch_norm" in op.op]
    # One pass fewer per unit: the folded branch moves the unfolded one's bytes less its norms'.
    moved = {fold: sum(op.bytes for op in ops) for fold, ops in charged.items()}
    assert moved[True] == moved[False] - sum(op.bytes for op in norms)

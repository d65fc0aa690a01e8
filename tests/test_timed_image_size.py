"""The image a baseline row was timed on, as the efficiency table's note names it: width x
height like every other size pmgsam prints (the synthetic data's --size, the mask-size errors).
The report records the image's array shape, (H, W): printed as it was, a 79 px wide, 97 px high
image read as 97 wide."""

from __future__ import annotations

from pmgsam.evaluation.run_efficiency import timing_conditions


def test_timed_image_is_named_width_by_height() -> None:
    report = {"device": "cpu", "dtype": "fp32", "image_size": 64, "batch": 1}
    report["timed_image_size"] = [97, 79]  # shape[:2] of a 79 px wide, 97 px high image
    assert timing_conditions(report) == "cpu, fp32, S=64, image 79x97 (WxH), batch 1"

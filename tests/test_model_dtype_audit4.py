"""PMG-SAM's image dtype rule under autocast: autocast never casts float64, so float64 images
are refused by name there too (else the first convolution fails naming no input)."""

from __future__ import annotations

import pytest
import torch

S = 64


def test_float64_images_are_refused_under_autocast(seed0_tiny) -> None:
    model = seed0_tiny()
    images = torch.rand(1, 3, S, S, dtype=torch.float64)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        with pytest.raises(ValueError, match=r"images are torch.float64 but the model's weights"):
            model(images)

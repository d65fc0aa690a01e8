"""A state dict that does not fit says which key is missing, which is unexpected, and which
side of a shape mismatch is the file's: each under its own heading, never the other's."""

from __future__ import annotations

import pytest
import torch

from pmgsam.modeling.weights import CheckpointError, check_state_dict


def test_each_problem_is_listed_under_its_own_heading_with_the_files_shape_first() -> None:
    model = {"a.weight": torch.zeros(2, 3), "b.bias": torch.zeros(4), "c.bias": torch.zeros(1)}
    given = {"a.weight": torch.zeros(3, 2), "c.bias": torch.zeros(1), "d.bias": torch.zeros(5)}
    with pytest.raises(CheckpointError) as info:
        check_state_dict(model, given, source="f.pth", hint="try g")
    # b.bias is in the model only, d.bias in the file only, a.weight is (3, 2) in the file.
    assert str(info.value) == (
        "checkpoint 'f.pth' does not fit the model; missing keys (1): b.bias; "
        "unexpected keys (1): d.bias; shape mismatches (1): a.weight: checkpoint (3, 2) vs "
        "model (2, 3); try g"
    )


def test_a_fitting_state_dict_passes() -> None:
    model = {"a.weight": torch.zeros(2, 3)}
    check_state_dict(model, {"a.weight": torch.ones(2, 3)}, source="f.pth", hint="try g")


def test_a_value_that_is_no_tensor_is_named_with_its_type() -> None:
    # A list under a weight's key stopped with "'list' object has no attribute 'shape'",
    # naming neither the file nor the key.
    model = {"a.weight": torch.zeros(2), "b.bias": torch.zeros(1)}
    # b.bias has the model's element count in another shape (a numel or ndim comparison
    # would let it through).
    given = {"a.weight": [0.0, 1.0], "b.bias": torch.zeros(1, 1)}
    with pytest.raises(CheckpointError) as info:
        check_state_dict(model, given, source="f.pth")
    assert str(info.value) == (
        "checkpoint 'f.pth' does not fit the model; values that are not tensors (1): "
        "a.weight (list); shape mismatches (1): b.bias: checkpoint (1, 1) vs model (1,)"
    )

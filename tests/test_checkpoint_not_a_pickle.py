"""A file that is no torch.save output at all (an HTML error page saved by a failed download, a
text file) is named as not a PyTorch checkpoint: torch's weights-only unpickler rejects its first
byte as an "unsupported operand", which was reported as a pickle holding Python objects."""

from __future__ import annotations

import pickle
from collections import OrderedDict

import pytest
import torch

from pmgsam.modeling.checkpoint_files import CheckpointError, safe_torch_load


@pytest.mark.parametrize("content", [b"x\n", b"<html><body>404</body></html>", b"\x01\x02"])
def test_a_file_that_is_no_pickle_is_not_called_unsafe(tmp_path, content) -> None:
    path = tmp_path / "sam_vit_b.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as err:
        safe_torch_load(path)
    assert "not a PyTorch checkpoint, or a damaged one" in str(err.value)
    assert "pickled Python objects" not in str(err.value)


@pytest.mark.parametrize("zipped", [True, False])
def test_a_pickle_holding_an_object_is_still_unsafe(tmp_path, zipped) -> None:
    path = tmp_path / "with_object.pth"
    state = {"w": torch.zeros(2), "args": pickle.PickleError("not a tensor")}
    torch.save(state, path, _use_new_zipfile_serialization=zipped)
    with pytest.raises(CheckpointError, match="pickled Python objects beyond tensors"):
        safe_torch_load(path)
    plain = tmp_path / "plain.pth"
    torch.save(OrderedDict(w=torch.ones(2)), plain, _use_new_zipfile_serialization=zipped)
    assert torch.equal(safe_torch_load(plain)["w"], torch.ones(2))

"""Why a checkpoint's frozen-branch SHA-256 may not match a reload: rounded when saved.

pmgsam versions before save_model refused it saved models converted to float16 or bfloat16 and
back (``model.half().float()``): the frozen-branch digests they recorded are of rounded weights,
which load_pretrained never rebuilds from the branch's file or seed. Such a digest equals the
digest of the rebuilt branch rounded the same way (SHA-256: no other weights give it), which
tells that case apart for sure from another file or another initialisation.
"""

from __future__ import annotations

import hashlib
from typing import Optional

import torch

ROUNDINGS = (torch.float16, torch.bfloat16)


def rounded_digest(model: torch.nn.Module, branch: str, dtype: Optional[torch.dtype]) -> str:
    """The SHA-256 that ``model.frozen_digest((branch,))`` gives once the model has been
    converted to ``dtype`` and back to its own dtypes (``None``: as it is)."""
    digest = hashlib.sha256()
    prefix = f"{branch}."
    for name, tensor in sorted(model.state_dict().items()):
        if not name.startswith(prefix):
            continue
        values = tensor.detach().cpu().contiguous().reshape(-1)
        if dtype is not None and values.is_floating_point():  # as Module.to/half convert
            values = values.to(dtype).to(tensor.dtype)
        digest.update(f"{name}:{values.dtype}:{tuple(tensor.shape)}\n".encode())
        digest.update(values.view(torch.uint8).numpy())
    return digest.hexdigest()


def rounded_to(model: torch.nn.Module, branch: str, recorded: str) -> Optional[torch.dtype]:
    """The 16-bit format (float16, bfloat16) whose round trip turns ``model``'s ``branch``
    into the weights whose SHA-256 a checkpoint ``recorded``; None when neither does (other
    weights: another file, another initialisation). Call it only where the digests differ:
    it hashes the branch twice."""
    for dtype in ROUNDINGS:
        if rounded_digest(model, branch, dtype) == recorded:
            return dtype
    return None

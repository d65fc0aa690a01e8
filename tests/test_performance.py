"""Speed options change how things are computed, never what: each is checked against a reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pmgsam.modeling.image_encoder import HIERA_SPECS, HieraBranch


def _package_hiera(size: int):
    """hiera-transformer's own model (its own attention forward) at input side ``size``."""
    import hiera

    embed_dim, heads, stages = HIERA_SPECS["tiny"]
    return hiera.Hiera(
        input_size=(size, size), embed_dim=embed_dim, num_heads=heads, stages=stages
    ).eval()


@pytest.mark.parametrize("size", [224, 256])
def test_window_batched_hiera_equals_package_forward(size, tmp_path):
    torch.manual_seed(3)
    # Weights as published (224 px); at 256 the branch interpolates the position embedding.
    source = _package_hiera(224)
    path = tmp_path / "hiera_tiny_224.pth"
    torch.save({"model_state": source.state_dict()}, path)
    branch = HieraBranch("tiny", size)
    branch.load_checkpoint(path)
    reference = _package_hiera(size)
    reference.load_state_dict(branch.trunk.state_dict(), strict=False)

    attns = [blk.attn for blk in branch.trunk.blocks]
    assert all(type(a).__name__ == "WindowBatchedAttention" for a in attns)
    tokens = (size // 4) ** 2
    # Both kinds of stage are exercised: several mask-unit windows, and global attention.
    assert any(a.use_mask_unit_attn and tokens // (a.q_stride * a.window_size) > 1 for a in attns)
    assert any(not a.use_mask_unit_attn for a in attns)

    ranks = []
    sdpa = F.scaled_dot_product_attention

    def recording_sdpa(q, k, v, *args, **kwargs):
        ranks.append(q.dim())
        return sdpa(q, k, v, *args, **kwargs)

    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        _, expected = reference(x, return_intermediates=True)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(F, "scaled_dot_product_attention", recording_sdpa)
            ours = branch(x)
    assert ranks == [4] * len(attns)
    for got, want in zip(ours, expected):
        torch.testing.assert_close(got, want.permute(0, 3, 1, 2), atol=1e-5, rtol=1e-5)

    # Switched back to the package's forward, the branch gives the reference exactly.
    branch.set_window_batched_attention(False)
    assert all(type(a).__name__ == "MaskUnitAttention" for a in attns)
    with torch.no_grad():
        plain = branch(x)
    for got, want in zip(plain, expected):
        torch.testing.assert_close(got, want.permute(0, 3, 1, 2), atol=0, rtol=0)

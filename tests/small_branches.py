"""Small frozen branches for tests whose property does not depend on the branches' size.

A module of its own (not only conftest fixtures) so that subprocess scripts and module-scoped
set-ups can apply the same patch.
"""

from __future__ import annotations

import functools

import pytest

# Hiera spec of "tiny" in tests whose property does not depend on the frozen branch's size:
# one block per stage and width 32 (1 M parameters, not Hiera-T's 27 M, which take seconds to
# initialise, copy and digest).
SMALL_HIERA = (32, 1, (1, 1, 1, 1))


@functools.cache  # one class: models of two tests are of the same type
def narrow_u2netp() -> type:
    """U²-NetP's stages, heights and dilations at a quarter of its width (16 channels out, 4
    inside): its convolutions at full resolution were 80 % of a 64-px forward."""
    from pmgsam.modeling.u2net import _U2NetBase

    class NarrowU2NetP(_U2NetBase):
        feature_channels = (16,) * 6

        def __init__(self, in_ch: int = 3, out_ch: int = 1) -> None:
            encoder = [(7, in_ch, 4, 16, False)]
            encoder += [(h, 16, 4, 16, False) for h in (6, 5, 4)]
            encoder += [(4, 16, 4, 16, True)] * 2
            decoder = [(4, 32, 4, 16, True)]
            decoder += [(h, 32, 4, 16, False) for h in (4, 5, 6, 7)]
            super().__init__(encoder, decoder, out_ch)

    return NarrowU2NetP


def use_small_branches(mp: pytest.MonkeyPatch) -> None:
    """Build ``pmgsam_tiny`` with :data:`SMALL_HIERA` and a quarter-width U²-NetP while ``mp``
    holds (tests whose property does not depend on the frozen branches' size)."""
    from pmgsam.modeling import image_encoder, u2net

    mp.setitem(image_encoder.HIERA_SPECS, "tiny", SMALL_HIERA)
    mp.setitem(u2net.U2NET_CLASSES, "u2netp", narrow_u2netp())

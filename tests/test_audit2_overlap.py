"""Audit of overlap.scoring_settings: a run.json protocol it cannot score with is refused."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pmgsam.analysis.overlap import scoring_settings
from pmgsam.utils.config import ConfigError


def _args(**given):
    values = {"protocol": None, "threshold": None, "min_area": None}
    return SimpleNamespace(run="runs/r", name="COD10K", **{**values, **given})


def test_an_unknown_recorded_protocol_is_refused_not_passed_on() -> None:
    # Another tool's run.json may say "standard": neither of the two protocols this scorer
    # knows, so the subset's AP could not be scored as the full set's was.
    with pytest.raises(ConfigError, match="unknown COS protocol 'standard'"):
        scoring_settings(_args(), {"protocol": "standard", "threshold": 0.5, "min_area": 0})
    # The recorded one is taken where none is given, the default where none is recorded.
    got = scoring_settings(_args(), {"protocol": "matched", "threshold": 0.3})
    assert got == {"protocol": "matched", "threshold": 0.3, "min_area": 0}

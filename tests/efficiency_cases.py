"""The efficiency command line stopped where its report would be measured, so a test reads what
it hands over (the speed options, the model, the counts) without timing anything."""

from __future__ import annotations

import inspect
from typing import Any, Dict, List

import pmgsam.efficiency.report as report_mod


class Reached(Exception):
    """Raised where the report would be measured."""


def stop_at_report(monkeypatch) -> List[Dict[str, Any]]:
    """Replace ``efficiency_report`` by one that records its arguments by name (positional
    ones too, bound to the real function's signature) and raises :class:`Reached`; returns
    the list the calls' arguments go to."""
    calls: List[Dict[str, Any]] = []
    signature = inspect.signature(report_mod.efficiency_report)

    def stop(*args: Any, **kwargs: Any) -> None:
        calls.append(dict(signature.bind(*args, **kwargs).arguments))
        raise Reached

    monkeypatch.setattr(report_mod, "efficiency_report", stop)
    return calls

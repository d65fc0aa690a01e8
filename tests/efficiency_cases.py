"""The efficiency command line stopped where its report would be measured, so a test reads what
it hands over (the speed options, the model, the counts) without timing anything."""

from __future__ import annotations

from typing import Any, Dict, List

import pmgsam.efficiency.report as report_mod


class Reached(Exception):
    """Raised where the report would be measured."""


def stop_at_report(monkeypatch) -> List[Dict[str, Any]]:
    """Replace ``efficiency_report`` by one that records its keyword arguments and raises
    :class:`Reached`; returns the list the calls' arguments go to."""
    calls: List[Dict[str, Any]] = []

    def stop(*args: Any, **kwargs: Any) -> None:
        calls.append(kwargs)
        raise Reached

    monkeypatch.setattr(report_mod, "efficiency_report", stop)
    return calls

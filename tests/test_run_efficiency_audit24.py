"""run.json's efficiency section (pmgsam.evaluation.run_efficiency) from a report that lacks a
part, and the compile mode named only when not torch's default.

Expectations from the module's documented rules: a part the report lacks gives no keys (an
earlier timing's figures stay when merged), and ``compiled (regional)`` for the default mode.
"""

from __future__ import annotations

from pmgsam.evaluation.run_efficiency import efficiency_from_report, timing_conditions


def test_a_report_without_a_timing_gives_no_timing_keys() -> None:
    # A baseline run with --speed-iters 0: parameters only, so no threads (None would replace
    # the thread count of an earlier CPU timing) and no timed_on.
    out = efficiency_from_report({"params": {"total": 2_000_000, "trainable": 500_000}})
    assert out == {"params_total_M": 2.0, "params_trainable_M": 0.5}


def test_the_default_compile_mode_is_not_named() -> None:
    report = {"device": "cuda", "compile": "regional"}
    for mode in ("default", None):
        assert timing_conditions({**report, "compile_mode": mode}) == "cuda, compiled (regional)"
    tuned = timing_conditions({**report, "compile_mode": "max-autotune"})
    assert tuned == "cuda, compiled (regional, max-autotune)"

"""evaluate.py's --matched-only is --protocol matched (its help says so)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("flag", [["--matched-only"], ["--protocol", "matched"]])
def test_matched_only_scores_with_the_matched_protocol(flag, monkeypatch) -> None:
    # Dropped on the way, the scores would be standard COCO's "all" (lower) under the
    # paper's "matched" label the user asked for.
    import evaluate

    seen = []
    monkeypatch.setattr(evaluate, "score_cos", lambda args: seen.append(args.protocol))
    evaluate.main(["--task", "cos", "--pred-dir", "p", "--gt-json", "g", "--out", "o", *flag])
    assert seen == ["matched"]

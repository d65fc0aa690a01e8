"""evaluate.py's --matched-only is --protocol matched (its help says so), contradicts
--protocol all, and is refused by its own name where it is not used."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("flag", [["--matched-only"], ["--protocol", "matched"]])
def test_matched_only_scores_with_the_matched_protocol(flag, monkeypatch) -> None:
    # Dropped on the way, the scores would be standard COCO's "all" (lower) under the
    # paper's "matched" label the user asked for.
    import evaluate

    seen = []
    monkeypatch.setattr("pmgsam.evaluate.score_cos", lambda args: seen.append(args.protocol))
    evaluate.main(["--task", "cos", "--pred-dir", "p", "--gt-json", "g", "--out", "o", *flag])
    assert seen == ["matched"]


@pytest.mark.parametrize("order", [0, 1])
def test_matched_only_with_protocol_all_is_refused_in_either_order(order, monkeypatch, capsys):
    # --protocol all's value is also the default: without noting that it was given, the
    # --matched-only beside it won in either order and "all" was silently not what was scored.
    import evaluate

    monkeypatch.setattr("pmgsam.evaluate.score_cos", lambda args: pytest.fail("scored anyway"))
    flags = [["--matched-only"], ["--protocol", "all"]]
    argv = ["--task", "cos", "--pred-dir", "p", "--gt-json", "g", "--out", "o"]
    with pytest.raises(SystemExit) as exit_:
        evaluate.main(argv + flags[order] + flags[1 - order])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].endswith(
        "error: --matched-only contradicts --protocol all: give one of them"
    )


@pytest.mark.parametrize(
    "argv, mode",
    [
        (["--pred-dir", "p", "--gt-dir", "g", "--out", "o"], "DIS scoring"),
        (["--baseline", "sam-box", "--model-type", "vit_b"], "baseline mode (--baseline)"),
    ],
)
def test_matched_only_where_unused_is_the_one_option_named(argv, mode, monkeypatch, capsys):
    # --matched-only sets the protocol for COS scoring; where it is refused, the message named
    # a --protocol the user never gave beside it.
    import evaluate

    monkeypatch.setattr("pmgsam.evaluate.score_dis", lambda args: pytest.fail("scored anyway"))
    with pytest.raises(SystemExit) as exit_:
        evaluate.main([*argv, "--matched-only"])
    assert exit_.value.code == 2
    line = capsys.readouterr().err.splitlines()[-1]
    assert line.endswith(f"error: --matched-only is not used by {mode} and would be ignored")

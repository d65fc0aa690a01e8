"""evaluate.py refuses a scoring --out whose suffix says another format than the JSON written
there (``--out m.csv`` held JSON), and a blank --method, which named a table row with nothing;
both before anything is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmgsam.utils.cli import exit_status

DEMO = str(Path(__file__).resolve().parents[1] / "configs" / "demo.yaml")


@pytest.fixture
def scored(monkeypatch):
    """The --out each scoring mode was started with (nothing is scored)."""

    outs = []
    for mode in ("score_dis", "score_cos"):
        monkeypatch.setattr(f"pmgsam.evaluate.{mode}", lambda args: outs.append(args.out))
    return outs


def _scoring(task: str, out: str) -> list:
    truth = ["--gt-dir", "g"] if task == "dis" else ["--task", "cos", "--gt-json", "g.json"]
    return [*truth, "--pred-dir", "p", "--out", out]


@pytest.mark.parametrize("task", ["dis", "cos"])
@pytest.mark.parametrize("out", ["m.csv", "scores/ap.txt", "m.json.bak"])
def test_an_out_of_another_format_is_refused(scored, capsys, task, out) -> None:
    import evaluate

    assert exit_status(evaluate.main, _scoring(task, out), "evaluate.py") == 2
    suffix = Path(out).suffix
    assert f"--out '{out}': the scores are written as JSON, not {suffix}" in capsys.readouterr().err
    assert scored == []


@pytest.mark.parametrize("task", ["dis", "cos"])
def test_a_json_out_or_one_without_suffix_is_scored(scored, task) -> None:
    import evaluate

    for out in ("m.json", "M.JSON", "scores"):
        assert exit_status(evaluate.main, _scoring(task, out), "evaluate.py") == 0
    assert scored == ["m.json", "M.JSON", "scores"]


@pytest.mark.parametrize("blank", ["", "   "])
@pytest.mark.parametrize(
    "mode",
    [
        ["--config", DEMO, "--checkpoint", "c"],
        ["--baseline", "sam-box", "--model-type", "vit_b", "--checkpoint", "c"],
    ],  # fmt: skip
)
def test_a_blank_method_is_refused(monkeypatch, capsys, blank, mode) -> None:
    import evaluate
    from pmgsam.evaluation import benchmark

    monkeypatch.setattr(benchmark, "run_benchmark", lambda args: pytest.fail("ran anyway"))
    monkeypatch.setattr("pmgsam.baselines.cli.run", lambda args: pytest.fail("ran anyway"))
    assert exit_status(evaluate.main, [*mode, "--method", blank], "evaluate.py") == 2
    err = capsys.readouterr().err
    assert f"--method is {'blank' if blank else 'empty'}" in err


@pytest.mark.parametrize("task", ["dis", "cos"])
def test_the_refusal_of_another_format_suggests_the_json_name(scored, capsys, task) -> None:
    import evaluate

    assert exit_status(evaluate.main, _scoring(task, "runs/m.csv"), "evaluate.py") == 2
    assert "give a .json file, e.g. 'runs/m.json'" in capsys.readouterr().err


def test_an_out_named_as_a_skeleton_is_refused_as_an_input_first(scored, tmp_path, capsys) -> None:
    # --ske-dir is read too: a skeleton's name there is the mistake, not its .png suffix.
    import evaluate

    ske = tmp_path / "ske"
    ske.mkdir()
    argv = [*_scoring("dis", str(ske / "a.png")), "--ske-dir", str(ske)]
    assert exit_status(evaluate.main, argv, "evaluate.py") == 2
    err = capsys.readouterr().err
    assert f"lies inside the input folder '{ske}'" in err and "written as JSON" not in err
    assert scored == []


@pytest.mark.parametrize("task", ["dis", "cos"])
def test_an_existing_folder_given_without_a_separator_is_refused(
    scored, tmp_path, capsys, task
) -> None:
    # Without a trailing '/' it was taken for a file: the write failed late ("Is a directory").
    import evaluate

    folder = tmp_path / "scores"
    folder.mkdir()
    assert exit_status(evaluate.main, _scoring(task, str(folder)), "evaluate.py") == 2
    example = "metrics.json" if task == "dis" else "ap.json"
    err = capsys.readouterr().err
    assert f"--out '{folder}' names a folder" in err and f"'{folder / example}'" in err, err
    assert scored == []

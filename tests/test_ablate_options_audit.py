"""Mutation audit of ``python -m pmgsam.ablate``'s options (:mod:`pmgsam.ablation.options`) and of
the check of a one-file JSON ``--out`` (:mod:`pmgsam.evaluation.json_out`): what no other test
pinned down. Every case is refused, or parsed, before any grid is read."""

from __future__ import annotations

from pathlib import Path

import pytest

import evaluate
import pmgsam.ablate as ablate
from pmgsam.evaluation.json_out import check_json_out
from pmgsam.evaluation.map_pairs import EvaluationInputError
from pmgsam.utils.cli import exit_status


@pytest.mark.parametrize("left_out", ["--grid", "--output-dir"])
def test_the_grid_and_the_output_folder_are_required(tmp_path: Path, capsys, left_out) -> None:
    given = {"--grid": str(tmp_path / "grid"), "--output-dir": str(tmp_path / "out")}
    argv = [v for k, path in given.items() if k != left_out for v in (k, path)]
    assert exit_status(ablate.main, [*argv, "--train"]) == 2
    err = capsys.readouterr().err
    assert "required" in err and left_out in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("option", ["--only", "--splits"])
def test_a_blank_selection_is_refused_not_read_as_the_whole_grid(
    tmp_path: Path, capsys, option
) -> None:
    # A shell's unset variable (--only "$NAMES") would otherwise mean every config, or
    # grid.yaml's test set.
    argv = ["--grid", str(tmp_path / "grid"), "--output-dir", str(tmp_path / "out"), "--train"]
    assert exit_status(ablate.main, [*argv, option, " "]) == 2
    err = capsys.readouterr().err
    assert option in err and "Traceback" not in err


def test_scoring_defaults_are_evaluate_pys_benchmark_ones() -> None:
    # A variant scored by pmgsam.ablate --evaluate and by evaluate.py --checkpoint NAME/train
    # runs the same way unless told otherwise.
    args = ablate.build_parser().parse_args(["--grid", "g", "--output-dir", "o"])
    bench = evaluate.build_parser().parse_args(["--config", "c"])
    assert (args.device, args.batch_size, args.workers) == ("auto", bench.batch_size, 1)
    assert args.no_hce is False and args.evaluate is False


@pytest.mark.parametrize("out", ["new_folder/", "results/scores/"])
def test_a_json_out_ending_in_a_separator_names_a_folder_even_before_it_exists(
    tmp_path: Path, monkeypatch, out: str
) -> None:
    # Path() drops the separator: 'new_folder' would be written as a file of the folder's name.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(EvaluationInputError, match="names a folder") as info:
        check_json_out(out, "metrics.json", "the file", "written as JSON")
    assert str(Path(out) / "metrics.json") in str(info.value)
    assert not any(tmp_path.iterdir())

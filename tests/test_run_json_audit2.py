"""pmgsam.evaluation.run_json on what pmgsam.ablate's variant folders brought (a recorded
checkpoint that is a training run folder, given back as its weights file or by a relative
path), and load_runs' hints for a variant's training run given as "." and for a folder of run
folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pmgsam.data.io import DataNotFoundError
from pmgsam.evaluation.run_json import check_same_model, load_runs
from pmgsam.evaluation.scoring import EvaluationInputError

BEST = Path("checkpoints", "best", "model.safetensors")


def _training_run(folder: Path, content: bytes = b"weights") -> Path:
    (folder / BEST).parent.mkdir(parents=True)
    (folder / BEST).write_bytes(content)
    (folder / "config.yaml").write_text("{}\n")
    (folder / "train.log").write_text("")
    return folder


def _run_json(run: Path, meta: dict) -> None:
    run.mkdir(parents=True, exist_ok=True)
    dis = {"DIS-TE1": {"num_images": 1, "maxFm": 0.5}}
    (run / "run.json").write_text(json.dumps({"method": run.name, "dis": dis, "meta": meta}))


def test_a_recorded_training_run_folder_is_its_weights_file(tmp_path) -> None:
    run = tmp_path / "k1"
    train = _training_run(run / "train")
    _run_json(run, {"checkpoint": str(train)})
    check_same_model(run, train / BEST)  # the file the folder loads
    other = _training_run(tmp_path / "other")
    with pytest.raises(EvaluationInputError, match="holds the results of checkpoint"):
        check_same_model(run, other / BEST)


def test_a_relative_checkpoint_is_compared_resolved(tmp_path, monkeypatch) -> None:
    run = tmp_path / "k1"
    train = _training_run(run / "train")
    _run_json(run, {"checkpoint": str(train / BEST)})
    monkeypatch.chdir(run)
    check_same_model(run, "train")


def test_a_variants_training_run_given_as_dot_names_the_variant(tmp_path, monkeypatch) -> None:
    run = tmp_path / "k1"
    _training_run(run / "train")
    _run_json(run, {"checkpoint": "train"})
    monkeypatch.chdir(run / "train")
    # Path(".").parent is "." again: the message named the training run as the variant.
    with pytest.raises(DataNotFoundError, match=rf"training run of '{run.resolve()}', holding"):
        load_runs(["."])


@pytest.mark.parametrize("table", [True, False])
def test_a_folder_of_run_folders_names_a_path_to_give(tmp_path, table) -> None:
    out = tmp_path / "ablation"
    for name in ("k2", "k1"):
        _run_json(out / name, {"ablates": []})
    (out / "notes").mkdir()  # a folder without run.json is not named
    if table:
        (out / "ablation.md").write_text("| |\n")
    with pytest.raises(DataNotFoundError) as err:
        load_runs([out])
    message = str(err.value)
    assert f"holds 2 run folder(s) (k1, k2): give those, e.g. '{out / 'k1'}'" in message
    assert ("ablation table, ablation.md" in message) is table


def test_an_unreadable_folder_given_as_a_run_gets_the_no_run_json_error(tmp_path, deny_listing):
    folder = tmp_path / "locked"
    folder.mkdir()
    deny_listing(folder)
    with pytest.raises(DataNotFoundError, match="no run.json in"):
        load_runs([folder])

"""evaluate.py's scoring and benchmark modes name every argument they need that is missing, and
refuse config overrides without the --config they would change, before anything is read or
written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import pytest
from mask_cases import coco_dict

DEMO = str(Path(__file__).resolve().parents[1] / "configs" / "demo.yaml")


def usage_error(argv: List[str], monkeypatch, capsys) -> str:
    """The last stderr line of ``evaluate.main(argv)``, which must be a usage error (exit 2)
    reached before any mode runs."""
    import evaluate
    from pmgsam.evaluation import benchmark

    for mode in ("score_dis", "score_cos"):
        monkeypatch.setattr(f"pmgsam.evaluate.{mode}", lambda args: pytest.fail("scored anyway"))
    monkeypatch.setattr(benchmark, "run_benchmark", lambda args: pytest.fail("ran anyway"))
    with pytest.raises(SystemExit) as exit_:
        evaluate.main(argv)
    assert exit_.value.code == 2
    return capsys.readouterr().err.splitlines()[-1]


# An empty --pred-dir is refused as such by the parser (test_empty_values.py).
@pytest.mark.parametrize(
    "argv, missing",
    [
        (["--gt-dir", "g"], "--pred-dir and --out are required in DIS scoring"),
        (["--task", "cos", "--pred-dir", "p", "--out", "o"], "--gt-json is required in COS "),
        (["--config", DEMO, "--splits", "DIS-TE1"], "--checkpoint is required in benchmark mode"),
    ],
)
def test_a_scoring_mode_names_each_missing_argument(argv, missing, monkeypatch, capsys) -> None:
    line = usage_error(argv, monkeypatch, capsys)
    assert f"error: {missing}" in line


def test_overrides_without_a_config_are_refused(monkeypatch, capsys) -> None:
    argv = ["--pred-dir", "p", "--gt-dir", "g", "--out", "o", "data.root=x"]
    line = usage_error(argv, monkeypatch, capsys)
    assert line.endswith(
        "error: unexpected arguments: data.root=x (key=value overrides need --config)"
    )


def test_a_checkpoint_without_config_asks_for_the_config(monkeypatch, capsys) -> None:
    # It used to be refused as an option DIS scoring ignores, naming no --config.
    line = usage_error(["--checkpoint", "runs/x", "--splits", "DIS-VD"], monkeypatch, capsys)
    assert "--checkpoint is scored in benchmark mode, which also needs --config" in line
    # Beside --pred-dir it is the scoring mode's stray option, as before.
    line = usage_error(["--pred-dir", "p", "--checkpoint", "c"], monkeypatch, capsys)
    assert line.endswith("error: --checkpoint is not used by DIS scoring and would be ignored")


@pytest.mark.parametrize("task, truth", [("dis", "--gt-dir"), ("cos", "--gt-json")])
def test_an_out_ending_in_a_separator_is_refused_as_a_folder(tmp_path: Path, task, truth) -> None:
    import numpy as np
    from PIL import Image

    import evaluate
    from pmgsam.evaluation.scoring import EvaluationInputError

    folder = tmp_path / "maps"
    folder.mkdir()
    mask = np.zeros((8, 8), np.uint8)
    mask[2:6, 2:6] = 255
    Image.fromarray(mask).save(folder / "a.png")
    ann = {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 16.0,
           "bbox": [2, 2, 4, 4], "segmentation": [[2, 2, 6, 2, 6, 6, 2, 6]]}  # fmt: skip
    (tmp_path / "gt.json").write_text(json.dumps(coco_dict((8, 8), [ann])))
    truth_path = folder if task == "dis" else tmp_path / "gt.json"
    out = f"{tmp_path / 'scores'}/"  # as inference's --out pred/ is typed
    argv = ["--task", task, "--pred-dir", str(folder), truth, str(truth_path), "--out", out]
    with pytest.raises(EvaluationInputError, match="names a folder; give the path of the file"):
        evaluate.main(argv + ["--quiet"])
    # It used to write the scores to a file named 'scores' beside the folder meant.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gt.json", "maps"]

"""A ``pmgsam.ablate`` variant's run.json is a table row (``python -m pmgsam.report`` takes the
variant's folder), and a later call with other ``--splits`` adds entries to it: read from
another DIS5K root (a cleaned copy whose training images are the same, so the variant's
training is no obstacle), the row would hold two copies of the dataset, its Overall (TE1-4)
pooled from both. So a variant's entries record their ``data_root`` as benchmark mode's do, and
such a call is refused before predicting, naming both roots."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_ablate_run_record import _copy, _stamps, scored  # noqa: F401 (the module's fixture)

from pmgsam import ablate
from pmgsam.evaluation.scoring import EvaluationInputError


def _argv(scored, out: Path, root: Path, splits: str) -> list:  # noqa: F811
    args = ["--grid", scored["grid"], "--output-dir", out, "--only", "k1", "--device", "cpu"]
    args += ["--quiet", "--no-hce", "--evaluate", "--splits", splits]
    return [str(a) for a in args] + [*scored["overrides"], f"data.root={root}"]


def test_a_variant_row_refuses_splits_of_another_data_root(
    scored,  # noqa: F811
    tmp_path,
    dis5k_root,
    small_branches,
) -> None:
    out = _copy(scored, tmp_path)
    run = out / "k1"
    entry = json.loads((run / "run.json").read_text())["dis"]["DIS-TE1-4"]
    assert entry["data_root"]["resolved"] == str(dis5k_root.resolve())
    cleaned = Path(shutil.copytree(dis5k_root, tmp_path / "cleaned" / "DIS5K"))
    mask = sorted((cleaned / "DIS-TE2" / "gt").iterdir())[0]
    pixels = np.asarray(Image.open(mask).convert("L")).copy()
    Image.fromarray(255 - pixels).save(mask)
    maps = _stamps(run)
    with pytest.raises(EvaluationInputError) as err:
        ablate.main(_argv(scored, out, cleaned, "DIS-TE2"))
    message = str(err.value)
    assert "DIS-TE1-4" in message and str(dis5k_root.resolve()) in message
    assert str(cleaned.resolve()) in message
    assert _stamps(run) == maps  # refused before predicting
    assert not (run / "metrics" / "DIS-TE2.json").exists()
    assert set(json.loads((run / "run.json").read_text())["dis"]) == {"DIS-TE1-4"}
    # From the root the row was read from, the split joins the row, recording that root.
    assert ablate.main(_argv(scored, out, dis5k_root, "DIS-TE2")) == 0
    dis = json.loads((run / "run.json").read_text())["dis"]
    assert {e["data_root"]["resolved"] for e in dis.values()} == {str(dis5k_root.resolve())}

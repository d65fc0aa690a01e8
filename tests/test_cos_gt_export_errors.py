"""``python -m pmgsam.evaluation.export_cos_gt``'s errors for instance maps it cannot use.

The command has no ``--keep-going``: its error for an unreadable instance map must not send the
user to an option it lacks (evaluate.py's, whose own error does offer it). A wrong or half-filled
instance folder is named with how many images have no map and which, not one image per run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cos_cases import evaluate, small_nc4k

from pmgsam.data import DataError
from pmgsam.data.errors import DataNotFoundError
from pmgsam.evaluation import export_cos_gt


@pytest.fixture
def nc4k(tmp_path: Path, small_model_file):
    """(config, the NC4K root, a test image's stem): six 32x24 images, three of them in the
    test split."""
    config, images = small_nc4k(tmp_path, small_model_file[1].config)
    return config, images[0].parents[1], images[0].stem


def _export(config: Path, out: Path) -> int:
    return export_cos_gt.main(["--config", str(config), "--split", "all", "--out", str(out)])


def test_an_unreadable_instance_map_is_named_without_advice_the_command_cannot_take(
    nc4k, tmp_path: Path
) -> None:
    config, root, _ = nc4k
    bad = root / "Instance" / "2.png"
    bad.write_text("not a png")
    out = tmp_path / "gt.json"
    with pytest.raises(DataError, match=r"^1 instance map\(s\) of nc4k all cannot be") as err:
        _export(config, out)
    assert str(bad) in str(err.value) and "fix or remove" in str(err.value)
    assert "keep-going" not in str(err.value) and not out.exists()


def test_evaluate_still_offers_its_keep_going(nc4k, tmp_path: Path) -> None:
    config, root, stem = nc4k
    (root / "Instance" / f"{stem}.png").write_text("not a png")
    weights = tmp_path / "model.pth"
    weights.write_bytes(b"never read")  # refused before any model loads
    with pytest.raises(DataError, match=r"fix or remove them or pass evaluate.py's --keep-going"):
        evaluate(config, weights, tmp_path / "run")


def test_every_image_without_an_instance_map_is_counted_and_the_first_named(
    nc4k, tmp_path: Path
) -> None:
    config, root, _ = nc4k
    for stem in ("2", "4", "5"):
        (root / "Instance" / f"{stem}.png").unlink()
    out = tmp_path / "gt.json"
    with pytest.raises(DataNotFoundError) as err:
        _export(config, out)
    message = str(err.value)
    assert message.startswith("3 of the 6 image(s) of nc4k all have no instance map in ")
    assert "'2.jpg', '4.jpg', '5.jpg'" in message and not out.exists()

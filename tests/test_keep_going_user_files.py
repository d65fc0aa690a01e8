"""``--keep-going`` and files of the failed image's name in an output folder: a map this tool
wrote there in an earlier run is removed (it would pass for a map of this run), but a file the
tool did not write (a user's, in a folder taken with ``--overwrite``) is never removed, whether
its image was left out before predicting (an unreadable instance map) or failed while
predicting (a truncated image); the error and the manifest name the skipped image."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, List, Tuple

import pytest
import torch
from cos_cases import evaluate, small_nc4k
from mask_cases import BoxPredictor

from pmgsam.baselines import sam as sam_family
from pmgsam.engine import inference
from pmgsam.engine.unreadable import UnreadableInputs
from pmgsam.utils.outputs import read_manifest

BASELINE = ["--baseline", "sam-box", "--model-type", "vit_b", "--speed-iters", "0"]

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def nc4k(tmp_path: Path, small_model_file, monkeypatch) -> Tuple[Path, List[Path]]:
    """(config, the test split's image files): NC4K with three 32x24 test images, predicted
    by the small PMG-SAM (benchmark mode) or a SAM stand-in answering each box with itself."""
    model = small_model_file[1]
    monkeypatch.setattr(inference, "load_pretrained", lambda p, **kw: copy.deepcopy(model))
    monkeypatch.setattr(sam_family, "load", lambda *a, **kw: torch.nn.Linear(2, 2))
    monkeypatch.setattr(sam_family, "predictor", lambda model: BoxPredictor())
    return small_nc4k(tmp_path, model.config)


def break_instance_map(image: Path) -> None:
    (image.parents[1] / "Instance" / f"{image.stem}.png").write_text("not a png")


def truncate(image: Path) -> None:
    data = image.read_bytes()
    image.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("mode", [[], BASELINE], ids=["benchmark", "baseline"])
@pytest.mark.parametrize("damage", [break_instance_map, truncate], ids=["instance-map", "image"])
def test_a_users_file_of_a_skipped_images_name_is_kept(
    nc4k, small_model_file, tmp_path: Path, damage: Any, mode: list
) -> None:
    config, images = nc4k
    damage(images[1])
    run = tmp_path / "run"
    pred = run / "pred" / "test"
    pred.mkdir(parents=True)
    users = pred / f"{images[1].stem}.png"
    users.write_bytes(b"the user's own file")
    with pytest.raises(UnreadableInputs) as err:
        evaluate(config, small_model_file[0], run, "--keep-going", "--overwrite", *mode)
    assert list(err.value.failed) == [f"test/{images[1].stem}"]
    assert users.read_bytes() == b"the user's own file"
    manifest = read_manifest(pred)
    assert list(manifest["failed"]) == [images[1].stem]
    # Not vouched for as a map: a later --skip-existing must not keep it.
    assert users.name not in manifest["files"] and users.name not in manifest["sources"]
    maps = [f"{p.stem}.png" for p in (images[0], images[2])]
    assert sorted(n for n in manifest["files"] if n.endswith(".png")) == sorted(maps)


@pytest.mark.parametrize("mode", [[], BASELINE], ids=["benchmark", "baseline"])
def test_an_earlier_runs_map_of_a_skipped_image_is_removed(
    nc4k, small_model_file, tmp_path: Path, mode: list
) -> None:
    config, images = nc4k
    run = tmp_path / "run"
    assert evaluate(config, small_model_file[0], run, *mode) == 0
    earlier = run / "pred" / "test" / f"{images[1].stem}.png"
    assert earlier.is_file()
    truncate(images[1])
    with pytest.raises(UnreadableInputs):
        evaluate(config, small_model_file[0], run, "--keep-going", *mode)
    assert not earlier.exists()
    assert list(read_manifest(earlier.parent)["failed"]) == [images[1].stem]

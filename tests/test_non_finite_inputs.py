"""NaN and infinities in what users hand over: float maps and images (pmgsam.data.io), arrays
for EvalTransform / resize_and_pad, probabilities saved as maps, float maps split into COS
instances and the numbers of a COCO GT file. Each is named (file, count) or refused."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mask_cases import coco_dict
from PIL import Image

from pmgsam.data.io import MaskValueWarning, load_image, load_mask, to_uint8
from pmgsam.data.transforms import EvalTransform, resize_and_pad
from pmgsam.engine.inference import ImageFolder
from pmgsam.engine.prediction_maps import NaNPredictionWarning, write_probability_png
from pmgsam.engine.predictor import Predictor
from pmgsam.evaluation.coco_gt import checked_coco_dict
from pmgsam.evaluation.instances import split_instances
from pmgsam.evaluation.scoring import EvaluationInputError, evaluate_dis_folder

NAN, INF = float("nan"), float("inf")


def _save_float(path: Path, rows: list) -> Path:
    Image.fromarray(np.array(rows, np.float32), "F").save(path)
    return path


def _read(path: Path, what: str = "prediction") -> tuple:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        arr = load_image(path) if what == "image" else load_mask(path, what, labels_01=False)
    return arr, [(w.category, str(w.message)) for w in caught]


# --- float maps and images read from files ---
def test_nan_in_a_float_map_reads_as_0_and_is_counted_in_a_warning(tmp_path: Path) -> None:
    path = _save_float(tmp_path / "broken.tif", [[0.2, NAN], [NAN, 0.6]])
    mask, caught = _read(path)
    assert mask.tolist() == [[51, 0], [0, 153]]  # 0.2 and 0.6 of 255, NaN as 0
    assert [c for c, _ in caught] == [MaskValueWarning]
    assert (
        "prediction file '" in caught[0][1]
        and "broken.tif' holds NaN in 2 of its 4" in caught[0][1]
    )


def test_an_all_nan_map_is_named_rather_than_scored_as_empty_in_silence(tmp_path: Path) -> None:
    path = _save_float(tmp_path / "failed.tif", [[NAN, NAN, NAN]])
    mask, caught = _read(path)
    assert mask.tolist() == [[0, 0, 0]]
    assert any("failed.tif' holds NaN in 3 of its 3 pixels" in m for _, m in caught)


def test_one_inf_pixel_keeps_a_probability_map_on_the_probability_scale(tmp_path: Path) -> None:
    # Its maximum was inf, so the map was read as 0-255 values: 0.6 became 1 of 255.
    path = _save_float(tmp_path / "hot.tif", [[0.2, INF, 0.6]])
    mask, caught = _read(path)
    assert mask.tolist() == [[51, 255, 153]]
    assert len(caught) == 1 and "hot.tif' holds +inf in 1 of its 3 pixels" in caught[0][1]


def test_minus_inf_is_named_once_and_not_taken_for_logits(tmp_path: Path) -> None:
    # The finite values (0.2..0.6) are probabilities: no logit warning, and no numpy overflow
    # RuntimeWarning from scaling -inf.
    path = _save_float(tmp_path / "cold.tif", [[0.2, -INF, 0.6]])
    mask, caught = _read(path)
    assert mask.tolist() == [[51, 0, 153]]
    assert len(caught) == 1 and caught[0][0] is MaskValueWarning
    assert "cold.tif' holds -inf in 1 of its 3 pixels" in caught[0][1]


def test_a_float_image_with_nan_is_named(tmp_path: Path) -> None:
    path = _save_float(tmp_path / "photo.tif", [[0.5, NAN]])
    image, caught = _read(path, "image")
    assert image[:, :, 0].tolist() == [[128, 0]]
    assert len(caught) == 1 and "image file '" in caught[0][1]
    assert "photo.tif' holds NaN in 1 of its 2 pixels" in caught[0][1]


def test_to_uint8_reads_nan_and_inf_at_the_finite_values_scale() -> None:
    arr = np.array([[NAN, INF, -INF, 0.5]], np.float32)
    assert to_uint8(arr).tolist() == [[0, 255, 0, 128]]
    assert to_uint8(np.array([[INF, 100.0]])).tolist() == [[255, 100]]  # 0-255 floats


def test_dis_scoring_names_a_prediction_holding_nan(tmp_path: Path) -> None:
    pdir, gdir = tmp_path / "pred", tmp_path / "gt"
    pdir.mkdir(), gdir.mkdir()
    gt = np.zeros((8, 8), np.uint8)
    gt[2:6, 2:6] = 255
    cv2.imwrite(str(gdir / "a.png"), gt)
    _save_float(pdir / "a.tif", np.where(gt > 0, NAN, 0.0).tolist())
    with pytest.warns(MaskValueWarning, match=r"a\.tif' holds NaN in 16 of its 64 pixels"):
        evaluate_dis_folder(pdir, gdir, with_hce=False, progress=False)


# --- arrays handed to the transforms ---
@pytest.mark.parametrize("value, kind", [(NAN, "NaN"), (INF, r"\+inf"), (-INF, "-inf")])
def test_a_float_image_array_with_non_finite_values_is_refused_by_count(value, kind) -> None:
    image = np.full((4, 4, 3), 0.5, np.float32)
    image[1, 2, 0] = value
    with pytest.raises(ValueError, match=rf"holds {kind} in 1 of its 48 values$"):
        EvalTransform(8)(image)


@pytest.mark.parametrize("value, kind", [(NAN, "NaN"), (INF, r"\+inf"), (-INF, "-inf")])
def test_a_float_mask_with_non_finite_values_is_refused(value, kind) -> None:
    # NaN read as background, and an inf spread over its resize neighbours, without a word.
    image = np.zeros((4, 4, 3), np.uint8)
    mask = np.zeros((4, 4), np.float32)
    mask[0, 0] = value
    with pytest.raises(ValueError, match=rf"mask must hold finite values; it holds {kind} in 1"):
        resize_and_pad(image, mask, 8)


# --- probabilities saved as maps ---
def test_nan_probabilities_are_saved_as_0_with_a_warning_naming_the_map(tmp_path: Path) -> None:
    out = tmp_path / "x.png"
    prob = torch.tensor([[NAN, 0.8], [0.2, NAN]])
    with pytest.warns(NaNPredictionWarning, match=r"x\.png'.*NaN at 2 of its 4 pixels"):
        write_probability_png(prob, out)
    assert cv2.imread(str(out), cv2.IMREAD_UNCHANGED).tolist() == [[0, 204], [51, 0]]


class _NaNModel(torch.nn.Module):
    """A model whose weights went NaN: every logit is NaN (Predictor needs only this much)."""

    config = SimpleNamespace(image_size=32)

    def forward(self, images: torch.Tensor, check_range: bool = True) -> dict:
        return {"mask": torch.full((len(images), 1, 32, 32), NAN)}


def test_a_run_of_nan_predictions_is_one_warning_listing_the_maps(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a", "b", "c"):
        cv2.imwrite(str(images / f"{name}.png"), np.full((20, 30, 3), 90, np.uint8))
    predictor = Predictor(_NaNModel(), "cpu", amp="none")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predictor.predict_dataset(
            ImageFolder(images, 32), tmp_path / "out", num_workers=0, progress=False
        )
    nan = [str(w.message) for w in caught if w.category is NaNPredictionWarning]
    assert len(nan) == 1 and nan[0].startswith("3 map(s) held NaN probabilities, saved as 0")
    assert all(f"{n}.png' (NaN at 600 of its 600 pixels)" in nan[0] for n in "abc")
    assert cv2.imread(str(tmp_path / "out" / "b.png"), cv2.IMREAD_UNCHANGED).max() == 0


# --- COS: float maps split into instances, and the GT file's numbers ---
@pytest.mark.parametrize("value, kind", [(NAN, "NaN"), (INF, r"\+inf")])
def test_split_instances_refuses_a_float_map_with_non_finite_values(value, kind) -> None:
    # An inf pixel gave its instance the score inf; NaN pixels dropped out of instances.
    prob = np.zeros((6, 6))
    prob[1:4, 1:4] = 0.9
    prob[2, 2] = value
    with pytest.raises(ValueError, match=rf"holds {kind} in 1 of its 36 pixels"):
        split_instances(prob)


@pytest.mark.parametrize(
    "where, field, value",
    [("annotations", "image_id", NAN), ("annotations", "id", INF), ("images", "height", INF),
     ("images", "id", NAN)],
)  # fmt: skip
def test_a_non_finite_coco_number_is_named_with_its_field(where, field, value) -> None:
    ann = {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 5, 1, 5, 5]]}
    data = coco_dict((8, 8), [ann], ["a.png"])
    data[where][0][field] = value
    with pytest.raises(EvaluationInputError, match=rf"{where}\[0\].*: {field} {value} is not an"):
        checked_coco_dict(data, "GT")

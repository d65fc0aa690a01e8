"""The baselines build SAM and its automatic mask generator as segment-anything itself does.

The SAM tests compare a baseline's output with ``SamPredictor`` / ``SamAutomaticMaskGenerator``
wrapped around the model ``pmgsam.baselines.sam.build`` made, so a wrong architecture setting
that no weight shape shows (LayerNorm eps, pixel statistics, which blocks attend globally) or a
generator default changed by the baseline would pass them. Here the constructor arguments are
recorded (nothing large is built) and compared with segment-anything's own ``build_sam_vit_*``
and generator defaults.
"""

from __future__ import annotations

import importlib
import inspect
from functools import partial
from types import SimpleNamespace
from typing import Any, Dict

import numpy as np
import pytest
from segment_anything import SamAutomaticMaskGenerator, SamPredictor

from pmgsam.baselines import sam
from pmgsam.baselines.base import AutoBaseline

CLASSES = ("Sam", "ImageEncoderViT", "PromptEncoder", "MaskDecoder", "TwoWayTransformer")


class _Built(SimpleNamespace):
    """What a recorded constructor returns: its class name and keyword arguments."""

    def eval(self) -> _Built:
        return self


def _plain(value: Any) -> Any:
    """Comparable form of a constructor argument (lists and tuples alike, partials by parts)."""
    if isinstance(value, _Built):
        return {"class": value.cls, **{k: _plain(v) for k, v in value.kwargs.items()}}
    if isinstance(value, partial):
        return ("partial", value.func, value.args, value.keywords)
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value


def _record(monkeypatch: pytest.MonkeyPatch, module: Any) -> None:
    for name in CLASSES:

        def construct(*args: Any, _name: str = name, **kwargs: Any) -> _Built:
            assert not args, f"{_name} given positional arguments"
            return _Built(cls=_name, kwargs=kwargs)

        monkeypatch.setattr(module, name, construct)


@pytest.mark.parametrize("model_type", ["vit_b", "vit_l", "vit_h"])
def test_sam_build_passes_segment_anythings_own_arguments(
    model_type: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = importlib.import_module("segment_anything.build_sam")  # the module, not the
    # function the package exports under the same name
    _record(monkeypatch, reference)
    _record(monkeypatch, sam)
    want: Dict[str, Any] = _plain(reference.sam_model_registry[model_type]())
    got: Dict[str, Any] = _plain(sam.build(model_type))
    assert got == want


def _generator_settings(generator: Any) -> Dict[str, Any]:
    settings = {k: v for k, v in vars(generator).items() if k not in ("predictor", "point_grids")}
    settings["point_grids"] = [g.tolist() for g in generator.point_grids]
    return settings


def test_sam_auto_keeps_segment_anythings_generator_defaults() -> None:
    # SamPredictor reads only the encoder's input side when it is built.
    model = SimpleNamespace(image_encoder=SimpleNamespace(img_size=64))
    baseline = AutoBaseline("sam", "vit_b", model)
    reference = SamAutomaticMaskGenerator(model)
    assert _generator_settings(baseline.generator) == _generator_settings(reference)
    given = AutoBaseline("sam", "vit_b", model, {"points_per_side": 4, "pred_iou_thresh": 0.5})
    reference = SamAutomaticMaskGenerator(model, points_per_side=4, pred_iou_thresh=0.5)
    assert _generator_settings(given.generator) == _generator_settings(reference)
    assert np.asarray(given.generator.point_grids[0]).shape == (16, 2)


def test_sam2_auto_keeps_sam2s_generator_defaults_and_released_configs() -> None:
    pytest.importorskip("sam2", reason="the optional sam2 extra is not installed")
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
    from sam2.build_sam import HF_MODEL_ID_TO_FILENAMES

    from pmgsam.baselines import sam2

    # SAM2ImagePredictor reads only the input side and mask threshold when it is built.
    model = SimpleNamespace(image_size=64, mask_threshold=0.0)
    baseline = AutoBaseline("sam2", "tiny", model)
    reference = SAM2AutomaticMaskGenerator(model)
    assert _generator_settings(baseline.generator) == _generator_settings(reference)
    # Each model type is built from the config sam2 releases its SAM2.1 checkpoint with.
    for model_type, config in sam2.CONFIGS.items():
        model_id = f"facebook/sam2.1-hiera-{model_type.replace('_', '-')}"
        assert HF_MODEL_ID_TO_FILENAMES[model_id][0] == config


def test_model_side_is_the_side_the_packages_predictors_resize_to() -> None:
    from pmgsam.baselines.runner import model_side

    sam_model = SimpleNamespace(image_encoder=SimpleNamespace(img_size=64))
    assert model_side(sam_model) == SamPredictor(sam_model).transform.target_length == 64
    pytest.importorskip("sam2", reason="the optional sam2 extra is not installed")
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    # SAM2Base holds an image encoder too, whose parts record no input side.
    sam2_model = SimpleNamespace(image_size=96, mask_threshold=0.0, image_encoder=object())
    assert model_side(sam2_model) == SAM2ImagePredictor(sam2_model)._transforms.resolution == 96


def _defaults(function: Any) -> Dict[str, Any]:
    return {k: p.default for k, p in inspect.signature(function).parameters.items()}


def test_esam_defaults_are_the_package_values_their_docstring_names() -> None:
    from skimage.segmentation import slic

    from pmgsam.baselines.settings import EsamSettings

    sam_gen = _defaults(SamAutomaticMaskGenerator)
    esam = EsamSettings()
    assert esam.points_per_side == sam_gen["points_per_side"]  # SAM's grid, as in E-SAM
    assert esam.part_nms == sam_gen["box_nms_thresh"]  # SAM's own NMS value
    # The gallery and the repair keep SAM's confidence bar; the generator takes SAM2's.
    assert esam.gallery_iou_thresh == esam.repair_iou_thresh == sam_gen["pred_iou_thresh"]
    assert esam.stability_score_thresh < sam_gen["stability_score_thresh"]
    assert esam.gallery_points_per_side**2 == 4 * esam.points_per_side**2  # 4x the prompts
    slic_defaults = _defaults(slic)
    assert (esam.slic_segments, esam.slic_compactness) == (
        slic_defaults["n_segments"],
        slic_defaults["compactness"],
    )
    pytest.importorskip("sam2", reason="the optional sam2 extra is not installed")
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

    sam2_gen = _defaults(SAM2AutomaticMaskGenerator)
    assert esam.pred_iou_thresh == sam2_gen["pred_iou_thresh"]
    assert esam.stability_score_thresh < sam2_gen["stability_score_thresh"]


def test_evaluate_esam_options_default_to_the_settings_and_generators_to_the_packages() -> None:
    import argparse

    from pmgsam.baselines.cli import GENERATOR_OPTIONS, add_arguments
    from pmgsam.baselines.settings import EsamSettings

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([])
    esam = EsamSettings()
    for name, default in _defaults(EsamSettings).items():
        assert getattr(args, f"esam_{name}") == default == getattr(esam, name), name
    # Unset generator options keep each package's own default (they differ between SAM and
    # SAM2), so the parser must leave them unset rather than pick one package's value.
    assert all(getattr(args, name) is None for name in GENERATOR_OPTIONS)
    assert set(GENERATOR_OPTIONS) <= set(_defaults(SamAutomaticMaskGenerator))
    assert (args.reduce, args.model_image_size) == ("union", None)

"""The training augmentation moved from pmgsam.data.transforms to pmgsam.data.augmentation;
code that imports its names from the old module, or from pmgsam.data, gets the same objects."""

from __future__ import annotations

import pytest

import pmgsam.data
import pmgsam.data.augmentation as augmentation
import pmgsam.data.transforms as transforms

MOVED = [
    "TrainTransform",
    "albumentations",
    "build_augmentation",
    "reduced_decode_factor",
    "shrink_mask",
    "smallest_crop_side",
]


@pytest.mark.parametrize("name", MOVED)
def test_old_module_still_gives_each_moved_name(name: str) -> None:
    assert getattr(transforms, name) is getattr(augmentation, name)


def test_from_import_of_the_old_module_works() -> None:
    from pmgsam.data.transforms import TrainTransform, build_augmentation

    assert TrainTransform is augmentation.TrainTransform
    assert build_augmentation is augmentation.build_augmentation


def test_package_exports_point_at_the_new_module() -> None:
    assert pmgsam.data.TrainTransform is augmentation.TrainTransform
    assert pmgsam.data.build_augmentation is augmentation.build_augmentation


@pytest.mark.parametrize("name", ["_SHRINK_BAND_PIXELS", "_seed_each_step", "no_such_name"])
def test_private_and_unknown_names_are_not_forwarded(name: str) -> None:
    # Patching a private name on the old module would patch nothing the augmentation reads.
    with pytest.raises(AttributeError, match=name):
        getattr(transforms, name)

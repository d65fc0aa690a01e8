"""Datasets (DIS5K, COD10K, NC4K, folder pairs), transforms and generated demo data."""

from typing import Any

from .config import AugmentConfig, DataConfig
from .datasets import InstanceSource, SegmentationDataset, available_splits, build_dataset
from .io import (
    DataError,
    DataNotFoundError,
    encode_rle,
    load_image,
    load_instance_map,
    load_mask,
)
from .splits import parse_split, train_val_split_names
from .transforms import (
    EvalTransform,
    TrainTransform,
    build_augmentation,
    resize_and_pad,
    resized_hw,
    unpad_and_resize,
)

__all__ = [
    "AugmentConfig",
    "DataConfig",
    "DataError",
    "DataNotFoundError",
    "EvalTransform",
    "InstanceSource",
    "SegmentationDataset",
    "TrainTransform",
    "available_splits",
    "build_augmentation",
    "build_dataset",
    "encode_rle",
    "generate",
    "load_image",
    "load_instance_map",
    "load_mask",
    "parse_split",
    "resize_and_pad",
    "resized_hw",
    "train_val_split_names",
    "unpad_and_resize",
]


def __getattr__(name: str) -> Any:
    # Lazy, so that `python -m pmgsam.data.synthetic` does not find the module pre-imported.
    if name == "generate":
        from .synthetic import generate

        return generate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

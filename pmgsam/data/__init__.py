"""Datasets (DIS5K, COD10K, NC4K, folder pairs), transforms and generated demo data.

Every name is imported on first use (PEP 562), so that the torch-free readers of
:mod:`pmgsam.data.io` (used by the scoring worker processes) do not pull in torch, and
``python -m pmgsam.data.synthetic`` does not find its module pre-imported.
"""

from __future__ import annotations

from pmgsam.utils.lazy import lazy_exports

_WHERE = {
    "AugmentConfig": "config",
    "DataConfig": "config",
    "InstanceSource": "instance_labels",
    "SegmentationDataset": "datasets",
    "available_splits": "layouts",
    "build_dataset": "datasets",
    "DataError": "io",
    "DataNotFoundError": "io",
    "MaskValueWarning": "io",
    "encode_rle": "coco_annotations",
    "load_image": "io",
    "load_instance_map": "io",
    "load_mask": "io",
    "parse_split": "splits",
    "train_val_split_names": "splits",
    "EvalTransform": "transforms",
    "as_rgb_array": "transforms",
    "TrainTransform": "augmentation",
    "build_augmentation": "augmentation",
    "resize_and_pad": "transforms",
    "resized_hw": "transforms",
    "unpad_and_resize": "transforms",
    "generate": "synthetic",
}

__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)

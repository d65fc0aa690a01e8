"""PMG-SAM: Pre-Mask Guided SAM for automatic salient and camouflaged object segmentation.

The model API is imported lazily so that torch-free tools (metric scoring of existing PNG
predictions, table reports) start fast.
"""

__version__ = "0.1.0"

from pmgsam.utils.lazy import lazy_exports

_WHERE = {
    "build_model": "modeling.build",
    "list_models": "modeling.registry",
    "load_pretrained": "modeling.build",
    "ModelConfig": "modeling.config",
}

__all__ = ["__version__", *_WHERE]
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)

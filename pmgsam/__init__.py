"""PMG-SAM: Pre-Mask Guided SAM for automatic salient and camouflaged object segmentation.

The model API is imported lazily so that torch-free tools (metric scoring of existing PNG
predictions, table reports) start fast.
"""

__version__ = "0.1.0"

_LAZY = {
    "build_model": "pmgsam.modeling.build",
    "list_models": "pmgsam.modeling.registry",
    "load_pretrained": "pmgsam.modeling.build",
    "ModelConfig": "pmgsam.modeling.config",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pmgsam' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]

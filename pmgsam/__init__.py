"""PMG-SAM: Pre-Mask Guided SAM for automatic salient and camouflaged object segmentation.

The model API (README "Using the model"): :func:`list_models`, :func:`build_model`,
:class:`ModelConfig`, :func:`save_model` and :func:`load_pretrained`, and the
:class:`Predictor` (with :func:`binary_mask`) that maps images of any size to probability maps.
It is imported lazily so that torch-free tools (metric scoring of existing PNG predictions,
table reports) start fast.
"""

__version__ = "0.1.0"

from pmgsam.utils.lazy import lazy_exports

_WHERE = {
    "build_model": "modeling.build",
    "list_models": "modeling.registry",
    "load_pretrained": "modeling.build",
    "ModelConfig": "modeling.config",
    # Beside load_pretrained: the same names as from their modules (README "Using the model").
    "save_model": "modeling.checkpoint",
    "Predictor": "engine.predictor",
    "binary_mask": "engine.predictor",
}

__all__ = ["__version__", *_WHERE]
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)

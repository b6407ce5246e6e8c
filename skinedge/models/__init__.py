"""Model registry (students and teachers) and the classifier wrapper. The registry's names
import without torch (for ``--help``); building a model imports it."""
from __future__ import annotations

import importlib

from .registry import MODELS, ModelSpec, get_spec, list_models

_LAZY = {"SkinClassifier": ".classifier", "create_model": ".build", "count_flops": ".classifier",
         "ViewAverage": ".views", "with_views": ".views"}

__all__ = ["MODELS", "ModelSpec", "get_spec", "list_models", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

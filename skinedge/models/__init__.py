"""Model registry (students and teachers) and the classifier wrapper."""
from .classifier import SkinClassifier
from .registry import MODELS, ModelSpec, create_model, get_spec, list_models

__all__ = ["SkinClassifier", "MODELS", "ModelSpec", "create_model", "get_spec", "list_models"]

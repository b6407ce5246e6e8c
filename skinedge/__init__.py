"""skinedge: a skin-lesion classifier small and fast enough for a phone.

    import skinedge
    clf = skinedge.load()                 # the shipped default model
    clf.predict("lesion.jpg").label       # or a .pte / .onnx / .mlpackage / checkpoint folder
"""
__version__ = "0.2.0"

from .api import Classifier, Prediction, load  # noqa: E402
from .card import ModelCard  # noqa: E402
from .errors import SkinedgeError  # noqa: E402
from .labels import CLASSES  # noqa: E402

__all__ = ["load", "Classifier", "Prediction", "ModelCard", "SkinedgeError", "CLASSES", "__version__"]

"""The HAM10000 classes, in the dataset's (alphabetical) order. The one place labels live;
everything downstream reads them from a model card, which is written from here."""
from __future__ import annotations

CLASSES: tuple[str, ...] = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")

CLASS_NAMES: dict[str, str] = {
    "akiec": "Actinic keratoses and intraepithelial carcinoma (Bowen's disease)",
    "bcc": "Basal cell carcinoma",
    "bkl": "Benign keratosis-like lesions",
    "df": "Dermatofibroma",
    "mel": "Melanoma",
    "nv": "Melanocytic nevi",
    "vasc": "Vascular lesions",
}

CLASS_INDEX: dict[str, int] = {c: i for i, c in enumerate(CLASSES)}

"""One predict API over every checkpoint and artifact (ARCHITECTURE.md, contract 3)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .card import ModelCard
from .errors import SkinedgeError
from .layout import DEFAULT_MODEL, SAMPLE_DATA  # noqa: F401  (public: skinedge.api.SAMPLE_DATA)
from .preprocess import ImageInput, load_image, resize_center_crop, to_model_input
from .targets import get_target, target_for_path



@dataclass(frozen=True)
class Prediction:
    """label: top-1 class code; probabilities: every class; top_k: [(label, p)] best first.
    For a batch item that could not be read, label is None and error says why."""

    source: str
    label: str | None
    probabilities: dict[str, float] = field(default_factory=dict)
    top_k: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict:
        return {"source": self.source, "label": self.label, "probabilities": self.probabilities,
                "top_k": [{"label": l, "probability": p} for l, p in self.top_k],
                "error": self.error}


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class Classifier:
    """Preprocessing from the model card, inference by the artifact's runtime."""

    def __init__(self, runtime, path: Path):
        self.runtime = runtime
        self.card: ModelCard = runtime.card
        self.path = path
        self.target = runtime.name

    def __repr__(self) -> str:
        return f"Classifier({self.path}, target={self.target}, arch={self.card.architecture})"

    @property
    def labels(self) -> tuple[str, ...]:
        return self.card.labels

    def preprocess(self, image: ImageInput, name: str | None = None) -> np.ndarray:
        """Any supported input -> uint8 [S, S, 3] by the card's resize policy."""
        return resize_center_crop(load_image(image, name), self.card.input_size)

    def predict_batch_array(self, images_hwc: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """uint8 [N, S, S, 3] -> probabilities [N, K]."""
        out = []
        for start in range(0, len(images_hwc), batch_size):
            out.append(softmax(self.runtime.run(to_model_input(np.asarray(images_hwc[start:start + batch_size])))))
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)))

    def _result(self, source: str, probs: np.ndarray, top_k: int) -> Prediction:
        order = np.argsort(-probs, kind="stable")[:top_k]  # ties: first class, as argmax
        return Prediction(source, self.labels[int(order[0])],
                          {c: float(p) for c, p in zip(self.labels, probs)},
                          [(self.labels[int(i)], float(probs[i])) for i in order])

    def predict(self, image: ImageInput | Sequence[ImageInput], top_k: int = 3):
        """One image -> Prediction (raises DataError on a bad image).
        A list -> list of Prediction; a bad item gets ``error`` set, the rest still run."""
        if isinstance(image, (list, tuple)):
            return self._predict_many(list(image), top_k)
        name = str(image) if isinstance(image, (str, Path)) else type(image).__name__
        probs = self.predict_batch_array(self.preprocess(image)[None])[0]
        return self._result(name, probs, top_k)

    def _predict_many(self, images: list, top_k: int) -> list[Prediction]:
        ok, arrays, results = [], [], [None] * len(images)
        for i, img in enumerate(images):
            name = str(img) if isinstance(img, (str, Path)) else f"[{i}] {type(img).__name__}"
            try:
                arrays.append(self.preprocess(img, name))
                ok.append((i, name))
            except SkinedgeError as exc:
                results[i] = Prediction(name, None, error=str(exc))
        if arrays:
            probs = self.predict_batch_array(np.stack(arrays))
            for (i, name), p in zip(ok, probs):
                results[i] = self._result(name, p, top_k)
        return results


def load(path: str | Path | None = None) -> Classifier:
    """A classifier for a checkpoint folder, .pte, .onnx or .mlpackage (default: the shipped model)."""
    path = Path(path) if path is not None else DEFAULT_MODEL
    target = target_for_path(path)
    if not path.exists():
        raise SkinedgeError(f"{path}: model not found")
    runtime = get_target(target.name).load_module().Runtime(path)
    return Classifier(runtime, path)

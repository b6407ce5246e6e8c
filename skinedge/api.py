"""One predict API over every checkpoint and artifact (ARCHITECTURE.md, contract 3)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .card import ModelCard
from .errors import ConfigError, ModelOutputError, SkinedgeError
from .layout import DEFAULT_MODEL, SAMPLE_DATA  # noqa: F401  (public: skinedge.api.SAMPLE_DATA)
from .preprocess import ImageInput, model_image, to_model_input
from .targets import get_target, target_for_path


@dataclass(frozen=True)
class Prediction:
    """label: top-1 class code; probabilities: every class; top_k: [(label, p)] best first.
    For a batch item that failed (unreadable image, non-finite model output), label is None,
    probabilities and top_k are empty, and error says why."""

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
        return model_image(image, self.card.input_size, name)

    def _probabilities(self, images_hwc: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """uint8 [N, S, S, 3] -> float64 probabilities [N, K]; a row is all NaN where any of
        the model's logits for that image was NaN or inf."""
        out, k = [], len(self.labels)
        for start in range(0, len(images_hwc), batch_size):
            chunk = np.asarray(images_hwc[start:start + batch_size])
            logits = np.asarray(self.runtime.run(to_model_input(chunk)))
            if logits.shape != (len(chunk), k):
                raise ModelOutputError(f"{self.path}: the model gave outputs of shape "
                                       f"{logits.shape} for {len(chunk)} images, but its card "
                                       f"has {k} labels")
            finite = np.isfinite(logits).all(axis=1)
            with np.errstate(invalid="ignore", over="ignore"):
                probs = softmax(logits)
            probs[~finite] = np.nan
            out.append(probs)
        return np.concatenate(out) if out else np.zeros((0, k))

    def _not_finite(self, what: str) -> str:
        return (f"{what}: the model's output is not finite (NaN or inf), so no label is given; "
                f"the model may be corrupt: check it with `skinedge inspect {self.path}`")

    def predict_batch_array(self, images_hwc: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """uint8 [N, S, S, 3] -> probabilities [N, K]. Raises ModelOutputError when the model's
        output for any image is not finite: a score over NaN would mean nothing."""
        probs = self._probabilities(images_hwc, batch_size)
        bad = int(np.isnan(probs).any(axis=1).sum())
        if bad:
            raise ModelOutputError(self._not_finite(f"{self.path}: {bad} of {len(probs)} images"))
        return probs

    def _result(self, source: str, probs: np.ndarray, top_k: int) -> Prediction:
        if np.isnan(probs).any():
            return Prediction(source, None, error=self._not_finite(source))
        order = np.argsort(-probs, kind="stable")[:top_k]  # ties: first class, as argmax
        return Prediction(source, self.labels[int(order[0])],
                          {c: float(p) for c, p in zip(self.labels, probs)},
                          [(self.labels[int(i)], float(probs[i])) for i in order])

    def predict(self, image: ImageInput | Sequence[ImageInput], top_k: int = 3):
        """One image -> Prediction; raises DataError on a bad image, ModelOutputError on a
        non-finite model output. A list -> list of Prediction; an item that fails gets
        ``error`` set (and no label), the rest still run.

        Accepted images: a file path, a PIL image or a numpy array; value ranges in
        ``skinedge.preprocess.load_image`` (uint8 0..255, uint16 0..65535, float in [0, 1])."""
        if top_k < 1:
            raise ConfigError(f"top_k={top_k}: must be at least 1")
        if isinstance(image, (list, tuple)):
            return self._predict_many(list(image), top_k)
        name = str(image) if isinstance(image, (str, Path)) else type(image).__name__
        result = self._result(name, self._probabilities(self.preprocess(image)[None])[0], top_k)
        if result.error:
            raise ModelOutputError(result.error)
        return result

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
            probs = self._probabilities(np.stack(arrays))
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

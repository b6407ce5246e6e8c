"""One predict API over every checkpoint and artifact (ARCHITECTURE.md, contract 3)."""
from __future__ import annotations

import operator
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .calibration import apply_card
from .card import ModelCard
from .errors import ConfigError, DataError, ModelOutputError, SkinedgeError
from .layout import DEFAULT_MODEL, SAMPLE_DATA  # noqa: F401  (public: skinedge.api.SAMPLE_DATA)
from .preprocess import (ImageInput, ImageLimits, _display_name, load_image,
                         resize_center_crop, to_model_input)
from .targets import get_target, target_for_path


@dataclass(frozen=True)
class Prediction:
    """label: the class the model picks (argmax of its own output: the decision rule that
    balanced accuracy scores, unchanged by calibration); probabilities: every class,
    calibrated per the card when ``calibrated`` (else the model's own softmax); top_k: the k
    most probable [(label, probability)]. Calibrated to a real prevalence, a common class (nv)
    can top ``top_k`` while ``label`` names the class the image is most typical of.
    malignant_probability (akiec + bcc + mel, or the card's referral labels), refer (it is at least ``threshold``, the card's
    referral threshold; None without one) and gate (the input gate's verdict: usable,
    reasons, scores; None without one) come from the card (see calibration.py, clinical.py,
    gate.py). For an item that failed (unreadable image, non-finite output, or refused by
    the gate when asked to refuse), label is None and error says why."""

    source: str
    label: str | None
    probabilities: dict[str, float] = field(default_factory=dict)
    top_k: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None
    calibrated: bool = False
    malignant_probability: float | None = None
    refer: bool | None = None
    threshold: float | None = None
    gate: dict | None = None

    def to_dict(self) -> dict:
        return {"source": self.source, "label": self.label, "probabilities": self.probabilities,
                "top_k": [{"label": l, "probability": p} for l, p in self.top_k],
                "error": self.error, "calibrated": self.calibrated,
                "malignant_probability": self.malignant_probability, "refer": self.refer,
                "threshold": self.threshold, "gate": self.gate}


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
        self.limits = ImageLimits.of(self.card.image_limits)

    def __repr__(self) -> str:
        return f"Classifier({self.path}, target={self.target}, arch={self.card.architecture})"

    @property
    def labels(self) -> tuple[str, ...]:
        return self.card.labels

    def preprocess(self, image: ImageInput, name: str | None = None) -> np.ndarray:
        """Any supported input -> uint8 [S, S, 3] by the card's resize policy."""
        return self._prepare(image, name)[0]

    def _prepare(self, image: ImageInput, name: str | None = None):
        """(uint8 [S, S, 3] model image, (width, height) of the decoded original)."""
        name = _display_name(image, name)  # as model_image names it in errors
        img = load_image(image, name, self.limits)
        return resize_center_crop(img, self.card.input_size, name, self.limits), img.size

    def _probabilities(self, images_hwc: np.ndarray, batch_size: int = 32,
                       calibrated: bool = False) -> np.ndarray:
        """uint8 [N, S, S, 3] -> float64 probabilities [N, K] (``calibrated``: per the card's
        calibration, when it has one); a row is all NaN where any of the model's outputs for
        that image was NaN or inf."""
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
                probs = (apply_card(logits, self.card.calibration)
                         if calibrated and self.card.calibration else softmax(logits))
            probs[~finite] = np.nan
            out.append(probs)
        return np.concatenate(out) if out else np.zeros((0, k))

    def _not_finite(self, what: str) -> str:
        return (f"{what}: the model's output is not finite (NaN or inf), so no label is given; "
                f"the model may be corrupt: check it with `skinedge inspect {self.path}`")

    def predict_batch_array(self, images_hwc: np.ndarray, batch_size: int = 32,
                            calibrated: bool = False) -> np.ndarray:
        """uint8 [N, S, S, 3] (S: the card's input_size, images already preprocessed) ->
        probabilities [N, K]: the model's own softmax, or with ``calibrated`` the card's
        calibration applied (plain softmax where it has none). Raises DataError for any other
        dtype or shape (nothing is resized or rescaled here: ``predict`` does that) and
        ModelOutputError when the model's output for any image is not finite."""
        self._check_batch(images_hwc)
        probs = self._probabilities(images_hwc, batch_size, calibrated)
        bad = int(np.isnan(probs).any(axis=1).sum())
        if bad:
            raise ModelOutputError(self._not_finite(f"{self.path}: {bad} of {len(probs)} images"))
        return probs

    def _check_batch(self, images_hwc) -> None:
        """DataError unless ``images_hwc`` is a uint8 array [N, S, S, 3] with S the input size."""
        s = self.card.input_size
        want = f"a uint8 array [N, {s}, {s}, 3] ({self.path}: input size {s}, RGB)"
        if not isinstance(images_hwc, np.ndarray):
            raise DataError(f"predict_batch_array: expected {want}, not {type(images_hwc).__name__}")
        if images_hwc.dtype != np.uint8:
            raise DataError(f"predict_batch_array: expected {want}, not dtype {images_hwc.dtype}; "
                            "convert 0..255 data with .astype(np.uint8), or use predict() for "
                            "other ranges")
        if images_hwc.ndim != 4 or images_hwc.shape[1:] != (s, s, 3):
            raise DataError(f"predict_batch_array: expected {want}, not shape "
                            f"{list(images_hwc.shape)}; use predict() or preprocess() to resize")

    def _result(self, source: str, raw: np.ndarray, top_k: int, verdict=None,
                refuse: bool = False) -> Prediction:
        """The Prediction of one image from the model's softmax ``raw`` [K] and the gate's
        ``verdict`` (None: the card has no gate)."""
        gate = verdict.to_dict() if verdict is not None else None
        if np.isnan(raw).any():
            return Prediction(source, None, error=self._not_finite(source), gate=gate)
        if refuse and verdict is not None and not verdict.usable:
            return Prediction(source, None, error=f"{source}: not classified, the input gate "
                              f"refused it: {'; '.join(verdict.reasons)}", gate=gate)
        cal = self.card.calibration
        with np.errstate(divide="ignore"):
            probs = apply_card(np.log(raw)[None], cal)[0] if cal else raw
        label = self.labels[int(np.argmax(raw))]
        order = np.argsort(-probs, kind="stable")[:top_k]  # ties: first class, as argmax
        return Prediction(source, label,
                          {c: float(p) for c, p in zip(self.labels, probs)},
                          [(self.labels[int(i)], float(probs[i])) for i in order],
                          calibrated=bool(cal), gate=gate, **referral(self.card, probs))

    def predict(self, image: ImageInput | Sequence[ImageInput], top_k: int = 3,
                refuse: bool = False):
        """One image -> Prediction; raises DataError on a bad image, ModelOutputError on a
        non-finite model output. A list -> list of Prediction; an item that fails gets
        ``error`` set (and no label), the rest still run. ``refuse``: give no label for an
        image the card's input gate finds unusable (by default it is classified, and the
        verdict and reasons ride along in ``gate``).

        Accepted images: a file path, a PIL image or a numpy array; value ranges in
        ``skinedge.preprocess.load_image`` (uint8 0..255, uint16 0..65535, float in [0, 1])."""
        top_k = _check_top_k(top_k)
        if isinstance(image, (list, tuple)):
            return self._predict_many(list(image), top_k, refuse)
        name = str(image) if isinstance(image, (str, Path)) else type(image).__name__
        arr, size = self._prepare(image)
        raw = self._probabilities(arr[None])[0]
        if np.isnan(raw).any():
            raise ModelOutputError(self._not_finite(name))
        return self._result(name, raw, top_k, self.assess(arr, size), refuse)

    def assess(self, image_hwc: np.ndarray, size: tuple[int, int]):
        """The card's input gate on a model image uint8 [S, S, 3] whose original was ``size``
        (w, h): a gate.Verdict, or None when the card has no gate."""
        from .gate import assess

        return assess(image_hwc, size, self.card.gate) if self.card.gate else None

    def _predict_many(self, images: list, top_k: int, refuse: bool = False) -> list[Prediction]:
        ok, arrays, results = [], [], [None] * len(images)
        for i, img in enumerate(images):
            name = str(img) if isinstance(img, (str, Path)) else f"[{i}] {type(img).__name__}"
            try:
                arr, size = self._prepare(img, name)
                arrays.append(arr)
                ok.append((i, name, self.assess(arr, size)))
            except SkinedgeError as exc:
                results[i] = Prediction(name, None, error=str(exc))
        if arrays:
            probs = self._probabilities(np.stack(arrays))
            for (i, name, verdict), p in zip(ok, probs):
                results[i] = self._result(name, p, top_k, verdict, refuse)
        return results


def _check_top_k(top_k) -> int:
    """``top_k`` as an int of at least 1, or a ConfigError naming it and what it was."""
    try:
        k = operator.index(top_k)  # an int or numpy integer; not 1.5, "3" or True
    except TypeError:
        k = None
    if k is None or isinstance(top_k, bool):
        raise ConfigError(f"top_k={top_k!r}: must be an integer of at least 1, not "
                          f"{type(top_k).__name__}")
    if k < 1:
        raise ConfigError(f"top_k={k}: must be at least 1")
    return k


def referral(card: ModelCard, probs: np.ndarray) -> dict:
    """malignant_probability, refer and threshold of calibrated probabilities [K] per the
    card's ``referral`` field (without one: the sum over its ``malignant_labels``, and refer
    and threshold None)."""
    ref = card.referral
    task = ref["tasks"][ref["score"]] if ref else None
    positives = task["labels"] if task else card.malignant_labels
    if not positives:
        return {}
    p = float(sum(probs[card.labels.index(c)] for c in positives))
    if task is None:
        return {"malignant_probability": p}
    return {"malignant_probability": p, "refer": p >= task["threshold"],
            "threshold": float(task["threshold"])}


def load(path: str | Path | None = None) -> Classifier:
    """A classifier for a checkpoint folder, .pte, .onnx or .mlpackage (default: the shipped model)."""
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"skinedge.load: path must be a str or path-like (a checkpoint folder, "
                          f".pte, .onnx or .mlpackage), not {type(path).__name__} {path!r}")
    path = Path(path) if path is not None else DEFAULT_MODEL
    target = target_for_path(path)
    if not path.exists():
        raise SkinedgeError(f"{path}: model not found")
    runtime = get_target(target.name).load_module().Runtime(path)
    return Classifier(runtime, path)

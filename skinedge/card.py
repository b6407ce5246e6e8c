"""The model card: one JSON document that travels with every checkpoint and artifact.

It is the only source of labels and preprocessing for the Python API and the apps.
"""
from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .atomic import write_text
from .errors import CheckpointError
from .labels import CLASS_NAMES, CLASSES
from .preprocess import INTERPOLATION, RESIZE_POLICY

CARD_SCHEMA = "skinedge.model_card/1"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_tree(path: Path) -> str:
    """sha256 of a file, or of a folder (e.g. .mlpackage) as its sorted relative paths and contents."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    h = hashlib.sha256()
    for p in sorted(q for q in path.rglob("*") if q.is_file()):
        h.update(str(p.relative_to(path)).encode() + b"\0" + sha256_file(p).encode())
    return h.hexdigest()


def software_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("skinedge", "torch", "timm", "executorch", "coremltools", "onnx", "onnxruntime"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


@dataclass(frozen=True)
class ModelCard:
    architecture: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    params: int
    flops: int
    labels: tuple[str, ...] = CLASSES
    label_names: tuple[str, ...] = tuple(CLASS_NAMES[c] for c in CLASSES)
    color_order: str = "RGB"
    value_range: tuple[float, float] = (0.0, 1.0)
    layout: str = "NCHW"
    normalization: str = "in_graph"  # mean/std are applied inside the model
    resize: str = RESIZE_POLICY
    interpolation: str = INTERPOLATION
    quantization: str = "none"
    weights_dtype: str = "float32"
    format: str = "checkpoint"
    views: int = 1  # test-time views averaged inside the graph (8: the dihedral views)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    software: dict[str, str] = field(default_factory=software_versions)
    artifact_file: str = ""
    artifact_sha256: str = ""
    artifact_hash_scope: str = "file"
    schema: str = CARD_SCHEMA

    @property
    def macs(self) -> int:
        return self.flops // 2

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["macs"] = self.macs
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def with_(self, **changes) -> "ModelCard":
        return replace(self, **changes)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "<card>") -> "ModelCard":
        if not isinstance(d, dict) or d.get("schema") != CARD_SCHEMA:
            raise CheckpointError(f"{source}: not a skinedge model card (schema "
                                  f"{d.get('schema') if isinstance(d, dict) else None!r})")
        names = {f.name for f in fields(cls)}
        required = {"architecture", "input_size", "mean", "std", "params", "flops", "labels"}
        missing = required - d.keys()
        if missing:
            raise CheckpointError(f"{source}: model card lacks {', '.join(sorted(missing))}")
        kw = {k: v for k, v in d.items() if k in names}
        for k in ("mean", "std", "labels", "label_names", "value_range"):
            if k in kw:
                kw[k] = tuple(kw[k])
        card = cls(**kw)
        if len(card.labels) != len(card.label_names) or len(card.mean) != 3 or len(card.std) != 3:
            raise CheckpointError(f"{source}: model card has inconsistent labels or mean/std")
        return card

    @classmethod
    def from_json(cls, text: str, source: str = "<card>") -> "ModelCard":
        try:
            return cls.from_dict(json.loads(text), source)
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{source}: model card is not valid JSON ({exc})") from None

    def save(self, path: Path) -> None:
        write_text(path, self.to_json() + "\n")

    @classmethod
    def load(cls, path: Path) -> "ModelCard":
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: model card not found")
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            raise CheckpointError(f"{path}: model card is not text (not a JSON card)") from None
        return cls.from_json(text, str(path))

"""Lesion-disjoint train/val/test splits, stratified by class, deterministic from a seed.

All images of one lesion_id land on the same side. Within each class, lesions are shuffled
with the seed and each goes to the split furthest below its target image count, after one
lesion has been given to every split so that every class appears on every side.
"""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import write_text
from ..errors import DataError
from ..layout import SPLIT_FRACTIONS
from ..labels import CLASSES
from .ham10000 import HAM10000

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    seed: int
    fractions: tuple[float, float, float]
    assignment: dict[str, str]  # image_id -> "train" | "val" | "test"

    def ids(self, name: str) -> set[str]:
        if name not in SPLITS:
            raise DataError(f"unknown split '{name}'; expected one of {', '.join(SPLITS)}")
        return {i for i, s in self.assignment.items() if s == name}

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for image_id in sorted(self.assignment):
            h.update(f"{image_id}:{self.assignment[image_id]}\n".encode())
        return h.hexdigest()

    def save(self, path: Path) -> None:
        doc = {"seed": self.seed, "fractions": list(self.fractions),
               "fingerprint": self.fingerprint(), "assignment": self.assignment}
        write_text(path, json.dumps(doc, indent=0, sort_keys=True))

    @classmethod
    def load(cls, path: Path) -> "Split":
        try:
            doc = json.loads(Path(path).read_text())
            split = cls(int(doc["seed"]), tuple(doc["fractions"]), dict(doc["assignment"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path}: not a readable split file ({exc})") from None
        if split.fingerprint() != doc.get("fingerprint"):
            raise DataError(f"{path}: split file fingerprint does not match its contents")
        return split


def make_split(ds: HAM10000, seed: int = 0,
               fractions: tuple[float, float, float] = SPLIT_FRACTIONS) -> Split:
    if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1) > 1e-6:
        raise DataError(f"split fractions {fractions} must be three positive numbers summing to 1")
    lesions: dict[str, list[str]] = defaultdict(list)
    lesion_class: dict[str, str] = {}
    for r in ds.records:
        lesions[r.lesion_id].append(r.image_id)
        lesion_class[r.lesion_id] = r.dx
    assignment: dict[str, str] = {}
    rng = np.random.default_rng(seed)
    target = np.asarray(fractions)
    for cls in CLASSES:
        ids = sorted(lid for lid, c in lesion_class.items() if c == cls)
        if not ids:
            continue
        if len(ids) < len(SPLITS):
            raise DataError(f"{ds.metadata}: class {cls} has only {len(ids)} lesion(s); a "
                            f"lesion-disjoint split needs at least {len(SPLITS)}")
        order = [ids[i] for i in rng.permutation(len(ids))]
        total = sum(len(lesions[lid]) for lid in order)
        counts = np.zeros(3)
        for k, lid in enumerate(order):
            # First three lesions seed train/val/test in turn (reversed so the smallest
            # splits are guaranteed one); then fill the split most below its target.
            s = (2 - k) if k < 3 else int(np.argmax(target * total - counts))
            counts[s] += len(lesions[lid])
            for image_id in lesions[lid]:
                assignment[image_id] = SPLITS[s]
    return Split(seed, tuple(float(f) for f in fractions), assignment)

"""Reader for the official HAM10000 layout.

``HAM10000_metadata.csv`` sits beside one or more image folders (``HAM10000_images_part_1/``,
``images/``...), searched recursively. A sub-folder that holds its own metadata CSV is a
separate dataset (e.g. ``fullres/`` in the development copy) and is not searched.
"""
from __future__ import annotations

import csv
import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from ..labels import CLASS_INDEX, CLASSES

METADATA_NAME = "HAM10000_metadata.csv"
REQUIRED_COLUMNS = ("lesion_id", "image_id", "dx")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class Record:
    image_id: str
    lesion_id: str
    dx: str
    path: Path

    @property
    def label(self) -> int:
        return CLASS_INDEX[self.dx]


@dataclass(frozen=True)
class HAM10000:
    root: Path
    metadata: Path
    records: tuple[Record, ...]

    def __len__(self) -> int:
        return len(self.records)

    @property
    def labels(self) -> list[int]:
        return [r.label for r in self.records]

    def class_counts(self) -> dict[str, int]:
        counts = Counter(r.dx for r in self.records)
        return {c: counts.get(c, 0) for c in CLASSES}

    def fingerprint(self) -> str:
        """sha256 over (image_id, lesion_id, dx): names the labelled set, not the pixels."""
        h = hashlib.sha256()
        for r in sorted(self.records, key=lambda r: r.image_id):
            h.update(f"{r.image_id},{r.lesion_id},{r.dx}\n".encode())
        return h.hexdigest()

    def subset(self, image_ids: set[str]) -> "HAM10000":
        return HAM10000(self.root, self.metadata,
                        tuple(r for r in self.records if r.image_id in image_ids))


def _find_images(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    stack = [root]
    while stack:
        folder = stack.pop()
        for entry in sorted(folder.iterdir()):
            if entry.is_dir():
                if entry.name.startswith(".") or (entry / METADATA_NAME).is_file():
                    continue
                stack.append(entry)
            elif entry.suffix.lower() in IMAGE_SUFFIXES:
                found.setdefault(entry.stem, entry)
    return found


def _resolve_metadata(data: Path) -> tuple[Path, Path]:
    data = Path(data)
    if not data.exists():
        raise DataError(f"{data}: data folder does not exist")
    if data.is_file():
        return data.parent, data
    csv_path = data / METADATA_NAME
    if not csv_path.is_file():
        raise DataError(
            f"{data}: no {METADATA_NAME} found; expected the official HAM10000 layout "
            f"({METADATA_NAME} beside the image folders)"
        )
    return data, csv_path


def read_ham10000(data: str | Path, require_all_classes: bool = True) -> HAM10000:
    """Read and validate a HAM10000-layout folder (or a path to its metadata CSV).

    Every row must name a known dx and an image that exists. With ``require_all_classes``
    (training), every one of the 7 classes must have at least one image.
    """
    root, csv_path = _resolve_metadata(Path(data))
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            missing = [c for c in REQUIRED_COLUMNS if c not in columns]
            if missing:
                raise DataError(f"{csv_path}: missing column(s) {', '.join(missing)}; "
                                f"found {columns or 'no header'}")
            rows = list(reader)
    except UnicodeDecodeError as exc:
        raise DataError(f"{csv_path}: not a UTF-8 CSV file ({exc})") from None
    except csv.Error as exc:
        raise DataError(f"{csv_path}: malformed CSV ({exc})") from None
    if not rows:
        raise DataError(f"{csv_path}: no rows")

    images = _find_images(root)
    if not images:
        raise DataError(f"{root}: no images ({'/'.join(IMAGE_SUFFIXES)}) found under this folder")

    records, seen, lesion_dx, missing_images = [], set(), {}, []
    for line, row in enumerate(rows, start=2):
        image_id = (row.get("image_id") or "").strip()
        lesion_id = (row.get("lesion_id") or "").strip()
        dx = (row.get("dx") or "").strip().lower()
        if not image_id or not lesion_id:
            raise DataError(f"{csv_path}:{line}: empty image_id or lesion_id")
        if dx not in CLASS_INDEX:
            raise DataError(f"{csv_path}:{line}: unknown dx label '{row.get('dx')}' for "
                            f"{image_id}; expected one of {', '.join(CLASSES)}")
        if image_id in seen:
            raise DataError(f"{csv_path}:{line}: image_id {image_id} is listed twice")
        if lesion_dx.setdefault(lesion_id, dx) != dx:
            raise DataError(f"{csv_path}:{line}: lesion {lesion_id} has two labels "
                            f"({lesion_dx[lesion_id]} and {dx})")
        seen.add(image_id)
        path = images.get(image_id)
        if path is None:
            missing_images.append(image_id)
            continue
        records.append(Record(image_id, lesion_id, dx, path))
    if missing_images:
        head = ", ".join(missing_images[:5])
        raise DataError(f"{csv_path}: {len(missing_images)} listed image(s) not found under "
                        f"{root} (e.g. {head})")
    ds = HAM10000(root, csv_path, tuple(records))
    if require_all_classes:
        empty = [c for c, n in ds.class_counts().items() if n == 0]
        if empty:
            raise DataError(f"{csv_path}: no images for class(es) {', '.join(empty)}; "
                            "training needs every class")
    return ds

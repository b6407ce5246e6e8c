import csv
import shutil
from pathlib import Path

import pytest

from skinedge.api import DEFAULT_MODEL, SAMPLE_DATA

DEV_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ham10000"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SKINEDGE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def sample_copy(tmp_path) -> Path:
    """A writable copy of the shipped sample in the official layout (two image folders)."""
    dest = tmp_path / "ham"
    shutil.copytree(SAMPLE_DATA, dest)
    images = sorted((dest / "images").iterdir())
    part2 = dest / "HAM10000_images_part_2"
    part2.mkdir()
    for p in images[::2]:
        shutil.move(p, part2 / p.name)
    (dest / "images").rename(dest / "HAM10000_images_part_1")
    return dest


def read_rows(csv_path: Path) -> tuple[list[str], list[dict]]:
    with open(csv_path, newline="") as f:
        r = csv.DictReader(f)
        return r.fieldnames, list(r)


def write_rows(csv_path: Path, fields, rows) -> None:
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


@pytest.fixture
def default_model() -> Path:
    if not (DEFAULT_MODEL / "card.json").is_file():
        pytest.skip("no shipped default model in this checkout")
    return DEFAULT_MODEL

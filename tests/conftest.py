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


@pytest.fixture(scope="session")
def small_model(tmp_path_factory) -> Path:
    """A small model really trained (2 epochs, 64 px) on the shipped sample."""
    import os

    from skinedge.train import TrainConfig, train

    run = tmp_path_factory.mktemp("small_run")
    os.environ.setdefault("SKINEDGE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    train(TrainConfig(data=str(SAMPLE_DATA), out=str(run), img_size=64, epochs=2,
                      batch_size=32, progress=False))
    return run / "best"


@pytest.fixture(scope="session")
def exported(small_model, tmp_path_factory) -> dict:
    """Every preset of every export target, from the small model: {recipe name: result}."""
    from skinedge.exporting import ExportConfig, run_export

    out = tmp_path_factory.mktemp("artifacts")
    results = run_export(ExportConfig(model=str(small_model), target="all", quant="all",
                                      out=str(out), progress=False))
    return {r.recipe: r for r in results}



@pytest.fixture(scope="session")
def shipped_export(tmp_path_factory) -> Path:
    """The shipped (calibrated, gated) model exported once for the demo apps' tests: fp32 ONNX
    (web demo) and an fp32 XNNPACK .pte (Android demo), with golden/ holding the card's
    calibrated probabilities, referral and gate verdicts. Each artifact still passes its recipe's
    parity tolerances, on 32 validation images instead of 512: about 30 s. Returns the folder."""
    if not (DEFAULT_MODEL / "card.json").is_file():
        pytest.skip("no shipped default model in this checkout")
    from dataclasses import replace

    from skinedge.exporting import ExportConfig, run_export
    from skinedge.recipes import all_recipes

    recipes = all_recipes()
    out = tmp_path_factory.mktemp("shipped_export")
    results = run_export(ExportConfig(out=str(out), progress=False),
                         [replace(recipes[name], parity_images=32)
                          for name in ("onnx-fp32", "executorch-fp32")])
    assert [r.status for r in results] == ["ok", "ok"], [(r.recipe, r.problems) for r in results]
    return out

def pytest_collection_modifyitems(config, items):
    """Tests marked slow run only when asked for (``pytest -m slow``): CI stays short."""
    if "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)

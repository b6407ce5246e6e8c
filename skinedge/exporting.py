"""``skinedge export``: quantize, convert, check parity, and only then keep the artifact.

Each artifact is built in a temporary folder inside ``--out``, run against the eager model on
real validation images, and moved into place only if it meets its recipe's tolerances.
"""
from __future__ import annotations

import copy
import json
import os
import platform
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .api import softmax
from .layout import DEFAULT_MODEL, SAMPLE_DATA
from .card import ModelCard
from .checkpoint import load_checkpoint
from .errors import ConfigError, SkinedgeError
from .metrics import classification_metrics
from .preprocess import to_model_input
from .recipes import Recipe, resolve
from .targets import artifact_size, get_target


@dataclass(frozen=True)
class ExportConfig:
    model: str | None = None
    target: str = "all"
    quant: str | None = None
    recipe: str | None = None
    out: str = "artifacts"
    data: str | None = None
    progress: bool = True


@dataclass
class ExportResult:
    recipe: str
    target: str
    quantization: str
    path: str = ""
    status: str = "failed"  # "ok" | "structure-only" | "failed"
    parity: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    size_bytes: int = 0
    seconds: float = 0.0


def artifact_name(card: ModelCard, recipe: Recipe) -> str:
    t = get_target(recipe.target)
    return f"{card.architecture}_{t.tag}_{recipe.quantization}{t.suffix}"


def _split_images(model_path: Path, card: ModelCard, data: Path, split: str, limit: int,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``limit`` uint8 images [n, S, S, 3] and labels from the model's ``split`` of data."""
    from .data import read_ham10000
    from .data.cache import cached_images
    from .evaluate import select_split

    ds = select_split(model_path, card, read_ham10000(data, require_all_classes=False), split)
    idx = np.sort(np.random.default_rng(seed).permutation(len(ds))[:limit])
    records = [ds.records[i] for i in idx]
    return np.asarray(cached_images(records, card.input_size, progress=False)), \
        np.array([r.label for r in records])


def parity_report(eager_logits: np.ndarray, art_logits: np.ndarray, labels: np.ndarray) -> dict:
    pe, pa = softmax(eager_logits), softmax(art_logits)
    cos = (eager_logits * art_logits).sum(1) / (
        np.linalg.norm(eager_logits, axis=1) * np.linalg.norm(art_logits, axis=1) + 1e-12)
    be = classification_metrics(labels, pe)["balanced_accuracy"]
    ba = classification_metrics(labels, pa)["balanced_accuracy"]
    return {"n": int(len(labels)), "top1_agreement": float((pe.argmax(1) == pa.argmax(1)).mean()),
            "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
            "max_abs_diff": float(np.abs(pe - pa).max()),
            "balanced_accuracy_eager": float(be), "balanced_accuracy": float(ba),
            "balanced_accuracy_drop": float(be - ba)}


def check_tolerances(p: dict, r: Recipe) -> list[str]:
    problems = []
    if p["top1_agreement"] < r.min_top1_agreement:
        problems.append(f"top-1 agreement {p['top1_agreement']:.4f} < {r.min_top1_agreement}")
    if p["cosine_mean"] < r.min_cosine:
        problems.append(f"mean cosine {p['cosine_mean']:.5f} < {r.min_cosine}")
    if p["max_abs_diff"] > r.max_abs_diff:
        problems.append(f"max |Δprob| {p['max_abs_diff']:.2e} > {r.max_abs_diff}")
    if p["balanced_accuracy_drop"] > r.max_balanced_accuracy_drop:
        problems.append(f"balanced accuracy drop {p['balanced_accuracy_drop']:.4f} > "
                        f"{r.max_balanced_accuracy_drop}")
    return problems


def _run_artifact(module, path: Path, x: np.ndarray, batch: int = 64) -> np.ndarray:
    rt = module.Runtime(path)
    return np.concatenate([rt.run(x[i:i + batch]) for i in range(0, len(x), batch)])


def export_one(model, card: ModelCard, model_path: Path, recipe: Recipe, out: Path,
               data: Path, parity_set, eager_logits) -> ExportResult:
    """Build one artifact, check it, and move it into ``out`` only if it passes."""
    t0 = time.time()
    res = ExportResult(recipe.name, recipe.target, recipe.quantization)
    target = get_target(recipe.target)
    module = target.load_module()
    name = artifact_name(card, recipe)
    calib = None
    if recipe.quantization == "int8" and recipe.target != "coreml":
        imgs, _ = _split_images(model_path, card, data, recipe.calibration_split,
                                recipe.calibration_images, seed=1)
        calib = to_model_input(imgs)
    with tempfile.TemporaryDirectory(dir=out, prefix=".export-") as tmp:
        tmp_path = Path(tmp) / name
        try:
            final = module.export(copy.deepcopy(model).eval(), card, tmp_path, recipe, calib)
        except SkinedgeError:
            raise
        except Exception as exc:  # a converter failure is reported, not a crash of the batch
            res.problems.append(f"conversion failed: {type(exc).__name__}: {str(exc)[:300]}")
            res.seconds = time.time() - t0
            return res
        if recipe.target == "coreml" and not module.can_predict():
            res.problems = module.verify_structure(tmp_path, final, recipe.quantization)
            res.status = "structure-only" if not res.problems else "failed"
        else:
            x, labels = parity_set
            res.parity = parity_report(eager_logits, _run_artifact(module, tmp_path, x), labels)
            res.problems = check_tolerances(res.parity, recipe)
            res.status = "ok" if not res.problems else "failed"
        if res.status != "failed":
            for item in Path(tmp).iterdir():
                dest = out / item.name
                if dest.is_dir():
                    shutil.rmtree(dest)
                os.replace(item, dest)
            res.path = str(out / name)
            res.size_bytes = artifact_size(out / name)
    res.seconds = round(time.time() - t0, 1)
    return res


def run_export(cfg: ExportConfig) -> list[ExportResult]:
    from tqdm import tqdm

    model_path = Path(cfg.model) if cfg.model else DEFAULT_MODEL
    if not (model_path / "card.json").is_file():
        raise ConfigError(f"{model_path}: export starts from a checkpoint folder (with card.json); "
                          "an exported artifact cannot be exported again")
    recipes = [Recipe.from_file(Path(cfg.recipe))] if cfg.recipe else resolve(cfg.target, cfg.quant)
    for r in recipes:  # a missing backend fails here, before any conversion
        get_target(r.target).load_module()
    model, card = load_checkpoint(model_path)
    data = Path(cfg.data) if cfg.data else SAMPLE_DATA
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    n_parity = max(r.parity_images for r in recipes)
    imgs, labels = _split_images(model_path, card, data, recipes[0].parity_split, n_parity)
    x = to_model_input(imgs)
    with torch.no_grad():
        eager = np.concatenate([model(torch.from_numpy(x[i:i + 64])).numpy()
                                for i in range(0, len(x), 64)])
    split_src = model_path / "split.json"
    if split_src.is_file() and not (out / "split.json").exists():
        shutil.copy2(split_src, out / "split.json")
    results = []
    bar = tqdm(recipes, desc="export", disable=not cfg.progress, unit="artifact")
    for r in bar:
        bar.set_postfix_str(r.name)
        results.append(export_one(model, card, model_path, r, out, data, (x, labels), eager))
    report = {"model": str(model_path), "data": str(data), "parity_split": recipes[0].parity_split,
              "host": platform.platform(), "results": [asdict(r) for r in results]}
    (out / "export_report.json").write_text(json.dumps(report, indent=2))
    return results


def format_table(results: list[ExportResult]) -> str:
    head = (f"{'artifact':48} {'status':14} {'n':>4} {'top1':>6} {'cos':>8} {'max|Δp|':>8} "
            f"{'bal-acc':>7} {'Δbal':>7} {'MB':>6}")
    lines = [head, "-" * len(head)]
    for r in results:
        p = r.parity
        name = Path(r.path).name if r.path else r.recipe
        if p:
            nums = (f"{p['n']:4d} {p['top1_agreement']:6.3f} {p['cosine_mean']:8.5f} "
                    f"{p['max_abs_diff']:8.1e} {p['balanced_accuracy']:7.4f} "
                    f"{-p['balanced_accuracy_drop']:+7.4f}")
        else:
            nums = f"{'-':>4} {'-':>6} {'-':>8} {'-':>8} {'-':>7} {'-':>7}"
        lines.append(f"{name:48} {r.status:14} {nums} {r.size_bytes / 1e6:6.2f}")
        for prob in r.problems:
            lines.append(f"    ! {prob}")
    if any(r.status == "structure-only" for r in results):
        lines.append("structure-only: CoreML inputs, outputs, labels, precision and metadata verified; "
                     "numeric parity needs macOS (MLModel.predict)")
    return "\n".join(lines)

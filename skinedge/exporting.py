"""``skinedge export``: quantize, convert, check parity, and only then keep the artifact.

Each artifact is built in a temporary folder inside ``--out``, run against the eager model on
real validation images, and moved into place only if it meets its recipe's tolerances.
"""
from __future__ import annotations

import copy
import platform
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .api import softmax
from . import golden
from .atomic import replacing
from .card import ModelCard, software_versions
from .config import Config, option
from .layout import DEFAULT_MODEL, SAMPLE_DATA
from .errors import ConfigError, SkinedgeError
from .export_folder import ExportFolder
from .preprocess import to_model_input
from .recipes import Recipe, by_name_or_file, resolve
from .targets import EXPORT_QUANTIZATIONS, EXPORT_TARGETS, artifact_size, get_target


@dataclass(frozen=True)
class ExportConfig(Config):
    model: str | None = option(None, cli=False)   # positional MODEL on the command line
    target: str = option("all", "backend; all: every preset of every backend",
                         choices=lambda: (*EXPORT_TARGETS, "all"))
    quant: str | None = option(None, "quantization", choices=lambda: (*EXPORT_QUANTIZATIONS, "all"),
                               default_text="the target's default preset")
    recipe: str | None = option(None, "a recipe TOML file, or a shipped recipe's name such as "
                                "executorch-int8-tta8 (overrides --target/--quant)")
    out: str = option("artifacts", "output folder")
    data: str | None = option(None, "HAM10000-layout folder for calibration and parity images "
                              "(the model's train/val split of it)",
                              default_text="the sample shipped with skinedge")
    golden: bool = option(True, "write golden/ beside the artifacts: odd-shaped test images, "
                          "their model inputs, each runnable model's outputs, the cards "
                          "(golden/README.md says the format)")
    progress: bool = option(True, cli=False)


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
    settings: dict = field(default_factory=dict)  # this recipe's parity/calibration images, tolerances
    note: str = ""  # why parity was not measured (structure-only)


def artifact_name(card: ModelCard, recipe: Recipe) -> str:
    t = get_target(recipe.target)
    views = f"_tta{recipe.views}" if recipe.views > 1 else ""
    return f"{card.architecture}_{t.tag}_{recipe.quantization}{views}{t.suffix}"


def _split_images(model_path: Path, card: ModelCard, data: Path, split: str, limit: int,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``limit`` uint8 images [n, S, S, 3] and labels from the model's ``split`` of data."""
    from .data import read_ham10000
    from .data.cache import cached_images
    from .evaluate import select_split

    ds = select_split(model_path, card, read_ham10000(data, require_all_classes=False), split,
                      every='a recipe whose [parity] and [calibration] sections say split = "all"')
    idx = np.sort(np.random.default_rng(seed).permutation(len(ds))[:limit])
    records = [ds.records[i] for i in idx]
    return np.asarray(cached_images(records, card.input_size, progress=False)), \
        np.array([r.label for r in records])


PARITY_FIGURES = ("top1_agreement", "cosine_mean", "cosine_min", "max_abs_diff",
                  "balanced_accuracy_eager", "balanced_accuracy", "balanced_accuracy_drop")


def parity_report(eager_logits: np.ndarray, art_logits: np.ndarray, labels: np.ndarray) -> dict:
    """Agreement of the artifact's logits [N, K] with the eager model's. Images where either
    gave NaN or infinity are counted (``nonfinite_*``) and left out of the figures, which are
    None when no image is left."""
    bad_eager, bad_art = ~np.isfinite(eager_logits).all(1), ~np.isfinite(art_logits).all(1)
    p = {"n": int(len(labels)), "nonfinite_eager": int(bad_eager.sum()),
         "nonfinite_artifact": int(bad_art.sum()), **dict.fromkeys(PARITY_FIGURES)}
    ok = ~(bad_eager | bad_art)
    if not ok.any():
        return p
    e, a, labels = eager_logits[ok], art_logits[ok], np.asarray(labels)[ok]
    pe, pa = softmax(e), softmax(a)
    cos = (e * a).sum(1) / (np.linalg.norm(e, axis=1) * np.linalg.norm(a, axis=1) + 1e-12)
    from .metrics import classification_metrics  # scipy: slow to import, keep --help fast

    be = classification_metrics(labels, pe)["balanced_accuracy"]
    ba = classification_metrics(labels, pa)["balanced_accuracy"]
    return {**p, "top1_agreement": float((pe.argmax(1) == pa.argmax(1)).mean()),
            "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
            "max_abs_diff": float(np.abs(pe - pa).max()),
            "balanced_accuracy_eager": float(be), "balanced_accuracy": float(ba),
            "balanced_accuracy_drop": float(be - ba)}


def check_tolerances(p: dict, r: Recipe) -> list[str]:
    """The recipe's tolerances an artifact misses; any NaN or infinite output is one."""
    problems = []
    if p.get("nonfinite_artifact"):
        problems.append(f"non-finite outputs: {p['nonfinite_artifact']} of {p['n']} images gave "
                        "NaN or infinite logits")
    if p.get("nonfinite_eager"):
        problems.append(f"the eager model gave NaN or infinite logits on {p['nonfinite_eager']} "
                        f"of {p['n']} images: the checkpoint is broken")
    if problems:
        return problems
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


class ImageSets:
    """Real images of the model's splits for calibration and parity, each (split, n, seed)
    decoded once and shared by every recipe that asks for the same set; the eager model's
    logits likewise."""

    def __init__(self, model, card: ModelCard, model_path: Path, data: Path):
        self.model, self.card, self.model_path, self.data = model, card, model_path, data
        self._images: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._eager: dict[tuple, np.ndarray] = {}

    def get(self, split: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """float32 model inputs [n', 3, S, S] (n' <= n: the split may be smaller) and labels."""
        key = (split, n, seed)
        if key not in self._images:
            imgs, labels = _split_images(self.model_path, self.card, self.data, split, n, seed)
            self._images[key] = (to_model_input(imgs), labels)
        return self._images[key]

    def eager_logits(self, split: str, n: int, views: int = 1) -> np.ndarray:
        key = (split, n, views)
        if key not in self._eager:
            x, _ = self.get(split, n)
            import torch

            from .models import with_views

            model = with_views(self.model, views)
            with torch.no_grad():
                self._eager[key] = np.concatenate([model(torch.from_numpy(x[i:i + 64])).numpy()
                                                   for i in range(0, len(x), 64)])
        return self._eager[key]


def _run_artifact(module, path: Path, x: np.ndarray, batch: int = 64) -> np.ndarray:
    rt = module.Runtime(path)
    return np.concatenate([rt.run(x[i:i + batch]) for i in range(0, len(x), batch)])


def _check(res: ExportResult, module, path: Path, recipe: Recipe, images: ImageSets) -> None:
    """Parity with the eager model on the recipe's own images where the artifact can run
    here; its structure otherwise."""
    runs, why = module.can_run_here()
    if not runs:
        res.problems, res.note = module.verify_structure(path), why
        res.status = "structure-only" if not res.problems else "failed"
        return
    x, labels = images.get(recipe.parity_split, recipe.parity_images)
    eager = images.eager_logits(recipe.parity_split, recipe.parity_images, recipe.views)
    try:
        logits = _run_artifact(module, path, x)
    except Exception as exc:  # a runtime that fails (or refuses its outputs) fails the artifact
        res.problems, res.status = [f"the artifact failed to run: {type(exc).__name__}: "
                                    f"{str(exc)[:300]}"], "failed"
        return
    res.parity = parity_report(eager, logits, labels)
    res.problems = check_tolerances(res.parity, recipe)
    res.status = "ok" if not res.problems else "failed"


def export_one(model, card: ModelCard, recipe: Recipe, folder: ExportFolder,
               images: ImageSets) -> ExportResult:
    """Build one artifact, check it, and move it into ``folder`` only if it passes."""
    t0 = time.time()
    target = get_target(recipe.target)
    module = target.load_module()
    calibrated = recipe.quantization in target.calibrated
    res = ExportResult(recipe.name, recipe.target, recipe.quantization,
                       settings=recipe.settings(calibrated))
    calib = images.get(recipe.calibration_split, recipe.calibration_images, seed=1)[0] \
        if calibrated else None
    name = artifact_name(card, recipe)
    # The artifact records the software that made it (the version decides how strictly a card
    # without its integrity hash is refused: card.py); the training-time versions stay in
    # ``training.software``.
    card = card.with_(software=software_versions(),
                      training={**card.training, "software": card.training.get(
                          "software", dict(card.software))})
    if recipe.views > 1:  # the view average is part of the graph: the card says so
        from .models import with_views

        model, card = with_views(model, recipe.views), card.with_(views=recipe.views,
                                                                   flops=card.flops * recipe.views)
    with folder.work_dir() as tmp:
        try:
            module.export(copy.deepcopy(model).eval(), card, Path(tmp) / name, recipe, calib)
        except SkinedgeError:
            raise
        except Exception as exc:  # a converter failure is reported, not a crash of the batch
            res.problems.append(f"conversion failed: {type(exc).__name__}: {str(exc)[:300]}")
        else:
            _check(res, module, Path(tmp) / name, recipe, images)
            if res.status != "failed":
                folder.keep(Path(tmp))
                res.path = str(folder.root / name)
                res.size_bytes = artifact_size(folder.root / name)
    res.seconds = round(time.time() - t0, 1)
    return res


def run_export(cfg: ExportConfig, recipes: list[Recipe] | None = None) -> list[ExportResult]:
    """Export ``cfg.model`` per ``recipes`` (default: those ``cfg`` names), each checked on
    its own recipe's images; merges the results into ``export_report.json`` beside the
    artifacts. Everything a user can get wrong is checked before the first conversion."""
    from tqdm import tqdm

    model_path = Path(cfg.model) if cfg.model else DEFAULT_MODEL
    if not (model_path / "card.json").is_file():
        raise ConfigError(f"{model_path}: export starts from a checkpoint folder (with card.json); "
                          "an exported artifact cannot be exported again")
    if recipes is None:
        recipes = [by_name_or_file(cfg.recipe)] if cfg.recipe else resolve(cfg.target, cfg.quant)
    for r in recipes:  # a missing backend fails here, before any conversion
        get_target(r.target).load_module()
    folder = ExportFolder(cfg.out)
    from .checkpoint import load_checkpoint

    model, card = load_checkpoint(model_path)
    names = [artifact_name(card, r) for r in recipes]
    folder.check_free(names)
    if cfg.golden:
        golden.check_free(folder.root / golden.GOLDEN)
    folder.remove_stale()
    data = Path(cfg.data) if cfg.data else SAMPLE_DATA
    images = ImageSets(model, card, model_path, data)
    for r in recipes:  # a split that does not fit the data fails here, not after a conversion
        images.get(r.parity_split, r.parity_images)
        if r.quantization in get_target(r.target).calibrated:
            images.get(r.calibration_split, r.calibration_images, seed=1)
    split_src, split_dest = model_path / "split.json", folder.root / "split.json"
    if split_src.is_file() and not split_dest.exists():
        with replacing(split_dest) as tmp:
            shutil.copy2(split_src, tmp)
    results = []
    bar = tqdm(recipes, desc="export", disable=not cfg.progress, unit="artifact")
    for r in bar:
        bar.set_postfix_str(r.name)
        results.append(export_one(model, card, r, folder, images))
    folder.record(results, names, {"model": str(model_path), "data": str(data),
                                   "host": platform.platform()})
    if cfg.golden:  # the checkpoint and every artifact whose parity ran here
        golden.write_golden(folder.root / golden.GOLDEN, model_path,
                            [r.path for r in results if r.status == "ok"])
    return results


def format_table(results: list[ExportResult]) -> str:
    head = (f"{'artifact':48} {'status':14} {'n':>4} {'top1':>6} {'cos':>8} {'max|Δp|':>8} "
            f"{'bal-acc':>7} {'Δbal':>7} {'MB':>6}")
    lines = [head, "-" * len(head)]
    for r in results:
        p = r.parity
        name = Path(r.path).name if r.path else r.recipe
        if p and p["top1_agreement"] is not None:  # None: no image gave finite outputs
            nums = (f"{p['n']:4d} {p['top1_agreement']:6.3f} {p['cosine_mean']:8.5f} "
                    f"{p['max_abs_diff']:8.1e} {p['balanced_accuracy']:7.4f} "
                    f"{-p['balanced_accuracy_drop']:+7.4f}")
        else:
            nums = f"{'-':>4} {'-':>6} {'-':>8} {'-':>8} {'-':>7} {'-':>7}"
        lines.append(f"{name:48} {r.status:14} {nums} {r.size_bytes / 1e6:6.2f}")
        for prob in r.problems:
            lines.append(f"    ! {prob}")
    for note in dict.fromkeys(r.note for r in results if r.status == "structure-only"):
        lines.append(f"structure-only: inputs, outputs, labels, precision and embedded card "
                     f"verified; numeric parity not measured: {note}")
    return "\n".join(lines)

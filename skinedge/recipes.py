"""Export recipes: one TOML file per preset in ``export/`` (shipped in the wheel as
``skinedge/recipes``). A recipe names the target, the quantization, the calibration data and
the parity tolerances an artifact must meet before it is kept."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from .config import Config, option
from .errors import ConfigError
from .targets import EXPORT_TARGETS, TARGETS

SPLIT_CHOICES = ("train", "val", "test", "all")


def recipe_dirs() -> list[Path]:
    here = Path(__file__).resolve().parent
    return [p for p in (here / "recipes", here.parent / "export") if p.is_dir()]


@dataclass(frozen=True)
class Recipe(Config):
    """Types, splits and bounds are checked when a recipe is built (``Config``)."""
    name: str
    target: str
    quantization: str
    description: str = ""
    default: bool = False
    calibration_split: str = option("train", cli=False, flag="[calibration] split",
                                    choices=SPLIT_CHOICES)
    calibration_images: int = option(128, cli=False, flag="[calibration] images", min=1,
                                     max=100_000)
    parity_split: str = option("val", cli=False, flag="[parity] split", choices=SPLIT_CHOICES)
    parity_images: int = option(512, cli=False, flag="[parity] images", min=1, max=100_000)
    # Tolerances ([parity] section): top-1 agreement, mean per-image cosine of logits, largest
    # difference of a probability, drop of balanced accuracy.
    min_top1_agreement: float = option(0.99, cli=False, min=0, max=1)
    min_cosine: float = option(0.999, cli=False, min=-1, max=1)
    max_abs_diff: float = option(1e-3, cli=False, min=0, max=1)
    max_balanced_accuracy_drop: float = option(0.01, cli=False, min=0, max=1)
    views: int = 1  # 8: average the 8 dihedral views inside the graph (8x the compute)
    options: dict = field(default_factory=dict)  # target-specific settings
    source: str = ""

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.options, dict):
            raise ConfigError(f"options {self.options!r}: must be a table ([options])")

    @classmethod
    def from_file(cls, path: Path) -> "Recipe":
        path = Path(path)
        try:
            doc = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: recipe file not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not a text file, so not a TOML recipe") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the recipe ({exc.strerror or exc})") from None
        flat = {k: v for k, v in doc.items() if not isinstance(v, dict)}
        for section in ("calibration", "parity"):
            for k, v in doc.get(section, {}).items():
                key = k if k.startswith(("min_", "max_")) else f"{section}_{k}"
                flat[key] = v
        if "options" in doc:
            flat["options"] = doc["options"]
        unknown = set(flat) - {f.name for f in fields(cls)} - {"name", "source"}
        unknown |= set(doc) - set(flat) - {"calibration", "parity", "options"}
        if unknown:
            raise ConfigError(f"{path}: unknown recipe key(s) {', '.join(sorted(unknown))}")
        flat.setdefault("name", path.stem)
        try:
            recipe = cls(**{**flat, "source": str(path)})
        except (TypeError, ConfigError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
        if recipe.target not in EXPORT_TARGETS:
            raise ConfigError(f"{path}: unknown target '{recipe.target}'; choose "
                              f"{', '.join(EXPORT_TARGETS)}")
        if recipe.views not in (1, 8):
            raise ConfigError(f"{path}: views must be 1 or 8 (the dihedral views), not "
                              f"{recipe.views!r}")
        target = TARGETS[recipe.target]
        if recipe.quantization not in target.quantizations:
            raise ConfigError(f"{path}: target {recipe.target} has no quantization "
                              f"'{recipe.quantization}' (choose {', '.join(target.quantizations)})")
        return recipe

    def settings(self, calibrated: bool) -> dict:
        """The images and tolerances this recipe's export is held to (for its report)."""
        return {"parity": {"split": self.parity_split, "images": self.parity_images},
                "calibration": ({"split": self.calibration_split, "images": self.calibration_images}
                                if calibrated else None),
                "tolerances": {"min_top1_agreement": self.min_top1_agreement,
                               "min_cosine": self.min_cosine, "max_abs_diff": self.max_abs_diff,
                               "max_balanced_accuracy_drop": self.max_balanced_accuracy_drop}}


def all_recipes() -> dict[str, Recipe]:
    out: dict[str, Recipe] = {}
    for d in recipe_dirs():
        for p in sorted(d.glob("*.toml")):
            out.setdefault(p.stem, Recipe.from_file(p))
    return out


def by_name_or_file(spec: str) -> Recipe:
    """``--recipe``: a TOML file, or the name of a shipped recipe (e.g. executorch-int8-tta8)."""
    if Path(spec).is_file() or spec.endswith(".toml"):
        return Recipe.from_file(Path(spec))
    recipes = all_recipes()
    if spec not in recipes:
        raise ConfigError(f"{spec}: neither a recipe file nor a shipped recipe; shipped: "
                          f"{', '.join(sorted(recipes))}")
    return recipes[spec]


def resolve(target: str, quant: str | None) -> list[Recipe]:
    """Recipes for ``target`` ("all" for every export target) and ``quant``: None means the
    target's default preset (every preset with target "all"); "all" means every preset.
    Recipes with test-time views inside the graph (8x the compute) are variants: only
    ``--recipe NAME`` selects them."""
    recipes = {k: r for k, r in all_recipes().items() if r.views == 1}
    targets = list(EXPORT_TARGETS) if target == "all" else [target]
    chosen = []
    for t in targets:
        if t not in EXPORT_TARGETS:
            raise ConfigError(f"unknown target '{t}'; choose {', '.join(EXPORT_TARGETS)} or all")
        mine = [r for r in recipes.values() if r.target == t]
        if quant is None and target != "all":
            pick = [r for r in mine if r.default][:1]
        elif quant in (None, "all"):
            pick = mine
        else:
            pick = [r for r in mine if r.quantization == quant]
            if not pick:
                raise ConfigError(f"target {t} has no '{quant}' preset; choose "
                                  f"{', '.join(sorted(r.quantization for r in mine))}")
        if not pick:
            raise ConfigError(f"no recipe for target {t} in {', '.join(map(str, recipe_dirs()))}")
        chosen.extend(pick)
    return chosen

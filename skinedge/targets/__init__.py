"""One table of targets (DESIGN.md contract 1).

Each target is one small module that implements :class:`TargetModule`; this table drives the
CLI choices, runtime selection by suffix, the export and benchmark loops and the
parametrized tests. Nothing outside this package tests a target's (or a platform's) name: it
asks the table or the module. Modules (and their heavy backends) are imported only when a
target is used.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

    from ..card import ModelCard


@runtime_checkable
class TargetRuntime(Protocol):
    """``Runtime(path, threads=None)``: the artifact loaded (its card's sha256 checked) on this
    machine's runtime for the target, with ``threads`` intra-op threads (None: the runtime's
    default; a runtime without a thread setting takes the argument and says so)."""

    name: str
    card: ModelCard

    def run(self, x: np.ndarray) -> np.ndarray:
        """float32 [N, 3, S, S] RGB in [0, 1] -> float32 [N, K] logits (or log-probabilities)."""


@runtime_checkable
class TargetModule(Protocol):
    """What every module in the table provides."""

    Runtime: type[TargetRuntime]

    def export(self, model, card: ModelCard, dest: Path, recipe,
               calibration: np.ndarray | None) -> ModelCard:
        """Write ``dest`` from an eager model per ``recipe``; calibration: float32
        [N, 3, S, S] real images when the table lists the quantization as calibrated."""

    def read_card(self, path: Path, verify: bool = True) -> ModelCard:
        """The embedded model card; ``verify`` checks its sha256 (CheckpointError if not)."""

    def can_run_here(self) -> tuple[bool, str]:
        """(True, "") when ``Runtime`` can run on this machine, else (False, why not)."""

    def structure(self, path: Path) -> dict:
        """What an app relies on, read from the file without running it (any OS)."""

    def verify_structure(self, path: Path) -> list[str]:
        """Problems an app would hit, checked against the embedded card; empty when none.
        Used where the artifact cannot run here, and by ``skinedge inspect``."""

    def graph_macs(self, path: Path) -> dict[str, int] | None:
        """Multiply-adds per op type counted on the artifact's own graph at batch 1, or None
        where the format gives no graph to count (the card's torch count stands alone)."""


@dataclass(frozen=True)
class Target:
    name: str
    suffix: str  # "" for a checkpoint folder
    module: str
    extra: str  # pip extra that installs the backend
    quantizations: tuple[str, ...]  # first is the unquantized reference
    tag: str = ""  # backend name in artifact file names
    calibrated: tuple[str, ...] = ()  # quantizations whose export calibrates on real images
    reference: bool = False  # the eager checkpoint every export starts from and is checked against
    baseline: str = ""  # its unquantized runtime is a benchmark baseline, under this label

    def load_module(self) -> TargetModule:
        module = importlib.import_module(self.module)
        if not isinstance(module, TargetModule):
            members = {*TargetModule.__annotations__, *(k for k in vars(TargetModule) if k[0] != "_")}
            missing = [m for m in members if not hasattr(module, m)]
            raise ConfigError(f"{self.module}: target module lacks {', '.join(sorted(missing))} "
                              "(see TargetModule in skinedge/targets/__init__.py)")
        return module

    def can_run_here(self) -> tuple[bool, str]:
        return self.load_module().can_run_here()


TARGETS: dict[str, Target] = {
    t.name: t for t in (
        Target("eager", "", "skinedge.targets.eager", "", ("fp32", "fp16"), tag="eager",
               reference=True, baseline="eager_fp32"),
        Target("executorch", ".pte", "skinedge.targets.executorch", "export", ("fp32", "int8"),
               tag="xnnpack", calibrated=("int8",)),
        Target("coreml", ".mlpackage", "skinedge.targets.coreml", "export",
               ("fp32", "fp16", "int8"), tag="coreml"),  # int8 is weight-only: no calibration
        Target("onnx", ".onnx", "skinedge.targets.onnx", "export", ("fp32", "int8"), tag="onnx",
               calibrated=("int8",), baseline="onnxruntime_fp32"),
    )
}
EXPORT_TARGETS = tuple(n for n, t in TARGETS.items() if not t.reference)
# Every quantization some export target offers, in table order (the CLI's --quant choices).
EXPORT_QUANTIZATIONS = tuple(dict.fromkeys(q for n in EXPORT_TARGETS for q in TARGETS[n].quantizations))


def artifact_size(path: str | Path) -> int:
    """Bytes on disk of a file or of a folder artifact (.mlpackage, checkpoint)."""
    path = Path(path)
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise ConfigError(f"unknown target '{name}'; choose one of: {', '.join(TARGETS)}") from None


def target_for_path(path: str | Path) -> Target:
    path = Path(path)
    for t in TARGETS.values():
        if t.suffix and path.name.endswith(t.suffix):
            return t
    reference = next(t for t in TARGETS.values() if t.reference)
    if path.is_dir() and (path / "card.json").is_file():
        return reference
    raise ConfigError(f"{path}: not a model; expected a checkpoint folder (with card.json) or "
                      f"a file ending in {', '.join(t.suffix for t in TARGETS.values() if t.suffix)}")


def artifacts_in(folder: str | Path) -> list[Path]:
    """The models in a folder (checkpoint sub-folders and files with a target's suffix),
    sorted; sidecars, reports and split files are left out."""
    found = []
    for p in sorted(Path(folder).iterdir()):
        try:
            target_for_path(p)
        except ConfigError:
            continue
        found.append(p)
    return found

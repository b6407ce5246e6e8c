"""One table of targets (DESIGN.md contract 1).

Each target is a small module with ``export(...)`` and a ``Runtime`` class; this table drives
the CLI choices, runtime selection by suffix, the benchmark loop and the parametrized tests.
Modules (and their heavy backends) are imported only when a target is used.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError


@dataclass(frozen=True)
class Target:
    name: str
    suffix: str  # "" for a checkpoint folder
    module: str
    extra: str  # pip extra that installs the backend
    quantizations: tuple[str, ...]  # first is the unquantized reference
    tag: str = ""  # backend name in artifact file names
    runs_on_linux: bool = True

    def load_module(self):
        return importlib.import_module(self.module)


TARGETS: dict[str, Target] = {
    t.name: t for t in (
        Target("eager", "", "skinedge.targets.eager", "", ("fp32", "fp16"), tag="eager"),
        Target("executorch", ".pte", "skinedge.targets.executorch", "export", ("fp32", "int8"),
               tag="xnnpack"),
        Target("coreml", ".mlpackage", "skinedge.targets.coreml", "export",
               ("fp32", "fp16", "int8"), tag="coreml", runs_on_linux=False),
        Target("onnx", ".onnx", "skinedge.targets.onnx", "export", ("fp32", "int8"), tag="onnx"),
    )
}
EXPORT_TARGETS = tuple(n for n in TARGETS if n != "eager")


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
    if path.is_dir() and (path / "card.json").is_file():
        return TARGETS["eager"]
    raise ConfigError(f"{path}: not a model; expected a checkpoint folder (with card.json) or "
                      f"a file ending in {', '.join(t.suffix for t in TARGETS.values() if t.suffix)}")

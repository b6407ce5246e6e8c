"""Training configuration: parsed once from flags (or a TOML file), saved beside the run."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..errors import ConfigError

BALANCE_MODES = ("none", "sampler", "loss", "both")


def config_from_dict(cls, d: dict, what: str):
    """A frozen config dataclass from its saved JSON: unknown keys are an error, and JSON
    lists become the tuples the dataclass holds."""
    unknown = set(d) - {f.name for f in fields(cls)}
    if unknown:
        raise ConfigError(f"unknown {what} option(s): {', '.join(sorted(unknown))}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


@dataclass(frozen=True)
class TrainConfig:
    data: str
    out: str
    model: str = "mobilenetv4_conv_small"
    img_size: int = 128
    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_epochs: int = 2
    label_smoothing: float = 0.1
    balance: str = "sampler"  # measured: benchmarks/results/balance_comparison.json
    seed: int = 0
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    split_file: str | None = None
    drop_rate: float = 0.0
    workers: int = 0
    eval_batch_size: int = 128
    synthetic: str | None = None         # a `skinedge synth sample` folder, train split only
    synthetic_ratio: float | None = None  # synthetic share of the training set (None: all)
    max_batches_per_epoch: int | None = None  # for smoke tests: cap each epoch's batches
    progress: bool = True

    def __post_init__(self):
        if self.balance not in BALANCE_MODES:
            raise ConfigError(f"--balance {self.balance!r}: choose one of {', '.join(BALANCE_MODES)}")
        for name in ("img_size", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive")
        if self.img_size % 16:
            raise ConfigError(f"--img-size {self.img_size} must be a multiple of 16")

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return config_from_dict(cls, d, "training")

    def resumable_with(self, other: "TrainConfig") -> bool:
        """Everything but the epoch count and cosmetic options must match to resume."""
        skip = {"epochs", "progress", "workers", "eval_batch_size", "out"}  # a moved run resumes
        a, b = self.to_dict(), other.to_dict()
        return all(a[k] == b[k] for k in a if k not in skip)

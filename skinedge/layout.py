"""Where things live: the shipped assets, the default split fractions, and the file names
inside a run folder. Import-light (no torch), so the CLI and every stage can share it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ASSETS = Path(__file__).parent / "assets"
DEFAULT_MODEL = ASSETS / "default_model"      # the shipped student checkpoint
SAMPLE_DATA = ASSETS / "ham10000_sample"      # the shipped, attributed HAM10000 sample
SPLIT_FRACTIONS: tuple[float, float, float] = (0.7, 0.15, 0.15)  # train, val, test by lesion

CONFIG = "config.json"
SPLIT = "split.json"
METRICS = "metrics.json"
STATE = "trainer_state.json"          # inside a resumable checkpoint (last/)
OPTIMIZER = "optimizer.safetensors"   # inside a resumable checkpoint (last/)


@dataclass(frozen=True)
class RunFolder:
    """The layout of one training run: ``root/config.json``, ``split.json``, ``best/``, ..."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / CONFIG

    @property
    def split(self) -> Path:
        return self.root / SPLIT

    @property
    def metrics(self) -> Path:
        return self.root / METRICS

    @property
    def best(self) -> Path:
        return self.root / "best"

    @property
    def last(self) -> Path:
        return self.root / "last"

    @property
    def curves(self) -> Path:
        return self.root / "training_curves.png"

    def confusion(self, split: str) -> Path:
        return self.root / f"confusion_{split}.png"

"""Training configuration: declared once (flags, help, saved config, resume rules)."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import Config, option
from ..errors import ConfigError
from ..layout import SAMPLE_DATA, SPLIT_FRACTIONS

BALANCE_MODES = ("none", "sampler", "loss", "both")


def model_names() -> list[str]:
    from ..models.registry import MODELS

    return sorted(MODELS)


@dataclass(frozen=True)
class TrainConfig(Config):
    out: str = option(help="run folder (config, split, checkpoints, plots)", resume=False)
    data: str = option(str(SAMPLE_DATA), "HAM10000-layout folder (HAM10000_metadata.csv beside "
                       "the image folders)", default_text="the sample shipped with skinedge")
    model: str = option("mobilenetv4_conv_small", "architecture from the registry", flag="--arch",
                        choices=model_names, metavar="NAME")
    img_size: int = option(128, "input resolution in px (a multiple of 16)")
    epochs: int = option(30, "training epochs", resume=False)
    batch_size: int = option(64, "global batch size (all processes together)")
    lr: float = option(2e-3, "peak learning rate (AdamW; warm-up then cosine)")
    weight_decay: float = option(0.05, "AdamW weight decay (not on norms and biases)")
    warmup_epochs: int = option(2, "epochs of linear learning-rate warm-up", flag="--warmup")
    label_smoothing: float = option(0.1, "label smoothing of the cross-entropy, in [0, 1)")
    # Measured: benchmarks/results/balance_comparison.json
    balance: str = option("sampler", "imbalance handling: class-balanced sampler, "
                          "class-weighted loss, both, or none", choices=BALANCE_MODES)
    seed: int = option(0, "seed of the split and of the training")
    split_fractions: tuple[float, float, float] = option(SPLIT_FRACTIONS, "train,val,test "
                                                         "shares of the lesions")
    split_file: str | None = option(None, "reuse the split.json of another run (must exist)")
    drop_rate: float = option(0.0, "dropout before the classifier, in [0, 1)")
    workers: int = option(0, "data-loader worker processes", resume=False)
    eval_batch_size: int = option(128, "batch size of validation passes", resume=False)
    synthetic: str | None = option(None, "add a `skinedge synth sample` dataset to the train "
                                   "split (val/test stay real)", metavar="DIR")
    synthetic_ratio: float | None = option(None, "synthetic share of the training set, in "
                                           "[0, 1)", metavar="R",
                                           default_text="every image in --synthetic")
    init: str | None = option(None, "checkpoint whose weights start the model (all but the "
                              "classifier head), e.g. `skinedge pretrain` RUN/best; same "
                              "architecture and input size", metavar="CHECKPOINT")
    layer_decay: float = option(1.0, "ViTs: learning rate x DECAY per block below the top "
                                "(layer-wise decay for fine-tuning; 1 = off)")
    drop_path: float = option(0.0, "stochastic depth rate, in [0, 1)")
    mixup: float = option(0.0, "mixup alpha (0 = off)")
    cutmix: float = option(0.0, "cutmix alpha (0 = off); with both, each batch picks one")
    max_batches_per_epoch: int | None = option(None, "cap the batches of each epoch (smoke "
                                               "tests)", flag="--max-batches")
    progress: bool = option(True, "show progress bars", resume=False)

    def __post_init__(self):
        for name in ("img_size", "epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive")
        if self.img_size % 16 or self.img_size > 1024:
            raise ConfigError(f"--img-size {self.img_size} must be a multiple of 16, at most 1024")
        for name, lo, hi in (("label_smoothing", 0, 1), ("drop_rate", 0, 1), ("drop_path", 0, 1),
                             ("layer_decay", 1e-3, 1.000001), ("mixup", 0, 100), ("cutmix", 0, 100)):
            if not lo <= getattr(self, name) < hi:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)} must be in "
                                  f"[{lo}, {hi})")
        if self.lr <= 0 or self.weight_decay < 0 or self.warmup_epochs < 0:
            raise ConfigError("--lr must be positive; --weight-decay and --warmup not negative")
        if self.seed < 0 or self.workers < 0:
            raise ConfigError("--seed and --workers must not be negative")
        if self.synthetic_ratio is not None and not 0 <= self.synthetic_ratio < 1:
            raise ConfigError(f"--synthetic-ratio {self.synthetic_ratio} must be in [0, 1)")

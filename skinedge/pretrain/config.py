"""MAE pre-training configuration and presets."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import MAX_SEED, Config, option
from ..errors import ConfigError
from ..layout import SAMPLE_DATA, SPLIT_FRACTIONS


def vit_names() -> list[str]:
    from ..models.registry import MODELS

    return sorted(n for n, s in MODELS.items() if s.is_vit)


@dataclass(frozen=True)
class PretrainConfig(Config):
    out: str = option(help="run folder (config, split, checkpoints, reconstructions)",
                      resume=False)
    data: str = option(str(SAMPLE_DATA), "HAM10000-layout folder; only its train split is used",
                       default_text="the sample shipped with skinedge")
    preset: str = option("cpu", "smoke: seconds (tests); cpu: ViT-Ti/16 at 128 px, 80 epochs, "
                         "about 2 h on 2 cores; gpu: ViT-B/16 at 224 px",
                         choices=("smoke", "cpu", "gpu"),
                         resume=False)
    model: str = option("vit_tiny_patch16", "ViT from the registry", flag="--arch",
                        choices=vit_names, metavar="NAME")
    img_size: int = option(128, "input resolution in px (a multiple of 16)",
                           min=16, max=1024)
    epochs: int = option(80, "epochs over the train split", resume=False, min=1,
                         max=100_000)
    batch_size: int = option(64, "global batch size", min=1, max=65_536)
    lr: float = option(5e-4, "peak learning rate (AdamW, betas 0.9/0.95; warm-up then cosine)",
                       above=0, max=10)
    weight_decay: float = option(0.05, "AdamW weight decay", min=0, max=10)
    warmup_epochs: int = option(5, "epochs of linear warm-up", flag="--warmup", min=0,
                                max=100_000)
    mask_ratio: float = option(0.75, "share of patches hidden from the encoder", above=0,
                               below=1)
    decoder_dim: int = option(256, "decoder width", min=1, max=4096)
    decoder_depth: int = option(4, "decoder blocks", min=1, max=64)
    seed: int = option(0, "seed of the split (same as `skinedge train`) and of the masks",
                       min=0, max=MAX_SEED)
    split_fractions: tuple[float, float, float] = SPLIT_FRACTIONS
    split_file: str | None = option(None, "reuse the split.json of another run (must exist)")
    synthetic: str | None = option(None, "add a `skinedge synth sample` dataset to the "
                                   "pre-training images", metavar="DIR")
    synthetic_ratio: float | None = option(None, cli=False, min=0, below=1)
    max_batches_per_epoch: int | None = option(None, "cap the batches of each epoch (smoke "
                                               "tests)", flag="--max-batches", min=1)
    workers: int = option(0, "data-loader worker processes", resume=False, min=0,
                         max=256)
    eval_batch_size: int = option(128, "batch size of validation passes", resume=False,
                                  min=1, max=65_536)
    val_images: int = option(512, "validation images scored each epoch (fixed masks)",
                             resume=False, min=1)
    progress: bool = option(True, "show progress bars", resume=False)
    balance: str = "none"  # self-supervised: every image equally often
    drop_rate: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        if self.img_size % 16:
            raise ConfigError(f"--img-size {self.img_size}: must be a multiple of 16")


# cpu: ViT-Ti at 128 px runs MAE steps at about 66 img/s here: 80 epochs of ~6k images ~ 2 h.
# (ViT-S MAE runs at 41 img/s, but its fine-tuning at 16 img/s is 4x ViT-Ti's: a night's
# pipeline on 2 cores fits ViT-Ti.)
PRESETS: dict[str, dict] = {
    "cpu": {},
    "gpu": {"model": "vit_base_patch16_teacher", "img_size": 224, "epochs": 400,
            "batch_size": 256, "lr": 1.5e-3, "warmup_epochs": 20, "decoder_dim": 512,
            "decoder_depth": 8},
    "smoke": {"model": "vit_tiny_patch16", "img_size": 32, "epochs": 2, "batch_size": 16,
              "max_batches_per_epoch": 2, "decoder_dim": 32, "decoder_depth": 1,
              "val_images": 16, "warmup_epochs": 1},
}


def preset_config(preset: str, **overrides) -> PretrainConfig:
    """The preset's values, then every override that is not None (flags left unset)."""
    if preset not in PRESETS:
        raise ConfigError(f"--preset {preset!r}: choose one of {', '.join(PRESETS)}")
    return PretrainConfig(preset=preset, **{**PRESETS[preset],
                                            **{k: v for k, v in overrides.items() if v is not None}})

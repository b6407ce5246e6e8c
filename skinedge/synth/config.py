"""Configuration of a synthetic-lesion run: presets, flags, and what must match to resume."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import MAX_SEED, Config, option
from ..errors import ConfigError
from ..layout import SAMPLE_DATA, SPLIT_FRACTIONS


def preset_names() -> list[str]:
    return sorted(PRESETS)


@dataclass(frozen=True)
class SynthConfig(Config):
    out: str = option(help="run folder", resume=False)
    data: str = option(str(SAMPLE_DATA), "HAM10000-layout folder", resume=False,
                       default_text="the sample shipped with skinedge")
    preset: str = option("cpu", "cpu: 64 px, about an hour on 2 cores; gpu: 128 px, wider, 60k "
                         "UNet steps; tiny: seconds, for tests", choices=preset_names)
    img_size: int = option(64, "image size in px", min=8, max=1024)
    seed: int = option(0, "seed of the split and of the training", min=0, max=MAX_SEED)
    split_fractions: tuple[float, float, float] = SPLIT_FRACTIONS
    split_file: str | None = option(None, "reuse a split.json", default_text="the split "
                                    "`skinedge train` makes with the same seed")
    # Autoencoder (diffusers AutoencoderKL): downsampling factor 2 ** (len(channels) - 1).
    ae_channels: tuple[int, ...] = (32, 64, 64)
    ae_layers: int = 1
    latent_channels: int = 4
    ae_steps: int = option(1200, "autoencoder steps", resume=False, min=1, max=10_000_000)
    ae_batch_size: int = option(32, "autoencoder batch size", min=1, max=65_536)
    ae_lr: float = 1e-3
    ae_kl_weight: float = 1e-6
    # Latent UNet (diffusers UNet2DModel, class-conditioned).
    unet_channels: tuple[int, ...] = (64, 128, 192)
    unet_layers: int = 1
    unet_attention: tuple[bool, ...] = (False, True, True)
    unet_steps: int = option(5000, "UNet steps", resume=False, min=1, max=10_000_000)
    unet_batch_size: int = option(64, "UNet batch size", min=1, max=65_536)
    unet_lr: float = 5e-4
    cond_drop: float = option(0.1, "rate of training without the class, for guidance",
                              min=0, below=1)
    class_balance: float = 0.5      # sample class c with weight n_c ** (1 - class_balance)
    ema_decay: float = 0.999
    train_timesteps: int = 1000
    # Monitoring.
    checkpoint_every: int = option(250, "steps between checkpoints", resume=False, min=1)
    sample_every: int = option(1000, "steps between sample grids", resume=False, min=1)
    grid_per_class: int = option(8, resume=False, cli=False, min=1, max=64)
    grid_steps: int = option(25, resume=False, cli=False, min=1, max=1000)
    grid_guidance: float = option(2.0, resume=False, cli=False, min=0, max=100)
    progress: bool = option(True, "show progress bars", resume=False)

    def __post_init__(self):
        super().__post_init__()
        factor = 2 ** (len(self.ae_channels) - 1)
        levels = 2 ** (len(self.unet_channels) - 1)
        if self.img_size % (factor * levels):
            raise ConfigError(f"--img-size {self.img_size} must be a multiple of "
                              f"{factor * levels} (autoencoder x{factor}, UNet x{levels})")
        if len(self.unet_attention) != len(self.unet_channels):
            raise ConfigError("unet_attention needs one flag per UNet level")
        if not 0.0 <= self.class_balance <= 1.0:
            raise ConfigError("--class-balance must be in [0, 1]")

    @property
    def latent_size(self) -> int:
        return self.img_size // 2 ** (len(self.ae_channels) - 1)


# CPU: ~1 hour on 2 cores at 64 px (16x16x4 latents). GPU: 128 px, wider, much longer.
PRESETS: dict[str, dict] = {
    "cpu": {},
    "gpu": {"img_size": 128, "ae_channels": (64, 128, 256), "ae_layers": 2, "ae_steps": 20000,
            "ae_batch_size": 64, "unet_channels": (128, 256, 384), "unet_layers": 2,
            "unet_steps": 60000, "unet_batch_size": 128, "ema_decay": 0.9999,
            "sample_every": 5000, "checkpoint_every": 1000},
    # Seconds on a CPU: for tests and smoke runs only.
    "tiny": {"img_size": 16, "ae_channels": (8, 16), "latent_channels": 4, "ae_steps": 4,
             "ae_batch_size": 8, "unet_channels": (16, 32), "unet_attention": (False, True),
             "unet_steps": 6, "unet_batch_size": 8, "checkpoint_every": 2, "sample_every": 3,
             "grid_per_class": 2, "grid_steps": 3, "ema_decay": 0.9},
}


def preset_config(preset: str, data: str, out: str, **overrides) -> SynthConfig:
    """The preset's values, then every override that is not None (flags left unset)."""
    if preset not in PRESETS:
        raise ConfigError(f"--preset {preset!r}: choose one of {', '.join(PRESETS)}")
    return SynthConfig(data=data, out=out, preset=preset,
                       **{**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}})

"""Configuration of a synthetic-lesion run: presets, flags, and what must match to resume."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ConfigError


@dataclass(frozen=True)
class SynthConfig:
    data: str
    out: str
    preset: str = "cpu"
    img_size: int = 64
    seed: int = 0
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    split_file: str | None = None
    # Autoencoder (diffusers AutoencoderKL): downsampling factor 2 ** (len(channels) - 1).
    ae_channels: tuple[int, ...] = (32, 64, 64)
    ae_layers: int = 1
    latent_channels: int = 4
    ae_steps: int = 1200
    ae_batch_size: int = 32
    ae_lr: float = 1e-3
    ae_kl_weight: float = 1e-6
    # Latent UNet (diffusers UNet2DModel, class-conditioned).
    unet_channels: tuple[int, ...] = (64, 128, 192)
    unet_layers: int = 1
    unet_attention: tuple[bool, ...] = (False, True, True)
    unet_steps: int = 5000
    unet_batch_size: int = 64
    unet_lr: float = 5e-4
    cond_drop: float = 0.1          # probability of training with the null class (CFG)
    class_balance: float = 0.5      # sample class c with weight n_c ** (1 - class_balance)
    ema_decay: float = 0.999
    train_timesteps: int = 1000
    # Monitoring.
    checkpoint_every: int = 250
    sample_every: int = 1000
    grid_per_class: int = 8
    grid_steps: int = 25
    grid_guidance: float = 2.0
    progress: bool = True

    def __post_init__(self):
        for name in ("img_size", "ae_steps", "unet_steps", "ae_batch_size", "unet_batch_size",
                     "checkpoint_every", "sample_every", "grid_per_class", "grid_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive")
        factor = 2 ** (len(self.ae_channels) - 1)
        levels = 2 ** (len(self.unet_channels) - 1)
        if self.img_size % (factor * levels):
            raise ConfigError(f"--img-size {self.img_size} must be a multiple of "
                              f"{factor * levels} (autoencoder x{factor}, UNet x{levels})")
        if len(self.unet_attention) != len(self.unet_channels):
            raise ConfigError("unet_attention needs one flag per UNet level")
        if not 0.0 <= self.cond_drop < 1.0:
            raise ConfigError("--cond-drop must be in [0, 1)")
        if not 0.0 <= self.class_balance <= 1.0:
            raise ConfigError("--class-balance must be in [0, 1]")

    @property
    def latent_size(self) -> int:
        return self.img_size // 2 ** (len(self.ae_channels) - 1)

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, d: dict) -> "SynthConfig":
        from ..train.config import config_from_dict

        return config_from_dict(cls, d, "synth")

    def differences(self, other: "SynthConfig") -> list[str]:
        """Options that stop ``other`` from resuming this run. Step counts, monitoring and
        the folders' paths (a moved run or data copy) may change; the models may not."""
        a, b = self.to_dict(), other.to_dict()
        return [k for k in a if k not in RESUME_FREE and a[k] != b[k]]


RESUME_FREE = {"ae_steps", "unet_steps", "progress", "checkpoint_every", "sample_every",
               "grid_per_class", "grid_steps", "grid_guidance", "data", "out"}


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
    if preset not in PRESETS:
        raise ConfigError(f"--preset {preset!r}: choose one of {', '.join(PRESETS)}")
    return SynthConfig(data=data, out=out, preset=preset,
                       **{**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}})

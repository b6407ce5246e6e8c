"""The networks, from diffusers: an AutoencoderKL and a class-conditioned latent UNet.

Class index ``NULL_CLASS`` (one past the last lesion class) is the "no class" token of
classifier-free guidance: training replaces the label with it at rate ``cond_drop``.
"""
from __future__ import annotations

import os

import torch

from ..errors import BackendMissingError
from ..labels import CLASSES
from .config import SynthConfig
from .layout import SAMPLERS

NULL_CLASS = len(CLASSES)


def _diffusers():
    # diffusers warns on import that torchao's tensor types are missing (unused here).
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    try:
        import diffusers
    except ImportError:
        raise BackendMissingError("diffusers", "synth") from None
    return diffusers


def build_autoencoder(cfg: SynthConfig):
    n = len(cfg.ae_channels)
    return _diffusers().AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n, block_out_channels=tuple(cfg.ae_channels),
        layers_per_block=cfg.ae_layers, latent_channels=cfg.latent_channels,
        norm_num_groups=min(32, cfg.ae_channels[0] // 2), sample_size=cfg.img_size)


def build_unet(cfg: SynthConfig):
    down = tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in cfg.unet_attention)
    up = tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(cfg.unet_attention))
    return _diffusers().UNet2DModel(
        sample_size=cfg.latent_size, in_channels=cfg.latent_channels,
        out_channels=cfg.latent_channels, block_out_channels=tuple(cfg.unet_channels),
        layers_per_block=cfg.unet_layers, down_block_types=down, up_block_types=up,
        attention_head_dim=32, norm_num_groups=min(32, cfg.unet_channels[0] // 2),
        num_class_embeds=NULL_CLASS + 1)


def train_scheduler(cfg: SynthConfig):
    return _diffusers().DDPMScheduler(num_train_timesteps=cfg.train_timesteps,
                         beta_schedule="squaredcos_cap_v2", prediction_type="epsilon")




def sample_scheduler(cfg: SynthConfig, sampler: str = "dpm"):
    d = _diffusers()
    # "leading" spacing starts at t = T - T/steps (960 of 1000 at 25 steps). The cosine
    # schedule's last timesteps have alpha_bar down to 2e-9, where the x0 implied by an
    # epsilon prediction amplifies its error ~1e4-fold: starting at t = 999 (diffusers'
    # default "linspace") gave blue, saturated noise from a model that samples well at 960.
    kw = dict(num_train_timesteps=cfg.train_timesteps, beta_schedule="squaredcos_cap_v2",
              prediction_type="epsilon", timestep_spacing="leading")
    if sampler == "dpm":
        return d.DPMSolverMultistepScheduler(**kw, algorithm_type="dpmsolver++")
    if sampler == "ddim":
        return d.DDIMScheduler(**kw, clip_sample=False)
    raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")


@torch.no_grad()
def generate(unet, vae, scheduler, labels: torch.Tensor, guidance: float, steps: int,
             scaling: float, generator: torch.Generator | None = None,
             latent_shape: tuple[int, int, int] | None = None,
             noise: torch.Tensor | None = None) -> torch.Tensor:
    """Images [N, 3, S, S] in [0, 1] for class ``labels`` with classifier-free guidance.

    The starting noise is ``noise`` or drawn from ``generator``; the samplers are
    deterministic after that, so an image depends only on its noise, class and guidance.
    """
    dev = next(unet.parameters()).device
    latents = noise if noise is not None else torch.randn((len(labels), *latent_shape),
                                                         generator=generator)
    latents, labels = latents.to(dev), labels.to(dev)
    scheduler.set_timesteps(steps)
    latents = latents * scheduler.init_noise_sigma
    null = torch.full_like(labels, NULL_CLASS)
    for t in scheduler.timesteps:
        inp = scheduler.scale_model_input(latents, t)
        if guidance == 1.0:
            eps = unet(inp, t, class_labels=labels).sample
        else:
            both = unet(torch.cat([inp, inp]), t, class_labels=torch.cat([labels, null])).sample
            cond, uncond = both.chunk(2)
            eps = uncond + guidance * (cond - uncond)
        latents = scheduler.step(eps, t, latents).prev_sample
    images = vae.decode(latents / scaling).sample.float().cpu()
    return (images.clamp(-1, 1) + 1) / 2

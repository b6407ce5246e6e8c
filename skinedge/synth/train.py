"""Train the latent diffusion model: the autoencoder first, then the class-conditioned UNet.

Only the *train* split of the classifier's lesion-disjoint split is used (same seed and
fractions as ``skinedge train``), so no validation or test lesion leaks into synthetic data.

Run folder::

    config.json  split.json            what was trained, on which images
    autoencoder/  unet/                resumable stage checkpoints (weights, EMA, optimizer,
                                       state.json), each written by an atomic folder swap
    samples/*.png                      reconstructions and per-class sample grids over time
    loss_curves.png
    model/                             the finished model; only this folder is sampled from

Every step's batch and noise come from generators seeded by (seed, stage, step), so a run
resumed from a checkpoint continues exactly as if it had not stopped.
"""
from __future__ import annotations

import copy
import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ..card import sha256_file
from ..atomic import write_folder
from ..checkpoint import read_tensors, load_optimizer_tensors, optimizer_tensors
from ..data import read_ham10000
from ..errors import ConfigError
from ..layout import RunFolder
from ..runs import cache_rank0_first, load_or_make_split, open_run, start_process_group
from ..labels import CLASSES
from ..distributed import DistEnv
from .config import SynthConfig
from .layout import MODEL_CARD, MODEL_DIR, SCHEMA, STATE
from .images import save_grid, save_loss_curves
from .models import (NULL_CLASS, build_autoencoder, build_unet, generate, sample_scheduler,
                     train_scheduler)

STAGES = ("autoencoder", "unet")
WARMUP = 100


def _rng(cfg: SynthConfig, stage: str, step: int) -> tuple[np.random.Generator, torch.Generator]:
    s = [cfg.seed, STAGES.index(stage), step]
    return np.random.default_rng(s), torch.Generator().manual_seed(
        (cfg.seed * 7919 + STAGES.index(stage)) * 1_000_003 + step)


def dihedral(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Apply one of the 8 rotations/flips of the square per sample (k in 0..7)."""
    out = torch.empty_like(x)
    for code in range(8):
        sel = (k == code).nonzero().flatten()
        if len(sel):
            y = torch.rot90(x[sel], code % 4, dims=(2, 3))
            out[sel] = y.flip(-1) if code >= 4 else y
    return out


def _batch_indices(rng: np.random.Generator, weights: np.ndarray, batch: int, env: DistEnv):
    """The global batch (same on every rank) and this rank's slice of it."""
    idx = rng.choice(len(weights), size=batch, replace=True, p=weights)
    per = batch // env.world
    return idx, slice(env.rank * per, (env.rank + 1) * per)


def _wrap(module: torch.nn.Module, env: DistEnv) -> torch.nn.Module:
    if env.world <= 1:
        return module
    if env.device.type == "cuda":
        return DistributedDataParallel(module, device_ids=[env.local_rank])
    return DistributedDataParallel(module)


def _autocast(dev: torch.device):
    """bf16 mixed precision on GPUs; plain fp32 on the CPU."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev.type == "cuda")


def _optimize(opt, model: torch.nn.Module, loss: torch.Tensor, report: torch.Tensor, state: dict,
              env: DistEnv, tick: float) -> float:
    """One clipped optimizer step; records the global mean of ``report`` and the step's time
    in ``state`` and returns that value."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    value = float(env.sum(report.detach())) / env.world
    state["losses"].append(round(value, 5))
    state["step"] += 1
    state["seconds"] = round(state.get("seconds", 0.0) + time.time() - tick, 2)
    return value


def _lr(base: float, step: int) -> float:
    return base * min(1.0, (step + 1) / WARMUP)


class _AEStep(torch.nn.Module):
    """encode -> sample -> decode in one forward, so DDP sees every parameter used."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, x: torch.Tensor, noise: torch.Tensor):
        post = self.vae.encode(x).latent_dist
        z = post.mean + post.std * noise
        return self.vae.decode(z).sample, post.kl().mean()


def _ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float, step: int) -> None:
    d = min(decay, (1 + step) / (10 + step))
    with torch.no_grad():
        e = [p for p in ema.parameters()]
        m = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(e, m, 1 - d)


def _save_stage(folder: Path, tensors: dict[str, dict[str, torch.Tensor]], state: dict) -> None:
    def write(tmp: Path) -> None:
        for name, t in tensors.items():
            save_file({k: v.detach().cpu().contiguous() for k, v in t.items()}, str(tmp / name))
        (tmp / STATE).write_text(json.dumps(state, indent=1))
    write_folder(folder, write)


def _load_stage(folder: Path) -> tuple[dict, dict[str, dict[str, torch.Tensor]]] | None:
    if not (folder / STATE).is_file():
        return None
    state = json.loads((folder / STATE).read_text())
    return state, {p.name: read_tensors(p) for p in folder.glob("*.safetensors")}


def _prepare(cfg: SynthConfig, run: RunFolder, env: DistEnv):
    """The classifier's split of the data (same seed), and the decoded *train* images only."""
    ds = read_ham10000(cfg.data)
    split = load_or_make_split(ds, run, env, cfg.seed, cfg.split_fractions, cfg.split_file)
    train = ds.subset(split.ids("train"))
    images = cache_rank0_first(train.records, cfg.img_size, env, cfg.progress)
    labels = np.asarray(train.labels, dtype=np.int64)
    return ds, split, train, images, labels


def _to_unit(images: np.ndarray, idx: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.asarray(images[np.sort(idx)])).permute(0, 3, 1, 2).float() / 127.5 - 1
    order = np.argsort(np.argsort(idx))  # back to the order of idx
    return x[torch.from_numpy(order)]


def _class_weights(labels: np.ndarray, balance: float) -> np.ndarray:
    counts = np.bincount(labels, minlength=len(CLASSES)).astype(np.float64)
    w = counts[labels] ** -balance
    return w / w.sum()


def _check_resume(cfg: SynthConfig, run: RunFolder) -> None:
    if run.config.is_file():
        cfg.require_resumable(run.config, "synth run")
    elif (run.root / MODEL_DIR).exists() or (run.root / "unet").exists():
        raise ConfigError(f"{run.root}: has model folders but no config.json; not a skinedge "
                          "synth run")


def train_synth(cfg: SynthConfig) -> dict:
    env = start_process_group()
    for name in ("ae_batch_size", "unet_batch_size"):
        if getattr(cfg, name) % env.world:
            raise ConfigError(f"--{name.replace('_', '-')} {getattr(cfg, name)} is not divisible "
                              f"by {env.world} processes")
    if env.is_main:
        _check_resume(cfg, RunFolder(Path(cfg.out)))
    run = open_run(cfg.out, env)
    out = run.root
    if env.is_main:
        (out / "samples").mkdir(exist_ok=True)
    ds, split, train, images, labels = _prepare(cfg, run, env)
    if env.is_main:
        cfg.save(run.config)
    vae, ae_state = _train_autoencoder(cfg, out, env, images, labels)
    unet_state = _train_unet(cfg, out, env, vae, ae_state, images, labels)
    result = {}
    if env.is_main:
        result = _finish(cfg, out, ds, split, train, ae_state, unet_state)
    env.barrier()
    env.close()
    return result


def _train_autoencoder(cfg, out: Path, env: DistEnv, images, labels):
    folder = out / "autoencoder"
    torch.manual_seed(cfg.seed)
    dev = env.device
    vae = build_autoencoder(cfg).to(dev)
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.ae_lr, weight_decay=0.0)
    loaded = _load_stage(folder)
    state = {"step": 0, "losses": [], "done": False}
    if loaded:
        state, tensors = loaded
        vae.load_state_dict(tensors["vae.safetensors"])
        load_optimizer_tensors(opt, tensors["optimizer.safetensors"])
    if state["step"] < cfg.ae_steps and (out / "unet" / STATE).is_file():
        raise ConfigError(f"{out}: the UNet was trained on this autoencoder's latents; "
                          f"--ae-steps cannot grow past {state['step']} now")
    net = _wrap(_AEStep(vae), env)
    weights = _class_weights(labels, 0.0)
    show = cfg.progress and env.is_main
    bar = tqdm(range(state["step"], cfg.ae_steps), initial=state["step"], total=cfg.ae_steps,
               desc="autoencoder", disable=not show, unit="step")
    t0, first = time.time(), state["step"]
    for step in bar:
        tick = time.time()
        rng, g = _rng(cfg, "autoencoder", step)
        idx, mine = _batch_indices(rng, weights, cfg.ae_batch_size, env)
        x = dihedral(_to_unit(images, idx), torch.randint(0, 8, (len(idx),), generator=g))[mine]
        noise = torch.randn((cfg.ae_batch_size, cfg.latent_channels, cfg.latent_size,
                             cfg.latent_size), generator=g)[mine]
        x, noise = x.to(dev), noise.to(dev)
        for group in opt.param_groups:
            group["lr"] = _lr(cfg.ae_lr, step)
        with _autocast(dev):
            rec, kl = net(x, noise)
        rec = rec.float()
        l1 = (rec - x).abs().mean()
        loss = l1 + 0.5 * F.mse_loss(rec, x) + cfg.ae_kl_weight * kl
        value = _optimize(opt, vae, loss, l1, state, env, tick)
        bar.set_postfix(l1=f"{value:.4f}", img_s=f"{(step + 1 - first) * cfg.ae_batch_size / (time.time() - t0):.0f}")
        if env.is_main and (state["step"] % cfg.checkpoint_every == 0 or state["step"] == cfg.ae_steps):
            _checkpoint_ae(cfg, out, vae, opt, state, images)
        env.barrier()
    if not state.get("done"):
        state["scaling"] = _latent_scaling(cfg, vae, images)
        state["done"] = True
        if env.is_main:
            _checkpoint_ae(cfg, out, vae, opt, state, images)
        env.barrier()
    vae.eval().requires_grad_(False)
    return vae, state


def _checkpoint_ae(cfg, out: Path, vae, opt, state: dict, images) -> None:
    _save_stage(out / "autoencoder", {"vae.safetensors": vae.state_dict(),
                                      "optimizer.safetensors": optimizer_tensors(opt)}, state)
    save_loss_curves(out)
    was = vae.training
    vae.eval()
    with torch.no_grad():
        x = _to_unit(images, np.arange(min(16, len(images))))
        rec = vae.decode(vae.encode(x.to(vae.device)).latent_dist.mean).sample.float().cpu()
    vae.train(was)
    save_grid([((x + 1) / 2)[:8], ((rec.clamp(-1, 1) + 1) / 2)[:8],
               ((x + 1) / 2)[8:16], ((rec.clamp(-1, 1) + 1) / 2)[8:16]],
              ["real", "recon", "real", "recon"], out / "samples" / "autoencoder_recon.png",
              f"autoencoder step {state['step']}")


@torch.no_grad()
def _encode_all(cfg, vae, images) -> tuple[torch.Tensor, torch.Tensor]:
    means, stds = [], []
    for start in range(0, len(images), 128):
        x = _to_unit(images, np.arange(start, min(start + 128, len(images))))
        post = vae.encode(x.to(vae.device)).latent_dist
        means.append(post.mean)
        stds.append(post.std)
    return torch.cat(means), torch.cat(stds)


def _latent_scaling(cfg, vae, images) -> float:
    """1 / std of the latents, so the UNet sees unit-variance inputs (as in Stable Diffusion)."""
    vae.eval()
    n = min(len(images), 1024)
    mean, std = _encode_all(cfg, vae, images[:n])
    z = mean + std * torch.randn(mean.shape, generator=torch.Generator().manual_seed(cfg.seed)).to(mean.device)
    vae.train()
    return float(1.0 / z.std())


def _train_unet(cfg, out: Path, env: DistEnv, vae, ae_state: dict, images, labels) -> dict:
    folder = out / "unet"
    torch.manual_seed(cfg.seed + 1)
    dev = env.device
    unet = build_unet(cfg).to(dev)
    ema = copy.deepcopy(unet).requires_grad_(False)
    opt = torch.optim.AdamW(unet.parameters(), lr=cfg.unet_lr, weight_decay=0.0)
    state = {"step": 0, "losses": []}
    loaded = _load_stage(folder)
    if loaded:
        state, tensors = loaded
        unet.load_state_dict(tensors["unet.safetensors"])
        ema.load_state_dict(tensors["ema.safetensors"])
        load_optimizer_tensors(opt, tensors["optimizer.safetensors"])
    scaling = ae_state["scaling"]
    if state["step"] >= cfg.unet_steps:
        return state
    show = cfg.progress and env.is_main
    if show:
        tqdm.write(f"encoding {len(images)} training images to latents")
    mean, std = _encode_all(cfg, vae, images)
    sched = train_scheduler(cfg)
    net = _wrap(unet, env)
    weights = _class_weights(labels, cfg.class_balance)
    labels_t = torch.from_numpy(labels).to(dev)
    bar = tqdm(range(state["step"], cfg.unet_steps), initial=state["step"], total=cfg.unet_steps,
               desc="latent UNet", disable=not show, unit="step")
    t0, first = time.time(), state["step"]
    for step in bar:
        tick = time.time()
        rng, g = _rng(cfg, "unet", step)
        idx, mine = _batch_indices(rng, weights, cfg.unet_batch_size, env)
        it = torch.from_numpy(idx).to(dev)
        b = len(idx)
        z = (mean[it] + std[it] * torch.randn(mean[it].shape, generator=g).to(dev)) * scaling
        z = dihedral(z, torch.randint(0, 8, (b,), generator=g).to(dev))
        y = torch.where(torch.rand(b, generator=g).to(dev) < cfg.cond_drop, NULL_CLASS, labels_t[it])
        t = torch.randint(0, cfg.train_timesteps, (b,), generator=g).to(dev)
        noise = torch.randn(z.shape, generator=g).to(dev)
        noisy = sched.add_noise(z, noise, t)
        for group in opt.param_groups:
            group["lr"] = _lr(cfg.unet_lr, step)
        with _autocast(dev):
            pred = net(noisy[mine], t[mine], class_labels=y[mine]).sample
        loss = F.mse_loss(pred.float(), noise[mine])
        value = _optimize(opt, unet, loss, loss, state, env, tick)
        _ema_update(ema, unet, cfg.ema_decay, step)
        bar.set_postfix(loss=f"{value:.4f}", img_s=f"{(step + 1 - first) * b / (time.time() - t0):.0f}")
        last = state["step"] == cfg.unet_steps
        if env.is_main and (state["step"] % cfg.sample_every == 0 or last):
            class_grid(cfg, ema, vae, scaling, out / "samples" / f"unet_step{state['step']:06d}.png",
                       f"EMA UNet step {state['step']}, guidance {cfg.grid_guidance}")
        if env.is_main and (state["step"] % cfg.checkpoint_every == 0 or last):
            _save_stage(folder, {"unet.safetensors": unet.state_dict(),
                                 "ema.safetensors": ema.state_dict(),
                                 "optimizer.safetensors": optimizer_tensors(opt)}, state)
            save_loss_curves(out)
        env.barrier()
    return state


def class_grid(cfg: SynthConfig, unet, vae, scaling: float, path: Path, title: str,
               guidance: float | None = None, seed: int = 1234) -> None:
    """One row per class, ``grid_per_class`` samples each, fixed noise across calls."""
    unet.eval()
    g = torch.Generator().manual_seed(seed)
    rows = []
    for c in range(len(CLASSES)):
        y = torch.full((cfg.grid_per_class,), c, dtype=torch.long)
        rows.append(generate(unet, vae, sample_scheduler(cfg), y,
                             cfg.grid_guidance if guidance is None else guidance, cfg.grid_steps,
                             scaling, g, (cfg.latent_channels, cfg.latent_size, cfg.latent_size)))
    save_grid(rows, list(CLASSES), path, title)


def _finish(cfg, out: Path, ds, split, train, ae_state: dict, unet_state: dict) -> dict:
    """Write ``model/``: autoencoder + EMA UNet weights and a card with their hashes."""
    ae = read_tensors(out / "autoencoder" / "vae.safetensors")
    ema = read_tensors(out / "unet" / "ema.safetensors")
    card = {"schema": SCHEMA, "config": cfg.to_dict(), "classes": list(CLASSES),
            "null_class": NULL_CLASS, "latent_scaling": ae_state["scaling"],
            "autoencoder_steps": ae_state["step"], "unet_steps": unet_state["step"],
            "train_seconds": {"autoencoder": ae_state.get("seconds"),
                              "unet": unet_state.get("seconds")},
            "final_ae_l1": float(np.mean(ae_state["losses"][-50:])),
            "final_unet_loss": float(np.mean(unet_state["losses"][-200:])),
            "train_images": len(train), "train_class_counts": train.class_counts(),
            "dataset_fingerprint": ds.fingerprint(), "split_fingerprint": split.fingerprint(),
            "split_seed": split.seed}

    def write(tmp: Path) -> None:
        save_file(ae, str(tmp / "autoencoder.safetensors"))
        save_file(ema, str(tmp / "unet_ema.safetensors"))
        files = {n: sha256_file(tmp / n) for n in ("autoencoder.safetensors", "unet_ema.safetensors")}
        card["files"] = files
        card["model_sha256"] = hashlib.sha256("".join(files[k] for k in sorted(files)).encode()).hexdigest()
        (tmp / MODEL_CARD).write_text(json.dumps(card, indent=1))
    write_folder(out / MODEL_DIR, write)
    final = out / "samples" / f"unet_step{unet_state['step']:06d}.png"
    if final.is_file():
        shutil.copyfile(final, out / "samples" / "final_grid.png")
    return card

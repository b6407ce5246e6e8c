"""``skinedge pretrain``: MAE pre-training of a ViT teacher on the train split (plus optional
synthetic images), on the same epoch loop as supervised training (``train.loop.run_epoch``)
with a masking objective. Each epoch: reconstruction loss on fixed masks of validation images,
a reconstruction grid, loss curves; ``best/`` (lowest val loss) is a normal skinedge
checkpoint of the encoder (head untrained) that ``skinedge train --init`` loads."""
from __future__ import annotations

import json

import numpy as np
import torch
from tqdm import tqdm

from ..checkpoint import (read_tensors, CARD, load_checkpoint, load_optimizer_tensors, optimizer_tensors,
                          save_checkpoint)
from ..data.augment import AugmentConfig, keyed_seed
from ..data.batches import CachedImages
from ..distributed import DistEnv
from ..layout import OPTIMIZER, STATE, RunFolder
from ..plots import plot_loss_curves
from ..runs import open_run, start_process_group
from ..synth.images import save_grid
from ..train.data import TrainData, prepare_data
from ..train.loop import new_model, regularisation, run_epoch, wrap
from ..train.optim import param_groups
from .config import PretrainConfig
from .mae import MaskedAutoencoder

DECODER = "decoder.safetensors"


class MaskingObjective:
    """MAE loss with masks drawn for the whole *global* batch from (seed, epoch, step), of which
    rank r takes its slice: a resumed epoch repeats them, and N DDP processes mask exactly as
    one process does."""

    def __init__(self, seed: int, rank: int, world: int, patches: int):
        self.seed, self.rank, self.world, self.patches = seed, rank, world, patches
        self.epoch, self.step = 0, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.step = epoch, 0

    def __call__(self, net, x: torch.Tensor, y: torch.Tensor, rows=None) -> dict:
        # the 0 stands where the rank once was: one-process runs keep their masks
        g = torch.Generator().manual_seed(keyed_seed(self.seed, 0, self.epoch, self.step))
        self.step += 1
        n = len(x)
        noise = torch.rand(n * self.world, self.patches, generator=g)[self.rank * n:(self.rank + 1) * n]
        loss, _, _ = net(x, noise.to(x.device))
        return {"loss": loss}


def _decoder_state(mae: MaskedAutoencoder) -> dict[str, torch.Tensor]:
    return {k: v for k, v in mae.state_dict().items() if not k.startswith("classifier.")}


def _build(cfg: PretrainConfig, classifier) -> MaskedAutoencoder:
    return MaskedAutoencoder(classifier, cfg.decoder_dim, cfg.decoder_depth,
                             mask_ratio=cfg.mask_ratio)


def _optimizer(cfg: PretrainConfig, mae: MaskedAutoencoder) -> torch.optim.Optimizer:
    return torch.optim.AdamW(param_groups(mae, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.95))


def init_or_resume(cfg: PretrainConfig, data: TrainData, run: RunFolder, env: DistEnv):
    if (run.last / CARD).is_file():
        cfg.require_resumable(run.config, "pre-training run")
        classifier, card = load_checkpoint(run.last, **regularisation(cfg))
        mae = _build(cfg, classifier)
        mae.load_state_dict({**mae.state_dict(), **read_tensors(run.last / DECODER)})
        opt = _optimizer(cfg, mae)
        load_optimizer_tensors(opt, read_tensors(run.last / OPTIMIZER))
        state = json.loads((run.last / STATE).read_text())
    else:
        classifier, card = new_model(cfg, data)
        mae, state = _build(cfg, classifier), {"epoch": 0, "best": float("inf"), "history": []}
        opt = _optimizer(cfg, mae)
        if env.is_main:
            cfg.save(run.config)
    training = {**data.training_card(cfg), "stage": "mae"}
    return mae.train(), card.with_(training=training), state, opt


@torch.no_grad()
def validate(cfg: PretrainConfig, mae: MaskedAutoencoder, data: TrainData, run: RunFolder,
             epoch: int) -> float:
    """Mean masked-patch loss on the first ``val_images`` val images with fixed masks; saves a
    grid (original / what the encoder saw / reconstruction) of 8 of them."""
    mae.eval()
    dev = next(mae.parameters()).device
    idx = data.indices("val")[:cfg.val_images]
    noise = torch.rand(len(idx), mae.grid ** 2, generator=torch.Generator().manual_seed(cfg.seed))
    total = 0.0
    for s in range(0, len(idx), cfg.eval_batch_size):
        x = torch.from_numpy(np.asarray(data.images[idx[s:s + cfg.eval_batch_size]]))
        x = (x.permute(0, 3, 1, 2).float() / 255).to(dev)
        loss, pred, mask = mae(x, noise[s:s + len(x)].to(dev))
        total += float(loss) * len(x)
        if s == 0:
            x8, p8, m8 = x[:8].cpu(), pred[:8].float().cpu(), mask[:8].cpu()
            seen = x8 * (1 - _mask_image(m8, mae.patch, x8.shape[-1]))
            save_grid([x8, seen, mae.reconstruct(x8, p8, m8)], ["image", "visible", "recon"],
                      run.root / "reconstructions.png", f"epoch {epoch + 1} (val images)")
    mae.train()
    return total / max(len(idx), 1)


def _mask_image(mask: torch.Tensor, p: int, size: int) -> torch.Tensor:
    """[N, L] patch mask -> [N, 1, S, S] pixel mask."""
    g = size // p
    return mask.reshape(-1, 1, g, g).repeat_interleave(p, 2).repeat_interleave(p, 3)


def save_epoch(cfg: PretrainConfig, epoch: int, mae: MaskedAutoencoder, opt, card, state: dict,
               rec: dict, val_loss: float, run: RunFolder, show: bool) -> dict:
    rec = {"epoch": epoch, "train_loss": rec.pop("train_loss"), "val_loss": val_loss, **rec}
    history = state["history"] + [rec]
    scored = card.with_(metrics={"val_mae_loss": val_loss, "epoch": epoch})
    is_best = val_loss < state["best"]
    if is_best:
        save_checkpoint(run.best, mae.classifier, scored,
                        extra_tensors={DECODER: _decoder_state(mae)})
    new = {"epoch": epoch + 1, "best": min(val_loss, state["best"]), "history": history}
    save_checkpoint(run.last, mae.classifier, scored, extra_json={STATE: new},
                    extra_tensors={DECODER: _decoder_state(mae), OPTIMIZER: optimizer_tensors(opt)})
    plot_loss_curves(history, run.curves, f"MAE {cfg.model} @ {cfg.img_size}px",
                     "masked-patch MSE (normalised pixels)")
    if show:
        tqdm.write(f"epoch {epoch + 1}/{cfg.epochs}  loss {rec['train_loss']:.4f}  val "
                   f"{val_loss:.4f}  {rec['train_img_per_s']:.0f} img/s{'  *best*' if is_best else ''}")
    return new


def pretrain(cfg: PretrainConfig) -> dict:
    """Pre-train; returns the history and where the encoder checkpoint is."""
    env = start_process_group()
    run = open_run(cfg.out, env)
    show = cfg.progress and env.is_main
    data = prepare_data(cfg, run, env, show)
    mae, card, state, opt = init_or_resume(cfg, data, run, env)
    net = wrap(mae, env)
    dataset = CachedImages(data.images, data.labels, data.indices("train"), AugmentConfig(),
                           cfg.seed)
    objective = MaskingObjective(cfg.seed, env.rank, env.world, mae.grid ** 2)
    for epoch in range(state["epoch"], cfg.epochs):
        rec = run_epoch(cfg, epoch, net, opt, objective, dataset, data, env, show)
        if env.is_main:
            val = validate(cfg, mae, data, run, epoch)
            state = save_epoch(cfg, epoch, mae, opt, card, state, rec, val, run, show)
        env.barrier()
        state["epoch"] = epoch + 1
    env.barrier()
    env.close()
    return {"best": str(run.best), "best_val_loss": state.get("best"),
            "history": state.get("history", [])}

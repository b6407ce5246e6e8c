"""Supervised training of a student on HAM10000, one process or many (DDP).

Each epoch: train on the lesion-disjoint train split, evaluate on val, keep the best
checkpoint by balanced accuracy, save ``last/`` (weights, optimizer, history) atomically.
An interrupted run resumes from ``last/`` and loses at most the epoch in progress.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..card import ModelCard
from ..checkpoint import CARD, load_checkpoint, save_checkpoint
from ..data import make_split, read_ham10000
from ..data.augment import AugmentConfig
from ..data.batches import CachedImages, epoch_order, rank_batches
from ..data.cache import cached_images
from ..data.splits import Split
from ..errors import ConfigError
from ..evaluate import predict_logits
from ..metrics import classification_metrics
from ..models import create_model
from ..models.classifier import count_flops
from ..plots import plot_confusion, plot_training_curves
from .config import TrainConfig
from .distributed import DistEnv, global_batch_norm

STATE = "trainer_state.json"
OPTIM = "optimizer.safetensors"


def channel_stats(images: np.ndarray, indices: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean/std (in [0, 1] units) over the training images."""
    total, total_sq, n = np.zeros(3), np.zeros(3), 0
    for start in range(0, len(indices), 512):
        x = np.asarray(images[np.sort(indices[start:start + 512])], dtype=np.float64) / 255.0
        total += x.sum((0, 1, 2))
        total_sq += (x * x).sum((0, 1, 2))
        n += x.shape[0] * x.shape[1] * x.shape[2]
    mean = total / n
    std = np.sqrt(total_sq / n - mean ** 2)
    return [round(float(v), 6) for v in mean], [round(float(v), 6) for v in std]


def class_weights(labels: np.ndarray, k: int) -> np.ndarray:
    """n / (k * count_c): each class contributes equally to the loss ("balanced")."""
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    return len(labels) / (k * np.maximum(counts, 1))


def lr_at(cfg: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Linear warm-up then cosine decay to 1% of the peak, per optimizer step."""
    warm = cfg.warmup_epochs * steps_per_epoch
    total = max(cfg.epochs * steps_per_epoch, 1)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    t = (step - warm) / max(total - warm, 1)
    return cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def _optimizer_tensors(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    out = {}
    for i, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            out[f"{i}.{k}"] = torch.as_tensor(v).clone()
    return out


def _load_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    sd = opt.state_dict()
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        i, k = key.split(".", 1)
        state.setdefault(int(i), {})[k] = v
    sd["state"] = state
    opt.load_state_dict(sd)


def _prepare_split(cfg: TrainConfig, ds, out: Path, env: DistEnv) -> Split:
    path = Path(cfg.split_file) if cfg.split_file else out / "split.json"
    if path.is_file():
        split = Split.load(path)
        listed = set(split.assignment)
        absent = [r.image_id for r in ds.records if r.image_id not in listed]
        if absent:
            raise ConfigError(f"{path}: split file does not cover {len(absent)} image(s) of "
                              f"{ds.metadata} (e.g. {absent[0]}); use a split made for this data")
        return split
    split = make_split(ds, cfg.seed, cfg.split_fractions)
    if env.is_main:
        split.save(path)
    return split


def _add_synthetic(cfg: TrainConfig, split: Split, images, labels, where, show: bool):
    """Append the chosen synthetic images to the arrays, all on the train side."""
    from ..synth.mix import read_synthetic, select_synthetic

    syn, manifest = read_synthetic(cfg.synthetic)
    if manifest["split_fingerprint"] != split.fingerprint():
        raise ConfigError(f"{cfg.synthetic}: its diffusion model was trained on a different split "
                          "than this run's, so its images may copy this run's val/test lesions; "
                          "train the synth model with the same data, seed and fractions")
    n_real = int((where == "train").sum())
    chosen = select_synthetic(syn, n_real, cfg.synthetic_ratio, cfg.seed)
    syn_images = cached_images(chosen.records, cfg.img_size, progress=show)
    images = np.concatenate([np.asarray(images), np.asarray(syn_images)])
    labels = np.concatenate([labels, np.asarray(chosen.labels, dtype=np.int64)])
    where = np.concatenate([where, np.full(len(chosen), "train")])
    info = {"folder": str(Path(cfg.synthetic).resolve()), "model_sha256": manifest["model_sha256"],
            "n_synthetic": len(chosen), "n_real_train": n_real,
            "share": len(chosen) / (len(chosen) + n_real), "class_counts": chosen.class_counts(),
            "guidance": manifest["guidance"]}
    if show:
        tqdm.write(f"training on {n_real} real + {len(chosen)} synthetic images "
                   f"({info['share']:.1%} synthetic): {chosen.class_counts()}")
    return images, labels, where, info


def _resume_state(cfg: TrainConfig, out: Path):
    last = out / "last"
    if not (last / CARD).is_file():
        return None
    saved = TrainConfig.from_dict(json.loads((out / "config.json").read_text()))
    if not saved.resumable_with(cfg):
        raise ConfigError(f"{out}: holds a run with a different configuration; "
                          "use another --out or the same options to resume")
    model, card = load_checkpoint(last)
    state = json.loads((last / STATE).read_text())
    optim = load_file(str(last / OPTIM))
    return model, card, state, optim


def train(cfg: TrainConfig) -> dict:
    """Train, validate each epoch, test the best checkpoint; returns the final metrics."""
    env = DistEnv.from_env()
    # Share the cores between local processes unless the user pinned OMP_NUM_THREADS.
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", env.world)))
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 0)) or
                          max(1, (os.cpu_count() or 1) // local))
    out = Path(cfg.out)
    show = cfg.progress and env.is_main
    if env.is_main:
        out.mkdir(parents=True, exist_ok=True)
    env.barrier()

    # Everything that can fail on bad input happens before the first training step.
    ds = read_ham10000(cfg.data)
    split = _prepare_split(cfg, ds, out, env)
    resumed = _resume_state(cfg, out)
    if env.is_main:
        images = cached_images(ds.records, cfg.img_size, progress=show)
    env.barrier()
    if not env.is_main:
        images = cached_images(ds.records, cfg.img_size, progress=False)
    labels = np.asarray(ds.labels, dtype=np.int64)
    where = np.array([split.assignment[r.image_id] for r in ds.records])
    synth_info = None
    if cfg.synthetic:
        images, labels, where, synth_info = _add_synthetic(cfg, split, images, labels, where, show)
    train_idx, val_idx = np.flatnonzero(where == "train"), np.flatnonzero(where == "val")

    if resumed:
        model, card, state, optim_tensors = resumed
        model.train()
    else:
        mean, std = channel_stats(images, train_idx)
        torch.manual_seed(cfg.seed)
        model = create_model(cfg.model, cfg.img_size, mean, std, drop_rate=cfg.drop_rate)
        card = ModelCard(architecture=cfg.model, input_size=cfg.img_size, mean=tuple(mean),
                         std=tuple(std), params=sum(p.numel() for p in model.parameters()),
                         flops=count_flops(model, cfg.img_size))
        state, optim_tensors = {"epoch": 0, "best": -1.0, "history": []}, None
        if env.is_main:
            cfg.save(out / "config.json")
    card = card.with_(training={
        "data": str(Path(cfg.data).resolve()), "n_images": len(ds),
        "n_train": len(train_idx), "n_val": len(val_idx),
        "n_test": int((where == "test").sum()), "dataset_fingerprint": ds.fingerprint(),
        "split_fingerprint": split.fingerprint(), "split_seed": split.seed,
        "class_counts": ds.class_counts(), "synthetic": synth_info, "config": cfg.to_dict()})

    opt = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr)
    if optim_tensors:
        _load_optimizer(opt, optim_tensors)
    net = DistributedDataParallel(model) if env.world > 1 else model
    weight = None
    if cfg.balance in ("loss", "both"):
        weight = torch.tensor(class_weights(labels[train_idx], len(card.labels)), dtype=torch.float32)
    dataset = CachedImages(images, labels, train_idx, AugmentConfig(), cfg.seed)
    train_labels = labels[train_idx]
    history = state["history"]

    for epoch in range(state["epoch"], cfg.epochs):
        dataset.epoch = epoch
        # With synthetic images an epoch still draws one sample per *real* training image:
        # the same optimizer steps as a real-only run, so a comparison isolates the data.
        order = epoch_order(train_labels, cfg.seed, epoch, cfg.balance in ("sampler", "both"),
                            size=synth_info["n_real_train"] if synth_info else None)
        batches = rank_batches(order, cfg.batch_size, env.rank, env.world)
        if cfg.max_batches_per_epoch:
            batches = batches[:cfg.max_batches_per_epoch]
        loader = DataLoader(dataset, batch_sampler=batches, num_workers=cfg.workers)
        steps = len(batches)
        net.train()
        t0, seen, loss_sum = time.time(), 0, 0.0
        bar = tqdm(loader, total=steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not show,
                   unit="batch", leave=False)
        with global_batch_norm(env):
            for i, (x, y) in enumerate(bar):
                for g in opt.param_groups:
                    g["lr"] = lr_at(cfg, epoch * steps + i, steps)
                logits = net(x)
                per = F.cross_entropy(logits, y, reduction="none",
                                      label_smoothing=cfg.label_smoothing)
                w = weight[y] if weight is not None else torch.ones_like(per)
                # Normalise by the global batch's total weight so the DDP gradient average
                # equals the one-process gradient exactly.
                denom = env.sum(w.sum().detach())
                loss = (w * per).sum() * env.world / denom
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                batch_loss = float(env.sum(loss.detach())) / env.world
                loss_sum += batch_loss
                seen += len(y) * env.world
                bar.set_postfix(loss=f"{batch_loss:.3f}", img_s=f"{seen / (time.time() - t0):.0f}")
        train_time = time.time() - t0

        if env.is_main:
            logits = predict_logits(model, images, val_idx, cfg.eval_batch_size)
            m = classification_metrics(labels[val_idx], torch.softmax(torch.from_numpy(logits), 1).numpy())
            val_loss = float(F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels[val_idx])))
            rec = {"epoch": epoch, "train_loss": loss_sum / max(steps, 1), "val_loss": val_loss,
                   "val_accuracy": m["accuracy"], "val_balanced_accuracy": m["balanced_accuracy"],
                   "val_macro_f1": m["macro_f1"], "val_auc_ovr": m["auc_ovr"],
                   "val_mel_recall": m["per_class"]["mel"]["recall"],
                   "lr": opt.param_groups[0]["lr"], "train_seconds": round(train_time, 1),
                   "train_img_per_s": round(seen / max(train_time, 1e-9), 1)}
            history.append(rec)
            is_best = m["balanced_accuracy"] > state["best"]
            if is_best:
                state["best"] = m["balanced_accuracy"]
                save_checkpoint(out / "best", model, card.with_(metrics={"val": m, "epoch": epoch}))
            state = {"epoch": epoch + 1, "best": state["best"], "history": history}
            save_checkpoint(out / "last", model, card.with_(metrics={"val": m, "epoch": epoch}),
                            extra_tensors={OPTIM: _optimizer_tensors(opt)}, extra_json={STATE: state})
            plot_training_curves(history, out / "training_curves.png",
                                 f"{cfg.model} @ {cfg.img_size}px")
            if show:
                tqdm.write(f"epoch {epoch + 1}/{cfg.epochs}  loss {rec['train_loss']:.4f}  "
                           f"val bal-acc {rec['val_balanced_accuracy']:.4f}  macro-F1 "
                           f"{rec['val_macro_f1']:.4f}  {rec['train_img_per_s']:.0f} img/s"
                           f"{'  *best*' if is_best else ''}")
        env.barrier()
        state["epoch"] = epoch + 1

    result = {}
    if env.is_main:
        result = _finish(cfg, out, images, labels, where, history)
    env.barrier()
    env.close()
    return result


def _finish(cfg, out: Path, images, labels, where, history) -> dict:
    """Score the best checkpoint on the test split; write metrics.json and plots."""
    best, card = load_checkpoint(out / "best")
    test_idx = np.flatnonzero(where == "test")
    logits = predict_logits(best, images, test_idx, cfg.eval_batch_size)
    test = classification_metrics(labels[test_idx], torch.softmax(torch.from_numpy(logits), 1).numpy())
    plot_confusion(np.array(test["confusion_matrix"]), test["labels"], out / "confusion_test.png",
                   f"{cfg.model} test split (balanced acc {test['balanced_accuracy']:.3f})")
    split_doc = json.loads((Path(cfg.split_file) if cfg.split_file else out / "split.json").read_text())
    save_checkpoint(out / "best", best, card.with_(metrics={**card.metrics, "test": test}),
                    extra_json={"split.json": split_doc})
    result = {"config": cfg.to_dict(), "best_epoch": card.metrics.get("epoch"),
              "val": card.metrics.get("val"), "test": test, "history": history}
    tmp = out / "metrics.json.tmp"
    tmp.write_text(json.dumps(result, indent=2))
    os.replace(tmp, out / "metrics.json")
    return result

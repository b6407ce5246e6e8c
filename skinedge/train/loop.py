"""Supervised training, one process or many (DDP), in named stages:

prepare (data, split, cache) -> init or resume -> per epoch: ``run_epoch`` then
``validate_and_save`` (best by balanced accuracy, ``last/`` with optimizer and history, swapped
in atomically) -> ``finish`` (test the best checkpoint). An interrupted run resumes from
``last/`` and loses at most the epoch in progress. The per-batch loss is an *objective*
(``objectives.py``), so distillation reuses this loop with a teacher in its objective.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..atomic import write_json
from ..card import ModelCard
from ..checkpoint import (read_tensors, CARD, load_checkpoint, load_optimizer_tensors, optimizer_tensors,
                          save_checkpoint)
from ..data.augment import AugmentConfig, keyed_seed
from ..data.batches import CachedImages, epoch_order, rank_batches
from ..distributed import DistEnv, global_batch_norm
from ..errors import ConfigError
from ..evaluate import predict_logits
from ..labels import CLASSES
from ..layout import OPTIMIZER, STATE, RunFolder
from ..metrics import classification_metrics
from ..models import create_model
from ..models.classifier import count_flops
from ..models.pretrained import IMAGENET, IMAGENET_MEAN, IMAGENET_STD, init_record, weights_file
from ..plots import plot_confusion, plot_training_curves
from ..runs import open_run, start_process_group
from .config import TrainConfig
from .data import TrainData, channel_stats, prepare_data
from .objectives import SupervisedObjective, class_weights
from .optim import lr_at, param_groups, set_lr

# --balance -> (p of the sampler's draw weights count_c^-p, p of the loss weights); 0 is off.
BALANCE_POWERS = {"none": (0, 0), "loss": (0, 1), "sampler": (1, 0), "both": (1, 1),
                  "sqrt": (0.5, 0.5)}
ObjectiveFactory = Callable[[TrainConfig, TrainData, DistEnv], Callable]


def supervised_objective(cfg: TrainConfig, data: TrainData, env: DistEnv) -> SupervisedObjective:
    return SupervisedObjective(env, cfg.label_smoothing, task_weights(cfg, data), cfg.mixup,
                               cfg.cutmix)


def task_weights(cfg, data: TrainData) -> torch.Tensor | None:
    """Class weights of the loss under --balance loss|both|sqrt (None otherwise)."""
    power = BALANCE_POWERS[cfg.balance][1]
    if not power:
        return None
    return torch.tensor(class_weights(data.labels[data.indices("train")], len(CLASSES), power),
                        dtype=torch.float32)


def regularisation(cfg) -> dict:
    """The model options that only training uses (``load_checkpoint`` builds models without
    them): a resumed run must pass them again."""
    return {"drop_rate": cfg.drop_rate, "drop_path": getattr(cfg, "drop_path", 0.0)}


def new_model(cfg: TrainConfig, data: TrainData):
    """A fresh model and its card: normalised with the training images' statistics, or with
    ImageNet's for ``--init imagenet`` (the statistics its backbone was trained with)."""
    imagenet = getattr(cfg, "init", None) == IMAGENET  # PretrainConfig has no --init
    if imagenet:
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    else:
        mean, std = channel_stats(data.images, data.indices("train"))
    torch.manual_seed(cfg.seed)
    model = create_model(cfg.model, cfg.img_size, mean, std, imagenet=imagenet,
                         **regularisation(cfg))
    card = ModelCard(architecture=cfg.model, input_size=cfg.img_size, mean=tuple(mean),
                     std=tuple(std), params=sum(p.numel() for p in model.parameters()),
                     flops=count_flops(model, cfg.img_size))
    return model, card


def load_init(model, card: ModelCard, source: str) -> dict:
    """Copy every weight but the classifier head from checkpoint ``source`` into ``model``."""
    from ..errors import CheckpointError

    donor, donor_card = load_checkpoint(source)
    _check_init_card(donor_card, card.architecture, card.input_size, source)
    head = {f"backbone.{n}" for n in ("head.weight", "head.bias", "classifier.weight",
                                      "classifier.bias")}
    weights = {k: v for k, v in donor.state_dict().items() if k not in head}
    missing = model.load_state_dict(weights, strict=False).missing_keys
    if set(missing) - head:
        raise CheckpointError(f"--init {source}: weights missing for {sorted(missing)[:3]}")
    return {"from": str(Path(source).resolve()), "sha256": donor_card.artifact_sha256,
            "stage": donor_card.training.get("stage", "supervised")}


def _check_init_card(donor, architecture: str, size: int, source) -> None:
    if (donor.architecture, donor.input_size) != (architecture, size):
        raise ConfigError(f"--init {source}: a {donor.architecture} at {donor.input_size}px; "
                          f"this run trains a {architecture} at {size}px (use the same --arch "
                          f"and --img-size)")


def check_sources(cfg) -> None:
    """Before anything is written: every checkpoint a new run starts from (``--init``) or learns
    from (``--teacher``) is checked by :func:`check_source` (``distill`` checks a
    ``--teacher-labels`` file's format itself, first)."""
    run = Path(cfg.out)
    if (run / "last" / CARD).is_file():
        if (run / "config.json").is_file():  # e.g. another --init: refused before any write
            cfg.require_resumable(run / "config.json")
        return  # resuming: the run's own checkpoint is checked when loaded
    early = getattr(cfg, "allow_unfinished", False)
    if getattr(cfg, "init", None) == IMAGENET:
        weights_file(cfg.model)  # packaged for this architecture, installed, hash pinned
    elif getattr(cfg, "init", None):
        check_source("--init", cfg.init, architecture=cfg.model, size=cfg.img_size,
                     allow_unfinished=early)
    for teacher in getattr(cfg, "teacher", None) or ():
        check_source("--teacher", teacher, allow_unfinished=early)


def check_source(flag: str, source: str, architecture: str | None = None,
                 size: int | None = None, allow_unfinished: bool = False) -> None:
    """The checkpoint exists, comes from a finished run, matches its integrity hash, and fits:
    the same architecture and size for ``--init``, the students' labels in the same order for a
    teacher (another order would teach wrong classes in silence)."""
    from ..checkpoint import read_card, verify_checkpoint
    from ..labels import CLASSES

    if not allow_unfinished:
        refuse_unfinished(Path(source), flag)
    card = read_card(Path(source))
    verify_checkpoint(Path(source), card)
    if architecture is not None:
        _check_init_card(card, architecture, size, source)
    elif tuple(card.labels) != CLASSES:
        raise ConfigError(f"{flag} {source}: labels {', '.join(card.labels)}; the student "
                          f"learns {', '.join(CLASSES)}")


def refuse_unfinished(source: Path, flag: str) -> None:
    """``RUN/best`` of a run (pre-training or training) that stopped before its last epoch is
    an early snapshot, not the model its command promises: refused, with how to finish it."""
    run = source.parent
    state, config = run / "last" / "trainer_state.json", run / "config.json"
    if source.name != "best" or not (state.is_file() and config.is_file()):
        return
    try:
        done, total = json.loads(state.read_text())["epoch"], json.loads(config.read_text())["epochs"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{flag} {source}: cannot tell whether its run finished ({state} or "
                          f"{config} is unreadable: {e})") from None
    if isinstance(done, int) and isinstance(total, int) and done < total:
        raise ConfigError(f"{flag} {source}: its run {run} is unfinished (epoch {done} of "
                          f"{total}); finish it first by rerunning the command that made it, or "
                          f"pass --allow-unfinished to use its best epoch so far")


def load_teacher(path: str, allow_unfinished: bool = False):
    """(model, card) of a ``--teacher`` checkpoint that passes :func:`check_source`."""
    check_source("--teacher", path, allow_unfinished=allow_unfinished)
    model, card = load_checkpoint(path)
    model.input_size = card.input_size
    return model, card


def lr_scales(cfg, model):
    """Layer-wise learning-rate decay for ViTs: block i of d gets decay^(d - i), the patch and
    position embeddings decay^(d + 1), the head and final norm 1."""
    blocks = getattr(model.backbone, "blocks", None)
    if getattr(cfg, "layer_decay", 1.0) >= 1.0 or blocks is None:
        return None
    depth = len(blocks)

    def scale(name: str) -> float:
        name = name.removeprefix("backbone.")
        if name.startswith("blocks."):
            layer = int(name.split(".")[1]) + 1
        elif name.startswith(("cls_token", "pos_embed", "patch_embed", "reg_token")):
            layer = 0
        else:
            layer = depth + 1
        return cfg.layer_decay ** (depth + 1 - layer)
    return scale


def make_optimizer(cfg, model) -> torch.optim.Optimizer:
    return torch.optim.AdamW(param_groups(model, cfg.weight_decay, lr_scales(cfg, model)),
                             lr=cfg.lr)


def init_or_resume(cfg: TrainConfig, data: TrainData, run: RunFolder, env: DistEnv):
    """(model, card, state, optimizer): from ``last/`` if this run was interrupted, else new
    (with ``--init`` weights when given)."""
    if (run.last / CARD).is_file():
        cfg.require_resumable(run.config)
        model, card = load_checkpoint(run.last, **regularisation(cfg))
        state = json.loads((run.last / STATE).read_text())
        opt = make_optimizer(cfg, model)
        load_optimizer_tensors(opt, read_tensors(run.last / OPTIMIZER))
        model.train()
    else:
        model, card = new_model(cfg, data)
        if cfg.init == IMAGENET:
            card = card.with_(training={"init": init_record(cfg.model)})
        elif cfg.init:
            card = card.with_(training={"init": load_init(model, card, cfg.init)})
        state = {"epoch": 0, "best": -1.0, "history": []}
        opt = make_optimizer(cfg, model)
        if env.is_main:
            cfg.save(run.config)
    training = {**data.training_card(cfg), "init": card.training.get("init")}
    return model, card.with_(training=training), state, opt


def wrap(model: torch.nn.Module, env: DistEnv) -> torch.nn.Module:
    """The model on this process's device (CUDA when there is one; bf16 autocast in the
    step), under DDP when several processes train."""
    model.to(env.device)
    if env.world == 1:
        return model
    return DistributedDataParallel(model, device_ids=[env.local_rank] if env.device.type == "cuda"
                                   else None)


def run_epoch(cfg: TrainConfig, epoch: int, net, opt, objective, dataset: CachedImages,
              data: TrainData, env: DistEnv, show: bool) -> dict:
    """One epoch of optimizer steps; returns the mean of every loss part and the speed."""
    if hasattr(objective, "set_epoch"):  # objectives with their own randomness (MAE masks)
        objective.set_epoch(epoch)
    # Dropout, drop path and mixup/cutmix draw from the global RNG: seeded per (seed, epoch,
    # rank), an epoch resumed after a kill draws exactly what the uninterrupted run drew.
    torch.manual_seed(keyed_seed(cfg.seed, epoch, env.rank))
    # With synthetic images an epoch still draws one sample per *real* training image:
    # the same optimizer steps as a real-only run, so a comparison isolates the data.
    order = epoch_order(data.labels[data.indices("train")], cfg.seed, epoch,
                        BALANCE_POWERS[cfg.balance][0], size=data.n_real_train)
    dataset.set_epoch(epoch, order)
    batches = rank_batches(np.arange(len(order)), cfg.batch_size, env.rank, env.world)
    if cfg.max_batches_per_epoch:
        batches = batches[:cfg.max_batches_per_epoch]
    steps = len(batches)
    loader = DataLoader(dataset, batch_sampler=batches, num_workers=cfg.workers)
    net.train()
    t0, seen, sums = time.time(), 0, {}
    bar = tqdm(loader, total=steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not show,
               unit="batch", leave=False)
    with global_batch_norm(env):
        for i, (x, y, rows) in enumerate(bar):
            x, y = x.to(env.device, non_blocking=True), y.to(env.device, non_blocking=True)
            set_lr(opt, lr_at(cfg, epoch * steps + i, steps))
            with torch.autocast(env.device.type, torch.bfloat16, enabled=env.device.type == "cuda"):
                parts = objective(net, x, y, rows)
            opt.zero_grad(set_to_none=True)
            parts["loss"].backward()
            opt.step()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + float(env.sum(v.detach())) / env.world
            seen += len(y) * env.world
            bar.set_postfix(loss=f"{sums['loss'] / (i + 1):.3f}",
                            img_s=f"{seen / (time.time() - t0):.0f}")
    seconds = time.time() - t0
    rec = {f"train_{k}": v / max(steps, 1) for k, v in sums.items()}
    return {**rec, "lr": opt.param_groups[0]["lr"], "train_seconds": round(seconds, 1),
            "train_img_per_s": round(seen / max(seconds, 1e-9), 1)}


def validate(cfg, model, data: TrainData) -> tuple[dict, float]:
    """Metrics and mean cross-entropy on the validation split."""
    val_idx = data.indices("val")
    logits = torch.from_numpy(predict_logits(model, data.images, val_idx, cfg.eval_batch_size))
    y = torch.from_numpy(data.labels[val_idx])
    return (classification_metrics(y.numpy(), torch.softmax(logits, 1).numpy()),
            float(F.cross_entropy(logits, y)))


def validate_and_save(cfg: TrainConfig, epoch: int, model, opt, card: ModelCard,
                      data: TrainData, state: dict, rec: dict, run: RunFolder,
                      show: bool) -> dict:
    """Score on val, keep ``best/`` by balanced accuracy, save ``last/``; the new state."""
    m, val_loss = validate(cfg, model, data)
    rec = {"epoch": epoch, "train_loss": rec.pop("train_loss"), "val_loss": val_loss,
           "val_accuracy": m["accuracy"], "val_balanced_accuracy": m["balanced_accuracy"],
           "val_macro_f1": m["macro_f1"], "val_auc_ovr": m["auc_ovr"],
           "val_mel_recall": m["per_class"]["mel"]["recall"], **rec}
    history = state["history"] + [rec]
    is_best = m["balanced_accuracy"] > state["best"]
    best = max(state["best"], m["balanced_accuracy"])
    scored = card.with_(metrics={"val": m, "epoch": epoch})
    if is_best:
        save_checkpoint(run.best, model, scored)
    new_state = {"epoch": epoch + 1, "best": best, "history": history}
    save_checkpoint(run.last, model, scored, extra_tensors={OPTIMIZER: optimizer_tensors(opt)},
                    extra_json={STATE: new_state})
    plot_training_curves(history, run.curves, f"{cfg.model} @ {cfg.img_size}px")
    if show:
        tqdm.write(f"epoch {epoch + 1}/{cfg.epochs}  loss {rec['train_loss']:.4f}  "
                   f"val bal-acc {rec['val_balanced_accuracy']:.4f}  macro-F1 "
                   f"{rec['val_macro_f1']:.4f}  {rec['train_img_per_s']:.0f} img/s"
                   f"{'  *best*' if is_best else ''}")
    return new_state


def finish(cfg: TrainConfig, run: RunFolder, data: TrainData, history: list[dict]) -> dict:
    """Score the best checkpoint on the test split; write metrics.json and plots."""
    best, card = load_checkpoint(run.best)
    test_idx = data.indices("test")
    logits = predict_logits(best, data.images, test_idx, cfg.eval_batch_size)
    test = classification_metrics(data.labels[test_idx],
                                  torch.softmax(torch.from_numpy(logits), 1).numpy())
    plot_confusion(np.array(test["confusion_matrix"]), test["labels"], run.confusion("test"),
                   f"{cfg.model} test split (balanced acc {test['balanced_accuracy']:.3f})")
    save_checkpoint(run.best, best, card.with_(metrics={**card.metrics, "test": test}),
                    extra_json={run.split.name: json.loads(run.split.read_text())})
    result = {"config": cfg.to_dict(), "best_epoch": card.metrics.get("epoch"),
              "val": card.metrics.get("val"), "test": test, "history": history}
    write_json(run.metrics, result)
    return result


def train(cfg: TrainConfig, make_objective: ObjectiveFactory = supervised_objective) -> dict:
    """Train, validate each epoch, test the best checkpoint; returns the final metrics."""
    check_sources(cfg)
    env = start_process_group()
    run = open_run(cfg.out, env)
    show = cfg.progress and env.is_main
    data = prepare_data(cfg, run, env, show)
    model, card, state, opt = init_or_resume(cfg, data, run, env)
    objective = make_objective(cfg, data, env)
    net = wrap(model, env)
    dataset = CachedImages(data.images, data.labels, data.indices("train"), AugmentConfig(),
                           cfg.seed)
    for epoch in range(state["epoch"], cfg.epochs):
        rec = run_epoch(cfg, epoch, net, opt, objective, dataset, data, env, show)
        if env.is_main:
            state = validate_and_save(cfg, epoch, model, opt, card, data, state, rec, run, show)
        env.barrier()
        state["epoch"] = epoch + 1
    result = finish(cfg, run, data, state["history"]) if env.is_main else {}
    env.barrier()
    env.close()
    return result

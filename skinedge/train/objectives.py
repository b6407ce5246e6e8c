"""Training objectives: what one batch costs. Each returns a dict of loss parts whose
``"loss"`` is back-propagated (timm's distillation task shape), so a second loss (a teacher's
soft targets) plugs into the same epoch loop."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..distributed import DistEnv


def class_weights(labels: np.ndarray, k: int, power: float = 1.0) -> np.ndarray:
    """count_c^-power, scaled to a mean of 1 over the images: with power 1 (n / (k * count_c))
    each class contributes equally to the loss ("balanced"); 0.5 is square-root balancing."""
    counts = np.maximum(np.bincount(labels, minlength=k).astype(np.float64), 1)
    w = counts ** -power
    return w * len(labels) / float((w * counts).sum())


def global_mean(per_sample: torch.Tensor, weight: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Weighted mean over the *global* batch: normalised by the total weight of all processes,
    so DDP's gradient average equals the one-process gradient exactly."""
    denom = env.sum(weight.sum().detach())
    return (weight * per_sample).sum() * env.world / denom


def mix_batch(x: torch.Tensor, y: torch.Tensor, mixup: float, cutmix: float):
    """Mixup or CutMix (one per batch, chosen at random when both are on). Returns the mixed
    images, the partner labels and the share ``lam`` of the original labels."""
    if not (mixup or cutmix):
        return x, y, 1.0
    # every draw from torch's global RNG, which the epoch loop seeds (resume is bitwise)
    perm = torch.randperm(len(x)).to(x.device)
    use_cut = cutmix > 0 and (mixup <= 0 or bool(torch.rand(()) < 0.5))
    a = torch.tensor(float(cutmix if use_cut else mixup))
    lam = float(torch.distributions.Beta(a, a).sample())
    if not use_cut:
        return lam * x + (1 - lam) * x[perm], y[perm], lam
    s = x.shape[-1]
    cut = int(s * (1 - lam) ** 0.5)
    cy, cx = (int(v) for v in torch.randint(s, (2,)))
    y0, y1 = max(cy - cut // 2, 0), min(cy + cut // 2, s)
    x0, x1 = max(cx - cut // 2, 0), min(cx + cut // 2, s)
    x = x.clone()
    x[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
    return x, y[perm], 1 - (y1 - y0) * (x1 - x0) / (s * s)


class SupervisedObjective:
    """Cross-entropy with label smoothing, optionally class-weighted, mixup/cutmix."""

    def __init__(self, env: DistEnv, label_smoothing: float = 0.0,
                 class_weight: torch.Tensor | None = None, mixup: float = 0.0,
                 cutmix: float = 0.0):
        self.env, self.label_smoothing, self.class_weight = env, label_smoothing, class_weight
        self.mixup, self.cutmix = mixup, cutmix

    def weights(self, y: torch.Tensor) -> torch.Tensor:
        if self.class_weight is None:
            return torch.ones(len(y), dtype=torch.float32, device=y.device)
        return self.class_weight.to(y.device)[y]

    def cross_entropy(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, y, reduction="none", label_smoothing=self.label_smoothing)

    def __call__(self, net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                 rows: torch.Tensor | None = None) -> dict:
        """x: [B, 3, S, S] in [0, 1]; y: [B] class indices; rows: [B] the images' rows in the
        training arrays -> {"loss"}."""
        x, y2, lam = mix_batch(x, y, self.mixup, self.cutmix)
        logits = net(x)
        per = lam * self.cross_entropy(logits, y) + (1 - lam) * self.cross_entropy(logits, y2)
        return {"loss": global_mean(per, self.weights(y), self.env)}


class LiveTeachers:
    """Teachers (one, or an ensemble whose probabilities are averaged) that score the *same
    augmented batch* the student sees ("consistent teaching"), each at its own input size,
    under no_grad."""

    def __init__(self, teachers: list[torch.nn.Module]):
        self.teachers = [t.eval().requires_grad_(False) for t in teachers]

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, rows: torch.Tensor | None, temperature: float):
        """[B, K]: the mean over teachers of softmax(logits / T)."""
        out = 0
        for t in self.teachers:
            size = t.input_size
            xt = x if x.shape[-1] == size else F.interpolate(
                x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            out = out + torch.softmax(t(xt).float() / temperature, dim=1)
        return out / len(self.teachers)


class CachedTeacher:
    """Teacher logits computed once per training image (``skinedge teach``: the mean over
    fixed views), looked up by the image's row: the teacher costs nothing per step, but it
    no longer sees the student's exact augmented view."""

    def __init__(self, logits: torch.Tensor):
        self.logits = logits  # [N rows, V views, K]

    def __call__(self, x: torch.Tensor, rows: torch.Tensor, temperature: float):
        z = self.logits[rows.to(self.logits.device)].to(x.device).float()
        return torch.softmax(z / temperature, dim=-1).mean(1)


class DistillationObjective(SupervisedObjective):
    """(1 - kd_weight) x task loss + kd_weight x distillation loss. Soft: KL between
    temperature-softened distributions (x T^2, Hinton); hard: cross-entropy with the teachers'
    top-1 (DeiT's hard distillation). ``teacher`` is a LiveTeachers or a CachedTeacher."""

    def __init__(self, env: DistEnv, teacher, kd_weight: float, temperature: float,
                 hard: bool, **task):
        super().__init__(env, **task)
        self.teacher, self.kd_weight, self.temperature, self.hard = \
            teacher, kd_weight, temperature, hard
        if isinstance(teacher, CachedTeacher) and (self.mixup or self.cutmix):
            raise ValueError("cached teacher labels are per image: no mixup/cutmix")

    def teacher_probs(self, x: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        return self.teacher(x, rows, self.temperature)

    def __call__(self, net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                 rows: torch.Tensor | None = None) -> dict:
        x, y2, lam = mix_batch(x, y, self.mixup, self.cutmix)
        target = self.teacher_probs(x, rows)
        logits = net(x)
        task = lam * self.cross_entropy(logits, y) + (1 - lam) * self.cross_entropy(logits, y2)
        if self.hard:
            kd = F.cross_entropy(logits, target.argmax(1), reduction="none")
        else:
            log_p = F.log_softmax(logits / self.temperature, dim=1)
            kd = (target * (target.clamp_min(1e-12).log() - log_p)).sum(1) * self.temperature ** 2
        w = self.weights(y)
        task_loss, kd_loss = global_mean(task, w, self.env), global_mean(kd, w, self.env)
        return {"loss": (1 - self.kd_weight) * task_loss + self.kd_weight * kd_loss,
                "task_loss": task_loss, "kd_loss": kd_loss}

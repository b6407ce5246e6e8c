"""``skinedge distill``: a student trained on the same loop as ``skinedge train``, with a
teacher (any checkpoint: the MAE-pretrained ViT, a supervised CNN, or an ensemble) in its
objective. The teacher scores the same augmented batch the student sees; caching teacher
outputs for fixed views would break that consistency, so it is not done."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import option
from ..errors import ConfigError
from ..labels import CLASSES
from .config import TrainConfig, model_names


@dataclass(frozen=True)
class DistillConfig(TrainConfig):
    model: str = option("mobilenetv4_conv_small", "student architecture from the registry",
                        flag="--student", choices=model_names, metavar="NAME")
    teacher: tuple[str, ...] = option((), "teacher checkpoint folder(s), comma-separated: "
                                      "several are an ensemble (mean of probabilities)",
                                      metavar="CKPT[,CKPT...]")
    kd_weight: float = option(0.5, "share of the distillation loss (the rest is the "
                                   "label loss), in [0, 1]")
    temperature: float = option(2.0, "softmax temperature of the soft targets")
    hard: bool = option(False, "DeiT-style hard distillation: the teachers' top-1 as a label")

    def __post_init__(self):
        super().__post_init__()
        if not self.teacher:
            raise ConfigError("--teacher: give at least one teacher checkpoint folder")
        if not 0 <= self.kd_weight <= 1:
            raise ConfigError(f"--kd-weight {self.kd_weight} must be in [0, 1]")
        if self.temperature <= 0:
            raise ConfigError(f"--temperature {self.temperature} must be positive")


def distillation_objective(cfg: DistillConfig, data, env):
    from ..checkpoint import load_checkpoint
    from .loop import task_weights
    from .objectives import DistillationObjective

    teachers = []
    for path in cfg.teacher:
        model, card = load_checkpoint(path)
        if tuple(card.labels) != CLASSES:
            raise ConfigError(f"--teacher {path}: labels {', '.join(card.labels)}; the student "
                              f"learns {', '.join(CLASSES)}")
        model.input_size = card.input_size
        teachers.append(model.to(env.device))
    return DistillationObjective(env, teachers, cfg.kd_weight, cfg.temperature, cfg.hard,
                                 label_smoothing=cfg.label_smoothing,
                                 class_weight=task_weights(cfg, data), mixup=cfg.mixup,
                                 cutmix=cfg.cutmix)


def distill(cfg: DistillConfig) -> dict:
    from .loop import train

    return train(cfg, distillation_objective)

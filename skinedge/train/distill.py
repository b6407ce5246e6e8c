"""``skinedge distill``: a student trained on the same loop as ``skinedge train``, with a
teacher (any checkpoint: the MAE-pretrained ViT, a supervised CNN, or an ensemble) in its
objective. The teacher scores the same augmented batch the student sees ("consistent
teaching"); or, with ``--teacher-labels``, logits written once by ``skinedge teach`` for fixed
views of each image are looked up (no teacher at run time; the views no longer match)."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import option
from ..errors import ConfigError
from .config import TrainConfig, model_names


@dataclass(frozen=True)
class DistillConfig(TrainConfig):
    model: str = option("mobilenetv4_conv_small", "student architecture from the registry",
                        flag="--student", choices=model_names, metavar="NAME")
    teacher: tuple[str, ...] = option((), "teacher checkpoint folder(s), comma-separated: "
                                      "several are an ensemble (mean of probabilities)",
                                      metavar="CKPT[,CKPT...]")
    kd_weight: float = option(0.5, "share of the distillation loss (the rest is the "
                                   "label loss), in [0, 1]", min=0, max=1)
    temperature: float = option(2.0, "softmax temperature of the soft targets", above=0,
                                max=100)
    hard: bool = option(False, "DeiT-style hard distillation: the teachers' top-1 as a label")
    teacher_labels: str | None = option(None, "instead of --teacher: a file from `skinedge "
                                        "teach` (teacher logits per training image, fixed views; "
                                        "no teacher runs during training)", metavar="FILE")

    def __post_init__(self):
        super().__post_init__()
        if bool(self.teacher) == bool(self.teacher_labels):
            raise ConfigError("--teacher: give teacher checkpoint folder(s), or --teacher-labels "
                              "FILE, not both")
        if self.teacher_labels and (self.mixup or self.cutmix):
            raise ConfigError("--teacher-labels: the cached labels are per image; mixup and "
                              "cutmix need a teacher that sees the mixed batch (--teacher)")


def distillation_objective(cfg: DistillConfig, data, env):
    from .loop import load_teacher, task_weights
    from .objectives import DistillationObjective, LiveTeachers

    teachers = []
    if cfg.teacher_labels:
        from .teach import read_teacher_labels

        teacher = read_teacher_labels(cfg.teacher_labels, data)
    for path in cfg.teacher:
        teachers.append(load_teacher(path, cfg.allow_unfinished)[0].to(env.device))
    if cfg.teacher:
        teacher = LiveTeachers(teachers)
    return DistillationObjective(env, teacher, cfg.kd_weight, cfg.temperature, cfg.hard,
                                 label_smoothing=cfg.label_smoothing,
                                 class_weight=task_weights(cfg, data), mixup=cfg.mixup,
                                 cutmix=cfg.cutmix)


def distill(cfg: DistillConfig) -> dict:
    from .loop import train

    if cfg.teacher_labels:  # the format before anything is written; its split once data is read
        from .teach import open_teacher_labels

        open_teacher_labels(cfg.teacher_labels)
    return train(cfg, distillation_objective)

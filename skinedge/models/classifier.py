"""The classifier every stage trains and every target exports.

Normalization lives inside the graph: the model takes RGB in [0, 1], so an exported artifact
needs only a resize from the app. mean/std come from the model card (measured on the
training split), never from a second constant.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class SkinClassifier(nn.Module):
    def __init__(self, backbone: nn.Module, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))
        self.input_size = None  # set by create_model: the square input the model was built for

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] -> the backbone's input (the training images' mean/std)."""
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [N, 3, H, W] RGB in [0, 1] -> logits [N, num_classes]."""
        return self.backbone(self.normalize(x))


def count_flops(model: nn.Module, img_size: int) -> int:
    """FLOPs of one forward pass at batch 1 (a multiply-add counts 2), from torch's
    FlopCounterMode over the real graph (convolutions, matmuls, attention)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(1, 3, img_size, img_size))
    model.train(was_training)
    return int(counter.get_total_flops())

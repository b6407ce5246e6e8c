"""Test-time averaging over the 8 dihedral views of an image (4 rotations x mirror), built
into the graph so an exported artifact does it on the phone: one photo in, 8x the compute.

Dermoscopic lesions have no canonical orientation, so every view is as valid as the photo;
averaging the class probabilities over them is a self-ensemble. The output is the log of the
averaged probabilities, so softmax of it gives them back and every runtime and app treats it
like any model's logits."""
from __future__ import annotations

import torch
from torch import nn

VIEW_CHOICES = (1, 8)


def dihedral_views(x: torch.Tensor) -> torch.Tensor:
    """[N, C, S, S] -> [8N, C, S, S]: identity, the mirrors and the rotations, view-major."""
    t = x.transpose(2, 3)
    return torch.cat([x, x.flip(3), x.flip(2), x.flip(2).flip(3),
                      t, t.flip(3), t.flip(2), t.flip(2).flip(3)])


class ViewAverage(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        logits = self.model(dihedral_views(x))
        probs = logits.softmax(-1).reshape(8, n, logits.shape[-1]).mean(0)
        return probs.clamp_min(1e-12).log()


def with_views(model: nn.Module, views: int) -> nn.Module:
    if views not in VIEW_CHOICES:
        raise ValueError(f"views must be one of {VIEW_CHOICES}, not {views}")
    return model if views == 1 else ViewAverage(model).eval()

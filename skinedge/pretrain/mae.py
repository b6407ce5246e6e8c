"""Masked Autoencoder (He et al., 2022) around the registry's ViT classifier.

The encoder *is* the teacher's backbone (a timm VisionTransformer inside a SkinClassifier), so a
pre-trained checkpoint loads into ``skinedge train --init`` without renaming anything. The
encoder sees the visible 25% of the patches; a light decoder (4 blocks, 256 wide) predicts the
pixels of the masked ones; the loss is the MSE on masked patches of per-patch normalised pixels.
Positional embeddings are fixed 2-D sin-cos tables, as in the paper.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..models.classifier import SkinClassifier


def sincos_2d(dim: int, grid: int, cls_token: bool) -> torch.Tensor:
    """[1, grid*grid (+1), dim] fixed 2-D sin-cos position table (zeros for the cls token)."""
    def one_axis(d: int, pos: np.ndarray) -> np.ndarray:
        omega = 1.0 / 10000 ** (np.arange(d // 2, dtype=np.float64) / (d / 2))
        out = np.outer(pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    gy, gx = np.meshgrid(np.arange(grid, dtype=np.float64), np.arange(grid, dtype=np.float64),
                         indexing="ij")
    table = np.concatenate([one_axis(dim // 2, gy), one_axis(dim // 2, gx)], axis=1)
    if cls_token:
        table = np.concatenate([np.zeros((1, dim)), table])
    return torch.from_numpy(table).float().unsqueeze(0)


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """[N, 3, H, W] -> [N, L, p*p*3]."""
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // p, p, w // p, p)
    return torch.einsum("nchpwq->nhwpqc", x).reshape(n, (h // p) * (w // p), p * p * c)


def unpatchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """[N, L, p*p*3] -> [N, 3, H, W]."""
    n, length, _ = x.shape
    g = int(round(length ** 0.5))
    x = x.reshape(n, g, g, p, p, 3)
    return torch.einsum("nhwpqc->nchpwq", x).reshape(n, 3, g * p, g * p)


class MaskedAutoencoder(nn.Module):
    def __init__(self, classifier: SkinClassifier, decoder_dim: int = 256, decoder_depth: int = 4,
                 decoder_heads: int = 8, mask_ratio: float = 0.75, norm_pix_loss: bool = True):
        from timm.models.vision_transformer import Block

        super().__init__()
        self.classifier = classifier
        vit = classifier.backbone
        self.patch = vit.patch_embed.patch_size[0]
        self.grid = vit.patch_embed.grid_size[0]
        dim = vit.embed_dim
        self.mask_ratio, self.norm_pix_loss = mask_ratio, norm_pix_loss
        vit.pos_embed.data.copy_(sincos_2d(dim, self.grid, cls_token=True))
        vit.pos_embed.requires_grad_(False)
        # The classification head takes no part in reconstruction: frozen, it stays out of the
        # optimizer and out of DDP's gradient reduction (which fails on parameters left unused).
        vit.head.requires_grad_(False)
        self.decoder_embed = nn.Linear(dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.register_buffer("decoder_pos", sincos_2d(decoder_dim, self.grid, cls_token=True))
        self.decoder_blocks = nn.ModuleList(Block(decoder_dim, decoder_heads, qkv_bias=True)
                                            for _ in range(decoder_depth))
        self.decoder_norm = nn.LayerNorm(decoder_dim)
        self.decoder_pred = nn.Linear(decoder_dim, self.patch ** 2 * 3)
        nn.init.normal_(self.mask_token, std=0.02)
        for m in (self.decoder_embed, self.decoder_pred, *self.decoder_blocks.modules()):
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def encode(self, x: torch.Tensor, noise: torch.Tensor):
        """x: [N, 3, H, W] in [0, 1]; noise: [N, L] (the lowest-noise patches stay visible).
        Returns latent [N, 1 + L_keep, D], mask [N, L] (1 = hidden), restore order [N, L]."""
        vit = self.classifier.backbone
        t = vit.patch_embed(self.classifier.normalize(x)) + vit.pos_embed[:, 1:]
        n, length, d = t.shape
        keep = int(length * (1 - self.mask_ratio))
        shuffle = noise.argsort(dim=1)
        restore = shuffle.argsort(dim=1)
        t = torch.gather(t, 1, shuffle[:, :keep, None].expand(-1, -1, d))
        mask = torch.ones(n, length, device=x.device)
        mask[:, :keep] = 0
        mask = torch.gather(mask, 1, restore)
        cls = (vit.cls_token + vit.pos_embed[:, :1]).expand(n, -1, -1)
        t = vit.blocks(torch.cat([cls, t], dim=1))
        return vit.norm(t), mask, restore

    def decode(self, latent: torch.Tensor, restore: torch.Tensor) -> torch.Tensor:
        """latent [N, 1 + L_keep, D] -> predicted patches [N, L, p*p*3]."""
        t = self.decoder_embed(latent)
        n, length = restore.shape
        masked = self.mask_token.expand(n, length + 1 - t.shape[1], -1)
        body = torch.cat([t[:, 1:], masked], dim=1)
        body = torch.gather(body, 1, restore[:, :, None].expand(-1, -1, t.shape[2]))
        t = torch.cat([t[:, :1], body], dim=1) + self.decoder_pos
        for blk in self.decoder_blocks:
            t = blk(t)
        return self.decoder_pred(self.decoder_norm(t))[:, 1:]

    def target(self, x: torch.Tensor) -> torch.Tensor:
        t = patchify(x, self.patch)
        if self.norm_pix_loss:
            mean, var = t.mean(-1, keepdim=True), t.var(-1, keepdim=True)
            t = (t - mean) / (var + 1e-6) ** 0.5
        return t

    def forward(self, x: torch.Tensor, noise: torch.Tensor):
        """Returns (loss, predicted patches [N, L, p*p*3], mask [N, L])."""
        latent, mask, restore = self.encode(x, noise)
        pred = self.decode(latent, restore)
        per_patch = ((pred - self.target(x)) ** 2).mean(-1)
        return (per_patch * mask).sum() / mask.sum(), pred, mask

    def reconstruct(self, x: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Predicted pixels (un-normalised with each patch's own statistics) pasted into the
        masked patches of ``x``: [N, 3, H, W] in [0, 1], for pictures."""
        t = patchify(x, self.patch)
        if self.norm_pix_loss:
            pred = pred * (t.var(-1, keepdim=True) + 1e-6) ** 0.5 + t.mean(-1, keepdim=True)
        mixed = t * (1 - mask[..., None]) + pred * mask[..., None]
        return unpatchify(mixed, self.patch).clamp(0, 1)

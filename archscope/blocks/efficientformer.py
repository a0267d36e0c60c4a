"""EfficientFormer's multi-head self-attention with a learned attention bias, written from its published definition
(EfficientFormer, arXiv:2206.01191, section 3 "Meta3D" token mixer; the authors' ``Attention`` module).

Per head: ``softmax(q k^T * key_dim^-0.5 + B) v`` where ``B`` is a learned bias indexed by the absolute offset
(|dy|, |dx|) between two positions of a fixed ``resolution`` grid. The grid is part of the weights, so the block only
accepts feature maps of exactly that size: a different H x W is reported as an error, not silently resized.

archscope wraps the token mixer for YOLO feature maps: ``[B, C, H, W]`` is flattened to ``H * W`` tokens, attended,
and folded back. Queries and keys are ``key_dim`` wide, values ``attn_ratio * key_dim``; one ``Linear`` (with bias)
makes all three, another projects back to C.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from archscope.build.registry import SameAsInput, block


def _grid(resolution) -> tuple[int, int]:
    if isinstance(resolution, int) and not isinstance(resolution, bool):
        hw = (resolution, resolution)
    elif isinstance(resolution, (list, tuple)) and len(resolution) == 2:
        hw = tuple(resolution)
    else:
        raise ValueError(f"EfficientFormerAttention: resolution must be an int or [H, W], got {resolution!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in hw):
        raise ValueError(f"EfficientFormerAttention: resolution must be positive integers, got {resolution!r}")
    return hw


def _bias_index(grid: tuple[int, int]) -> tuple[torch.Tensor, int]:
    """[N, N] index of each position pair's (|dy|, |dx|) offset into the bias table, and the number of offsets."""
    points = list(itertools.product(range(grid[0]), range(grid[1])))
    offsets: dict[tuple[int, int], int] = {}
    idxs = [offsets.setdefault((abs(a[0] - b[0]), abs(a[1] - b[1])), len(offsets)) for a in points for b in points]
    return torch.tensor(idxs, dtype=torch.long).view(len(points), len(points)), len(offsets)


@block(family="efficientformer", channels=SameAsInput(prepend_input=True))
class EfficientFormerAttention(nn.Module):
    """EfficientFormer's attention with a learned (|dy|, |dx|) bias over a fixed grid. Args after c1:
    [key_dim, num_heads, attn_ratio, resolution] (resolution: int or [H, W], the feature map it will see);
    output channels = input channels."""

    def __init__(self, c1: int, key_dim: int = 32, num_heads: int = 8, attn_ratio: float = 4,
                 resolution: int | tuple[int, int] = 7):
        super().__init__()
        if key_dim < 1 or num_heads < 1 or attn_ratio <= 0:
            raise ValueError("EfficientFormerAttention: key_dim, num_heads and attn_ratio must be positive")
        self.grid = _grid(resolution)
        self.num_heads, self.key_dim = num_heads, key_dim
        self.d = int(attn_ratio * key_dim)  # value width per head
        self.scale = key_dim ** -0.5
        self.qkv = nn.Linear(c1, num_heads * (2 * key_dim + self.d))
        self.proj = nn.Linear(num_heads * self.d, c1)
        idxs, n_offsets = _bias_index(self.grid)
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, n_offsets))
        self.register_buffer("attention_bias_idxs", idxs, persistent=False)

    def init_real(self):
        """The offset index is data, not a weight: rebuild it once the meta-built block has real storage."""
        self.attention_bias_idxs.copy_(_bias_index(self.grid)[0])

    def forward(self, x):
        b, c, h, w = x.shape
        if (h, w) != self.grid:
            gh, gw = self.grid
            raise ValueError(f"EfficientFormerAttention: feature map {h}x{w} does not match its attention-bias grid "
                             f"{gh}x{gw} (resolution); set resolution to [{h}, {w}] or change the image size")
        n = h * w
        tokens = x.flatten(2).transpose(1, 2)  # [B, N, C]
        qkv = self.qkv(tokens).view(b, n, self.num_heads, -1).permute(0, 2, 1, 3)
        q, k, v = qkv.split([self.key_dim, self.key_dim, self.d], dim=3)
        attn = (q @ k.transpose(-2, -1)) * self.scale + self.attention_biases[:, self.attention_bias_idxs]
        out = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, self.num_heads * self.d)
        return self.proj(out).transpose(1, 2).reshape(b, c, h, w)

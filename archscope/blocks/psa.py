"""The PSA attention unit (YOLOv10's partial self-attention, YOLO11's C2PSA, YOLO26's attention C3k2), on its own.

Written from the published definition (YOLOv10, arXiv:2405.14458, section 3.2). It lives apart from
:mod:`archscope.blocks.attention` so that the CSP family (``C3k2(attn=True)``) can use it without an import cycle;
:mod:`archscope.blocks.attention` re-exports both classes. The layout conventions are the ones described there: q, k,
v are ``[B, heads, d, N]`` with ``N = H * W``, every attention product an explicit ``@``.
"""

from __future__ import annotations

from torch import nn

from archscope.blocks.common import Conv


def _need_equal_channels(name: str, c1: int, c2: int) -> None:
    if c1 != c2:
        raise ValueError(f"{name} keeps its channel count: input channels {c1} must equal output channels {c2}")


def _psa_heads(c: int) -> int:
    """PSA-style blocks use one head per 64 channels of the attended half (at least one)."""
    return max(c // 64, 1)


class Attention(nn.Module):
    """Multi-head self-attention over all H*W positions, with 1x1-conv projections and a depthwise 3x3 positional
    encoding on the values (the YOLOv10 PSA attention).

    Keys and queries are ``key_dim = int(head_dim * attn_ratio)`` wide per head, values ``head_dim`` wide, all three
    produced by one 1x1 Conv (no activation) with ``dim + 2 * heads * key_dim`` output channels.
    """

    def __init__(self, dim, num_heads=8, attn_ratio=0.5):
        super().__init__()
        if num_heads < 1 or dim % num_heads:
            raise ValueError(f"Attention: {dim} channels cannot be split evenly into {num_heads} heads")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.key_dim = int(self.head_dim * attn_ratio)
        self.scale = self.key_dim ** -0.5
        qkv_channels = dim + 2 * self.key_dim * num_heads
        self.qkv = Conv(dim, qkv_channels, 1, act=False)
        self.proj = Conv(dim, dim, 1, act=False)
        self.pe = Conv(dim, dim, 3, 1, g=dim, act=False)

    def forward(self, x):
        b, c, h, w = x.shape
        tokens = h * w
        per_head = (self.key_dim, self.key_dim, self.head_dim)
        q, k, v = self.qkv(x).view(b, self.num_heads, sum(per_head), tokens).split(per_head, dim=2)
        scores = (q * self.scale).transpose(-2, -1) @ k  # [B, heads, N, N]
        weights = scores.softmax(dim=-1)
        out = (v @ weights.transpose(-2, -1)).view(b, c, h, w)  # [B, heads, head_dim, N] -> [B, C, H, W]
        out = out + self.pe(v.reshape(b, c, h, w))
        return self.proj(out)


class PSABlock(nn.Module):
    """Attention then a two-layer 1x1-conv FFN (c -> 2c -> c), each with a residual add when ``shortcut``."""

    def __init__(self, c, attn_ratio=0.5, num_heads=4, shortcut=True):
        super().__init__()
        self.attn = Attention(c, num_heads=num_heads, attn_ratio=attn_ratio)
        self.ffn = nn.Sequential(Conv(c, 2 * c, 1), Conv(2 * c, c, 1, act=False))
        self.add = shortcut

    def forward(self, x):
        x = x + self.attn(x) if self.add else self.attn(x)
        return x + self.ffn(x) if self.add else self.ffn(x)

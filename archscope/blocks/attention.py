"""Attention blocks of YOLOv10/YOLO11 (PSA-style multi-head self-attention) and YOLO12 (area attention).

Written from the published definitions (YOLOv10, arXiv:2405.14458, section 3.2 "partial self-attention";
YOLO11's C2PSA / C2fPSA, which stack the same attention + FFN unit; YOLO12, arXiv:2502.12524, "area attention"
and R-ELAN). Every attention product is an explicit ``@`` (an ATen ``bmm``/``matmul``), computed in the same order
as the published blocks, so that dispatch-level FLOP counting sees exactly the work the real block does.

Layout conventions (they decide which axis a matmul contracts, and therefore its FLOPs):

* :class:`Attention` keeps tokens last: q, k, v are ``[B, heads, d, N]`` with ``N = H * W``; the score matrix is
  ``(q * scale)^T @ k`` (``[B, heads, N, N]``) and the output ``v @ attn^T``.
* :class:`AAttn` puts tokens first, splits the flattened token sequence (row-major over H, then W) into ``area``
  contiguous groups of ``N / area`` tokens (horizontal bands of ``H / area`` rows when ``area`` divides ``H``) and
  attends within each group only.

None of these blocks depends on the feature map being square.
"""

from __future__ import annotations

import torch
from torch import nn

from archscope.blocks.common import Conv
from archscope.blocks.csp import C3, C2f, C3k
from archscope.blocks.psa import Attention, PSABlock, _need_equal_channels, _psa_heads  # noqa: F401 - re-exported
from archscope.build.registry import INNER, ScaledOut, block


@block(family="attention", channels=ScaledOut(), repeat=INNER)
class C2PSA(nn.Module):
    """YOLO11's C2PSA: a 1x1 conv splits the input in two halves; n PSABlocks refine one half; a 1x1 conv fuses."""

    def __init__(self, c1, c2, n=1, e=0.5):
        super().__init__()
        _need_equal_channels("C2PSA", c1, c2)
        self.c = int(c1 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv(2 * self.c, c1, 1)
        self.m = nn.Sequential(*(PSABlock(self.c, attn_ratio=0.5, num_heads=_psa_heads(self.c)) for _ in range(n)))

    def forward(self, x):
        keep, attend = self.cv1(x).split((self.c, self.c), dim=1)
        return self.cv2(torch.cat((keep, self.m(attend)), 1))


@block(family="attention", channels=ScaledOut(), repeat=INNER)
class C2fPSA(C2f):
    """C2f whose inner blocks are PSABlocks (every stage's output is concatenated, as in C2f)."""

    def __init__(self, c1, c2, n=1, e=0.5):
        _need_equal_channels("C2fPSA", c1, c2)
        super().__init__(c1, c2, n=n, e=e)
        self.m = nn.ModuleList(PSABlock(self.c, attn_ratio=0.5, num_heads=_psa_heads(self.c)) for _ in range(n))


# ------------------------------------------------------------------------------------------ YOLO12


class AAttn(nn.Module):
    """YOLO12 area attention: multi-head self-attention restricted to ``area`` groups of the flattened tokens.

    One 1x1 Conv (no activation) makes q, k and v (``3 * heads * head_dim`` channels, laid out per head as
    [q | k | v]); a depthwise 7x7 conv on v adds positional information; a 1x1 Conv projects back to ``dim``.
    With ``area > 1`` the H*W tokens (row-major) are cut into ``area`` equal contiguous groups, so H*W must be
    divisible by ``area``; a size that is not raises ``ValueError``.
    """

    def __init__(self, dim, num_heads, area=1):
        super().__init__()
        if num_heads < 1 or dim // num_heads < 1:
            raise ValueError(f"AAttn: cannot make {num_heads} heads from {dim} channels")
        self.area = area
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.all_head_dim = self.head_dim * num_heads
        self.qkv = Conv(dim, 3 * self.all_head_dim, 1, act=False)
        self.proj = Conv(self.all_head_dim, dim, 1, act=False)
        self.pe = Conv(self.all_head_dim, self.all_head_dim, 7, 1, 3, g=self.all_head_dim, act=False)

    def forward(self, x):
        b, _, h, w = x.shape
        tokens = h * w
        inner = self.all_head_dim
        groups = self.area if self.area > 1 else 1
        if tokens % groups:
            raise ValueError(
                f"area attention cannot split a {h}x{w} feature map ({tokens} positions) into {groups} equal areas; "
                f"H*W must be divisible by {groups}"
            )
        seq = self.qkv(x).flatten(2).transpose(1, 2)  # [B, N, 3*inner], tokens row-major
        if groups > 1:
            seq = seq.reshape(b * groups, tokens // groups, 3 * inner)
        bg, n_tok, _ = seq.shape
        q, k, v = (
            seq.view(bg, n_tok, self.num_heads, 3 * self.head_dim)
            .permute(0, 2, 3, 1)  # [B*areas, heads, 3*head_dim, N/areas]
            .split((self.head_dim, self.head_dim, self.head_dim), dim=2)
        )
        scores = (q * self.head_dim ** -0.5).transpose(-2, -1) @ k  # [B*areas, heads, N/areas, N/areas]
        weights = scores.softmax(dim=-1)
        out = (v @ weights.transpose(-2, -1)).permute(0, 3, 1, 2)  # [B*areas, N/areas, heads, head_dim]
        v = v.permute(0, 3, 1, 2)
        out = out.reshape(b, h, w, inner).permute(0, 3, 1, 2).contiguous()
        v = v.reshape(b, h, w, inner).permute(0, 3, 1, 2).contiguous()
        return self.proj(out + self.pe(v))


class ABlock(nn.Module):
    """Area attention then a 1x1-conv MLP (dim -> int(dim * mlp_ratio) -> dim), both with residual adds.

    At construction its convolution weights are drawn from a truncated normal (std 0.02) with zero biases, as
    published (a no-op on ``meta``). There is no ``init_real``: a materialised model keeps archscope's own
    deterministic random weights, which is all a profile needs.
    """

    def __init__(self, dim, num_heads, mlp_ratio=1.2, area=1):
        super().__init__()
        self.attn = AAttn(dim, num_heads=num_heads, area=area)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(Conv(dim, hidden, 1), Conv(hidden, dim, 1, act=False))
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.trunc_normal_(m.weight, std=0.02)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)

    def forward(self, x):
        x = x + self.attn(x)
        return x + self.mlp(x)


def _a2c2f_scale_args(args, scale):
    """YOLO12's l and x scales append (residual=True, mlp_ratio=1.2), as Ultralytics' parse_model does."""
    if scale in ("l", "x"):
        args.extend((True, 1.2))
    return args


@block(family="attention", channels=ScaledOut(), repeat=INNER, modern=True, scale_args=_a2c2f_scale_args)
class A2C2f(nn.Module):
    """YOLO12's R-ELAN block: a 1x1 conv to ``c_ = int(c2 * e)`` channels, n stages (each two ABlocks with
    ``c_ // 32`` heads when ``a2``, else a C3k), every stage's output concatenated and fused by a 1x1 conv; with
    ``a2 and residual`` the result is added to the input, scaled per channel by a learnable gamma (0.01 at start).
    """

    def __init__(self, c1, c2, n=1, a2=True, area=1, residual=False, mlp_ratio=2.0, e=0.5, g=1, shortcut=True):
        super().__init__()
        c_ = int(c2 * e)
        if c_ % 32:
            raise ValueError(f"A2C2f hidden width int({c2} * {e}) = {c_} must be a multiple of 32 (32 per head)")
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv((1 + n) * c_, c2, 1)
        self.gamma = nn.Parameter(0.01 * torch.ones(c2)) if (a2 and residual) else None
        self.m = nn.ModuleList(
            nn.Sequential(*(ABlock(c_, c_ // 32, mlp_ratio, area) for _ in range(2))) if a2
            else C3k(c_, c_, 2, shortcut, g)
            for _ in range(n)
        )

    def init_real(self):
        if self.gamma is not None:
            with torch.no_grad():
                self.gamma.fill_(0.01)

    def forward(self, x):
        y = [self.cv1(x)]
        for stage in self.m:
            y.append(stage(y[-1]))
        y = self.cv2(torch.cat(y, 1))
        if self.gamma is None:
            return y
        return x + self.gamma.view(1, -1, 1, 1) * y


# ------------------------------------------------------------------------------------------ C3TR (YOLOv5)


class TransformerLayer(nn.Module):
    """One transformer encoder layer over ``[N, B, c]`` tokens (no layer norm, as in YOLOv5's C3TR): q, k, v linear
    maps (no bias) feed ``nn.MultiheadAttention`` (its own in/out projections), then a two-linear FFN (no bias,
    no activation); both with residual adds."""

    def __init__(self, c, num_heads):
        super().__init__()
        self.q = nn.Linear(c, c, bias=False)
        self.k = nn.Linear(c, c, bias=False)
        self.v = nn.Linear(c, c, bias=False)
        self.ma = nn.MultiheadAttention(embed_dim=c, num_heads=num_heads)
        self.fc1 = nn.Linear(c, c, bias=False)
        self.fc2 = nn.Linear(c, c, bias=False)

    def forward(self, x):
        x = self.ma(self.q(x), self.k(x), self.v(x))[0] + x
        return self.fc2(self.fc1(x)) + x


class TransformerBlock(nn.Module):
    """ViT-style stage on a feature map: an optional 1x1 Conv to ``c2``, a learned linear position embedding added to
    the flattened tokens, then ``num_layers`` TransformerLayers; tokens are the H*W positions."""

    def __init__(self, c1, c2, num_heads, num_layers):
        super().__init__()
        if num_heads < 1 or c2 % num_heads:
            raise ValueError(f"TransformerBlock: {c2} channels cannot be split evenly into {num_heads} heads")
        self.conv = Conv(c1, c2) if c1 != c2 else None
        self.linear = nn.Linear(c2, c2)
        self.tr = nn.Sequential(*(TransformerLayer(c2, num_heads) for _ in range(num_layers)))
        self.c2 = c2

    def forward(self, x):
        if self.conv is not None:
            x = self.conv(x)
        b, _, h, w = x.shape
        tokens = x.flatten(2).permute(2, 0, 1)  # [N, B, c]
        return self.tr(tokens + self.linear(tokens)).permute(1, 2, 0).reshape(b, self.c2, h, w)


@block(family="attention", channels=ScaledOut(), repeat=INNER)
class C3TR(C3):
    """YOLOv5's C3 whose bottleneck chain is one TransformerBlock of ``n`` layers, 4 heads, on the hidden half."""

    def __init__(self, c1, c2, n=1, shortcut=True, g=1, e=0.5):
        super().__init__(c1, c2, n, shortcut, g, e)
        c_ = int(c2 * e)
        self.m = TransformerBlock(c_, c_, 4, n)

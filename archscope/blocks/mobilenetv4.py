"""MobileNetV4 blocks: Mobile MQA, its multi-head twin, the Universal Inverted Bottleneck, and the seed's C2f_MQA,
C2f_MHSA and C3_UIB.

Written from the published definitions (MobileNetV4, arXiv:2404.10518, sections 3.2 "Universal Inverted Bottleneck"
and 3.3 "Mobile MQA"; the TensorFlow Model Garden's ``MultiQueryAttentionLayerWithDownSampling`` and
``UniversalInvertedBottleneckBlock``) and, for C2f_MQA and C3_UIB, from the seed documents' descriptions. The seed
code's known defects are not copied: its MQA reshapes the context to ``(px, px)`` (square inputs only), its
query-downsampling branch calls ``avg_pool2d`` without the input, and it sizes the value projection by ``key_dim``.
Here every block works for any H x W.

Mobile MQA in one line: ``softmax((X W_Qj)(SR(X) W_K)^T / sqrt(d_k)) (SR(X) W_V)`` per head j, with one ``W_K`` and one
``W_V`` shared by all heads and ``SR`` a stride-``kv_strides`` depthwise conv + BN (identity when ``kv_strides`` is 1).
Sharing K and V is done the efficient way: the heads' queries are stacked into one ``[B, heads * Nq, key_dim]``
operand, so K and V are read once per image, not once per head; that is what raises the arithmetic intensity.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from archscope.blocks.csp import C3, C2f
from archscope.build.registry import INNER, OUTER, SameAsInput, ScaledOut, block
from archscope.util.text import positive_int


def _conv_bn(c1: int, c2: int, k: int = 1, s: int = 1, groups: int = 1, norm: bool = False,
             act: bool = False) -> nn.Sequential:
    """Conv2d without bias (same padding), optional BatchNorm and ReLU6: MobileNetV4's ``conv2d`` helper."""
    layers: list[nn.Module] = [nn.Conv2d(c1, c2, k, s, (k - 1) // 2, groups=groups, bias=False)]
    if norm:
        layers.append(nn.BatchNorm2d(c2))
    if act:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


def _positive_int(block_name: str, name: str, value) -> int:
    return positive_int(value, f"{block_name}: {name}", error=ValueError)


class _DownsampledAttention(nn.Module):
    """Attention over all H*W positions with ``kv_heads`` key/value heads shared by ``num_heads`` query heads
    (1: multi-query, ``num_heads``: multi-head), optional K/V downsampling (depthwise stride conv + BN) and optional
    query downsampling (average pool + BN before the query projection, bilinear upsampling after the output
    projection). All projections are 1x1 convs without bias.
    """

    def __init__(self, c1, num_heads, key_dim, value_dim, query_h_strides=1, query_w_strides=1, kv_strides=1,
                 dw_kernel_size=3, dropout=0.0, *, kv_heads: int):
        super().__init__()
        name = type(self).__name__
        for arg, value in (("num_heads", num_heads), ("key_dim", key_dim), ("value_dim", value_dim),
                           ("query_h_strides", query_h_strides), ("query_w_strides", query_w_strides),
                           ("kv_strides", kv_strides), ("dw_kernel_size", dw_kernel_size)):
            _positive_int(name, arg, value)
        self.num_heads, self.kv_heads = num_heads, kv_heads
        self.key_dim, self.value_dim = key_dim, value_dim
        self.query_strides = (query_h_strides, query_w_strides)
        self.kv_strides = kv_strides
        self.scale = key_dim ** -0.5
        if query_h_strides > 1 or query_w_strides > 1:
            # ceil_mode: a partial window at the bottom/right edge still pools (H, W need not divide the strides)
            self.query_pool = nn.AvgPool2d(self.query_strides, self.query_strides, ceil_mode=True)
            self.query_norm = nn.BatchNorm2d(c1)
        self.query_proj = _conv_bn(c1, num_heads * key_dim)
        if kv_strides > 1:
            self.key_dw = _conv_bn(c1, c1, dw_kernel_size, kv_strides, groups=c1, norm=True)
            self.value_dw = _conv_bn(c1, c1, dw_kernel_size, kv_strides, groups=c1, norm=True)
        self.key_proj = _conv_bn(c1, kv_heads * key_dim)
        self.value_proj = _conv_bn(c1, kv_heads * value_dim)
        self.output_proj = _conv_bn(num_heads * value_dim, c1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        b, _, h, w = x.shape
        kvh, group = self.kv_heads, self.num_heads // self.kv_heads
        q_in = self.query_norm(self.query_pool(x)) if hasattr(self, "query_pool") else x
        q = self.query_proj(q_in)
        qh, qw = q.shape[-2:]
        nq = qh * qw
        # [B, heads*kd, qh, qw] -> [B, kv_heads, group*Nq, kd]: each K/V head serves `group` query heads at once
        q = q.view(b, kvh, group, self.key_dim, nq).transpose(-1, -2).reshape(b, kvh, group * nq, self.key_dim)
        k_in = self.key_dw(x) if self.kv_strides > 1 else x
        v_in = self.value_dw(x) if self.kv_strides > 1 else x
        k = self.key_proj(k_in).flatten(2).view(b, kvh, self.key_dim, -1)  # [B, kv_heads, kd, M]
        v = self.value_proj(v_in).flatten(2).view(b, kvh, self.value_dim, -1).transpose(-1, -2)  # [B, kvh, M, vd]
        attn = ((q * self.scale) @ k).softmax(dim=-1)  # [B, kv_heads, group*Nq, M]: the score matrices
        out = self.dropout(attn) @ v  # [B, kv_heads, group*Nq, vd]
        out = out.view(b, self.num_heads, nq, self.value_dim).transpose(-1, -2)
        out = self.output_proj(out.reshape(b, self.num_heads * self.value_dim, qh, qw))
        if (qh, qw) != (h, w):
            out = F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
        return out


@block(family="mobilenetv4", channels=SameAsInput(prepend_input=True), aliases=("MobileMQA",))
class MultiQueryAttentionLayerWithDownSampling(_DownsampledAttention):
    """Mobile MQA (MobileNetV4): one shared key and value head for all query heads, optional K/V and query
    downsampling. YAML args after the input channels: [num_heads, key_dim, value_dim, query_h_strides,
    query_w_strides, kv_strides(, dw_kernel_size, dropout)]; output channels = input channels."""

    def __init__(self, c1, num_heads, key_dim, value_dim, query_h_strides=1, query_w_strides=1, kv_strides=1,
                 dw_kernel_size=3, dropout=0.0):
        super().__init__(c1, num_heads, key_dim, value_dim, query_h_strides, query_w_strides, kv_strides,
                         dw_kernel_size, dropout, kv_heads=1)


@block(family="mobilenetv4", channels=SameAsInput(prepend_input=True), aliases=("MobileMHSA",))
class MultiHeadAttentionLayerWithDownSampling(_DownsampledAttention):
    """Mobile MQA's multi-head twin: the same arguments and layout, but one key and one value head per query head,
    so swapping the two in a YAML line isolates what sharing K/V buys."""

    def __init__(self, c1, num_heads, key_dim, value_dim, query_h_strides=1, query_w_strides=1, kv_strides=1,
                 dw_kernel_size=3, dropout=0.0):
        super().__init__(c1, num_heads, key_dim, value_dim, query_h_strides, query_w_strides, kv_strides,
                         dw_kernel_size, dropout, kv_heads=num_heads)


# The seed registers C2f_MQA with its c1/c2 handled but outside Ultralytics' "insert n" set, so the YAML repeat count
# builds n copies of the whole block (each with one bottleneck and its own attention) and the YAML's `True` lands in
# the constructor's `n`. The seed's printed table ([96, 96, True], 185,472 params for n=2) is that behaviour; the
# OUTER repeat rule reproduces it.
@block(family="mobilenetv4", channels=ScaledOut(), repeat=OUTER)
class C2f_MQA(C2f):
    """C2f followed by Mobile MQA on its output (2 heads, key_dim = value_dim = 48, no downsampling), as in the
    seed. The YAML repeat count makes that many copies of the whole block (the seed's registration)."""

    def __init__(self, c1, c2, n: int | bool = 1, shortcut=False, g=1, e=0.5):  # the seed's True lands in n
        super().__init__(c1, c2, n, shortcut, g, e)
        self.att = MultiQueryAttentionLayerWithDownSampling(c2, 2, 48, 48, 1, 1, 1)

    def forward(self, x):
        return self.att(super().forward(x))


@block(family="mobilenetv4", channels=ScaledOut(), repeat=OUTER)
class C2f_MHSA(C2f):
    """C2f_MQA's twin with multi-head attention (2 heads, each with its own 48-wide key and value)."""

    def __init__(self, c1, c2, n: int | bool = 1, shortcut=False, g=1, e=0.5):  # the seed's True lands in n
        super().__init__(c1, c2, n, shortcut, g, e)
        self.att = MultiHeadAttentionLayerWithDownSampling(c2, 2, 48, 48, 1, 1, 1)

    def forward(self, x):
        return self.att(super().forward(x))


def make_divisible_tf(value: float, divisor: int = 8, min_value: int | None = None,
                      round_down_protect: bool = True) -> int:
    """The TensorFlow Model Garden's rounding: nearest multiple of ``divisor``, never more than 10% below ``value``."""
    min_value = divisor if min_value is None else min_value
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if round_down_protect and new_value < 0.9 * value:
        new_value += divisor
    return int(new_value)


@block(family="mobilenetv4", channels=ScaledOut(), aliases=("UIB",))
class UniversalInvertedBottleneckBlock(nn.Module):
    """MobileNetV4's UIB: optional start depthwise conv, 1x1 expansion, optional middle depthwise conv, 1x1
    projection. The two depthwise kernel sizes pick the variant: (0, k) inverted bottleneck, (k, 0) ConvNext-like,
    (k, k) ExtraDW, (0, 0) FFN. ``middle_dw_downsample`` puts the stride on the middle conv (else on the start conv).
    ``use_residual`` (off in the seed, on in the TensorFlow reference) adds the input when shapes allow."""

    def __init__(self, c1, c2, start_dw_kernel_size=3, middle_dw_kernel_size=3, middle_dw_downsample=True,
                 stride=1, expand_ratio=1, use_residual=False):
        super().__init__()
        name = "UniversalInvertedBottleneckBlock"
        for arg, value in (("start_dw_kernel_size", start_dw_kernel_size),
                           ("middle_dw_kernel_size", middle_dw_kernel_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: {arg} must be 0 (no conv) or a kernel size, got {value!r}")
        _positive_int(name, "stride", stride)
        if stride > 1 and not (start_dw_kernel_size or middle_dw_kernel_size):
            raise ValueError(f"{name}: stride {stride} needs a depthwise conv; the FFN variant (both kernel sizes 0) "
                             "cannot downsample")
        if stride > 1 and middle_dw_downsample and not middle_dw_kernel_size:
            middle_dw_downsample = False  # the stride falls to the only depthwise conv there is
        if stride > 1 and not middle_dw_downsample and not start_dw_kernel_size:
            middle_dw_downsample = True
        if expand_ratio <= 0:
            raise ValueError(f"{name}: expand_ratio must be positive, got {expand_ratio!r}")
        self.start_dw = (_conv_bn(c1, c1, start_dw_kernel_size, 1 if middle_dw_downsample else stride, groups=c1,
                                  norm=True) if start_dw_kernel_size else None)
        mid = make_divisible_tf(c1 * expand_ratio, 8)
        self.expand_conv = _conv_bn(c1, mid, 1, norm=True, act=True)
        self.middle_dw = (_conv_bn(mid, mid, middle_dw_kernel_size, stride if middle_dw_downsample else 1,
                                   groups=mid, norm=True, act=True) if middle_dw_kernel_size else None)
        self.proj_conv = _conv_bn(mid, c2, 1, norm=True)
        self.residual = bool(use_residual) and c1 == c2 and stride == 1

    def forward(self, x):
        y = self.start_dw(x) if self.start_dw is not None else x
        y = self.expand_conv(y)
        if self.middle_dw is not None:
            y = self.middle_dw(y)
        y = self.proj_conv(y)
        return x + y if self.residual else y


@block(family="mobilenetv4", channels=ScaledOut(), repeat=INNER)
class C3_UIB(C3):
    """C3 whose bottlenecks are UIBs in their default (ExtraDW, expand 1) form, as the seed defines it; the
    ``shortcut`` argument is accepted and, as in the seed, unused."""

    def __init__(self, c1, c2, n=1, shortcut=True, g=1, e=0.5):
        super().__init__(c1, c2, n, shortcut, g, e)
        c_ = int(c2 * e)
        self.m = nn.Sequential(*(UniversalInvertedBottleneckBlock(c_, c_) for _ in range(n)))

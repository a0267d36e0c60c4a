"""The blocks the community drops into YOLO YAMLs most: attention modules, space-to-depth, RepVGG, BiFPN-style
weighted concatenation, and the YOLOv7 repository's frequent blocks.

Each block is written from its paper (cited in its docstring). Where public forks disagree on a block's arguments,
the argument form follows the one most public YAMLs use, and the block's channel rule says which (``archscope
blocks`` shows it). Most of these blocks keep their input's channel count: public YAMLs write that count as the
first argument (``[-1, 1, CBAM, [256]]``), often unscaled, so the rule reads the channel count from the input and
takes the written one as a placeholder (a row written for the full-width model still builds at a smaller scale).

Every product is an explicit module call or ``*``/``@`` on tensors, so that dispatch-level counting sees the work
the real block does.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from archscope.blocks.common import Conv, RepConv
from archscope.build.registry import (
    INNER,
    ChannelContext,
    ConcatChannels,
    CustomRule,
    Resolved,
    SameAsInput,
    ScaledOut,
    block,
)
from archscope.errors import ArchscopeError

FAMILY = "community"


def _channel_value(value: Any, blk: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ArchscopeError(f"{blk}: a channel count must be a positive integer, got {value!r}")
    return value


def _keeps_channels(written: int, passed: int, form: str) -> CustomRule:
    """out = in. The row's first ``written`` args are channel counts as the fork wrote them (checked, then replaced
    by the input's channels); the constructor gets the input's channels ``passed`` times, then the rest."""

    def resolve(ctx: ChannelContext, blk: str) -> Resolved:
        c = ctx.single_input(blk)
        for value in ctx.args[:written]:
            _channel_value(value, blk)
        return Resolved([c] * passed + list(ctx.args[written:]), c)

    return CustomRule(resolve, f"YAML {form}; channels read from the input, out = in",
                      computed=tuple(range(passed)), consumed=tuple(range(written)))


def _leading_channels(most: int, passed: int, form: str) -> CustomRule:
    """Like :func:`_keeps_channels` for blocks whose rows are written both with and without the channel counts
    (``ECA, []``, ``ECA, [5]``, ``ECA, [256]``, ``ECA, [256, 3]``): up to ``most`` leading args of at least 16 are
    channel counts; what follows is the block's own arguments (a kernel size is odd and at most 15)."""

    def resolve(ctx: ChannelContext, blk: str) -> Resolved:
        c = ctx.single_input(blk)
        args = list(ctx.args)
        taken = 0
        while (taken < most and taken < len(args) and isinstance(args[taken], int)
               and not isinstance(args[taken], bool) and args[taken] >= 16):
            taken += 1
        rule.consumed = tuple(range(taken))  # this row's: the argument check runs right after, on the same row
        return Resolved([c] * passed + args[taken:], c)

    rule = CustomRule(resolve, f"YAML {form}; leading channel counts (>= 16) read from the input, out = in",
                      computed=tuple(range(passed)))
    return rule


def _times_four(ctx: ChannelContext, blk: str) -> Resolved:
    return Resolved(list(ctx.args), 4 * ctx.single_input(blk))


def _weighted_concat(count: int) -> CustomRule:
    def resolve(ctx: ChannelContext, blk: str) -> Resolved:
        if len(ctx.c_in) != count:
            raise ArchscopeError(f"{blk} fuses exactly {count} inputs, but 'from' lists {len(ctx.c_in)}")
        total = ConcatChannels().resolve(ctx, blk).c_out
        return Resolved([count], total)  # the written args ([1] or a channel count) are not the block's

    return CustomRule(resolve, f"out = sum of {count} inputs; YAML args ignored ([1] or a channel count)",
                      consumed=(0, 1, 2))


# ------------------------------------------------------------------------------------------ CBAM


@block(family=FAMILY, channels=_keeps_channels(1, 1, "[c1]"))
class ChannelAttention(nn.Module):
    """Ultralytics' channel attention (as in RTMDet): x * sigmoid(conv1x1(avgpool(x))), the 1x1 conv with a bias.

    The form the Ultralytics package ships (``ultralytics.nn.modules.conv.ChannelAttention(channels)``), which its
    CBAM uses; the CBAM paper's shared two-layer MLP over average and max pooling is :class:`CBAMChannelGate`."""

    def __init__(self, channels: int):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(channels, channels, 1, 1, 0, bias=True)
        self.act = nn.Sigmoid()

    def forward(self, x):
        return x * self.act(self.fc(self.pool(x)))


def _spatial_padding(kernel_size: int, blk: str) -> int:
    if kernel_size not in (3, 7):
        raise ArchscopeError(f"{blk}: kernel size must be 3 or 7, got {kernel_size!r}")
    return 3 if kernel_size == 7 else 1


@block(family=FAMILY, channels=SameAsInput())
class SpatialAttention(nn.Module):
    """CBAM's spatial attention (Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018,
    arXiv:1807.06521, section 3): x * sigmoid(conv_kxk([mean_c(x); max_c(x)])), one bias-free 2 -> 1 conv, k 3 or
    7. YAML ``[kernel_size]``."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.cv1 = nn.Conv2d(2, 1, kernel_size, padding=_spatial_padding(kernel_size, "SpatialAttention"),
                             bias=False)
        self.act = nn.Sigmoid()

    def forward(self, x):
        pooled = torch.cat([torch.mean(x, 1, keepdim=True), torch.max(x, 1, keepdim=True)[0]], 1)
        return x * self.act(self.cv1(pooled))


@block(family=FAMILY, channels=_keeps_channels(1, 1, "[c1, kernel_size] (Ultralytics' CBAM(c1, kernel_size=7))"))
class CBAM(nn.Module):
    """CBAM (Woo et al., ECCV 2018, arXiv:1807.06521): channel attention, then spatial attention, in sequence.

    The Ultralytics package's form, which Ultralytics-based forks import: ``CBAM(c1, kernel_size=7)`` built from
    :class:`ChannelAttention` (a biased 1x1 conv on the average-pooled map) and :class:`SpatialAttention`;
    params ``c1*c1 + c1 + 2*k*k``. YOLOv5-repository files get the paper's MLP form (:class:`CBAMv5`)."""

    def __init__(self, c1: int, kernel_size: int = 7):
        super().__init__()
        self.channel_attention = ChannelAttention(c1)
        self.spatial_attention = SpatialAttention(kernel_size)

    def forward(self, x):
        return self.spatial_attention(self.channel_attention(x))


class CBAMChannelGate(nn.Module):
    """CBAM's channel attention as published (Woo et al. 2018, eq. 2): sigmoid(MLP(avgpool(x)) + MLP(maxpool(x)))
    with one shared two-layer MLP c -> c/r -> c (ReLU between), written as bias-free 1x1 convolutions as the
    widely copied YOLOv5 code does; returns the weights (the caller multiplies)."""

    def __init__(self, c1: int, ratio: int = 16):
        super().__init__()
        hidden = c1 // ratio
        if hidden < 1:
            raise ArchscopeError(f"CBAM: {c1} channels cannot be reduced by a ratio of {ratio}")
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.max_pool = nn.AdaptiveMaxPool2d(1)
        self.f1 = nn.Conv2d(c1, hidden, 1, bias=False)
        self.relu = nn.ReLU()
        self.f2 = nn.Conv2d(hidden, c1, 1, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        avg = self.f2(self.relu(self.f1(self.avg_pool(x))))
        peak = self.f2(self.relu(self.f1(self.max_pool(x))))
        return self.sigmoid(avg + peak)


@block("CBAM", family=FAMILY, dialect="yolov5",
       channels=_keeps_channels(1, 2, "[c2, ratio, kernel_size] (YOLOv5 forks' CBAM(c1, c2, ratio=16, kernel_size=7))"))
class CBAMv5(nn.Module):
    """CBAM as the paper draws it (Woo et al., ECCV 2018, arXiv:1807.06521) in the form YOLOv5-repository forks
    share: ``CBAM(c1, c2, ratio=16, kernel_size=7)``, channel gate :class:`CBAMChannelGate` (shared bias-free MLP
    over average and max pooling), then the spatial gate; params ``2*c1*(c1//ratio) + 2*k*k``. ``c2`` must be c1."""

    def __init__(self, c1: int, c2: int, ratio: int = 16, kernel_size: int = 7):
        super().__init__()
        self.channel_attention = CBAMChannelGate(c1, ratio)
        self.spatial_attention = nn.Conv2d(2, 1, kernel_size, padding=_spatial_padding(kernel_size, "CBAM"),
                                           bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        out = self.channel_attention(x) * x
        pooled = torch.cat([torch.mean(out, 1, keepdim=True), torch.max(out, 1, keepdim=True)[0]], 1)
        return self.sigmoid(self.spatial_attention(pooled)) * out


# ------------------------------------------------------------------------------------------ SE, ECA, CoordAtt, SimAM


@block(family=FAMILY, channels=_keeps_channels(1, 2, "[c2, r] (forks' SE(c1, c2, r=16))"))
class SE(nn.Module):
    """Squeeze-and-Excitation (Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018, arXiv:1709.01507): global
    average pooling, two bias-free linear layers c -> c/r -> c (ReLU, then sigmoid), channel-wise rescaling.
    Forks' form ``SE(c1, c2, r=16)``; params ``2*c1*(c1//r)``."""

    def __init__(self, c1: int, c2: int, r: int = 16):
        super().__init__()
        if c1 // r < 1:
            raise ArchscopeError(f"SE: {c1} channels cannot be reduced by r={r}")
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.l1 = nn.Linear(c1, c1 // r, bias=False)
        self.relu = nn.ReLU()
        self.l2 = nn.Linear(c1 // r, c1, bias=False)
        self.sig = nn.Sigmoid()

    def forward(self, x):
        b, c = x.shape[:2]
        y = self.sig(self.l2(self.relu(self.l1(self.avgpool(x).view(b, c)))))
        return x * y.view(b, c, 1, 1)


@block(family=FAMILY, channels=_leading_channels(2, 1, "[k_size], [c1, k_size] or [] (ECA(c1, k_size=3))"))
class ECA(nn.Module):
    """Efficient Channel Attention (Wang et al., "ECA-Net", CVPR 2020, arXiv:1910.03151): global average pooling,
    a bias-free 1-D convolution of size k across the channels, sigmoid, channel-wise rescaling. The authors' code
    ``eca_layer(channel, k_size=3)``; params ``k_size``."""

    def __init__(self, c1: int, k_size: int = 3):
        super().__init__()
        if isinstance(k_size, bool) or not isinstance(k_size, int) or k_size < 1 or k_size % 2 == 0:
            raise ArchscopeError(f"ECA: k_size must be a positive odd integer, got {k_size!r}")
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, kernel_size=k_size, padding=(k_size - 1) // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        y = self.avg_pool(x)  # [B, C, 1, 1]
        y = self.conv(y.squeeze(-1).transpose(-1, -2)).transpose(-1, -2).unsqueeze(-1)
        return x * self.sigmoid(y)


class HSigmoid(nn.Module):
    """relu6(x + 3) / 6."""

    def __init__(self):
        super().__init__()
        self.relu = nn.ReLU6()

    def forward(self, x):
        return self.relu(x + 3) / 6


class HSwish(nn.Module):
    """x * hsigmoid(x)."""

    def __init__(self):
        super().__init__()
        self.sigmoid = HSigmoid()

    def forward(self, x):
        return x * self.sigmoid(x)


@block(family=FAMILY, aliases=("CA",),
       channels=_keeps_channels(2, 2, "[c1, c2, reduction] or [c] (CoordAtt(inp, oup, reduction=32))"))
class CoordAtt(nn.Module):
    """Coordinate Attention (Hou et al., "Coordinate Attention for Efficient Mobile Network Design", CVPR 2021,
    arXiv:2103.02907): pool along W and along H, concatenate, a shared 1x1 conv (bias) to
    ``mip = max(8, inp // reduction)`` channels + BN + h-swish, split, one 1x1 conv (bias) per direction back to
    ``oup`` channels, sigmoid; output ``x * a_h * a_w``. The authors' ``CoordAtt(inp, oup, reduction=32)``
    (also registered as ``CA``); params ``inp*mip + mip + 2*mip + 2*(mip*oup + oup)``."""

    def __init__(self, inp: int, oup: int, reduction: int = 32):
        super().__init__()
        if oup != inp:
            raise ArchscopeError(f"CoordAtt multiplies its input by the weights: oup ({oup}) must equal inp ({inp})")
        mip = max(8, inp // reduction)
        self.conv1 = nn.Conv2d(inp, mip, 1, 1, 0)
        self.bn1 = nn.BatchNorm2d(mip)
        self.act = HSwish()
        self.conv_h = nn.Conv2d(mip, oup, 1, 1, 0)
        self.conv_w = nn.Conv2d(mip, oup, 1, 1, 0)

    def forward(self, x):
        h, w = x.shape[2:]
        x_h = x.mean(3, keepdim=True)  # [B, C, H, 1]
        x_w = x.mean(2, keepdim=True).permute(0, 1, 3, 2)  # [B, C, W, 1]
        y = self.act(self.bn1(self.conv1(torch.cat([x_h, x_w], 2))))
        y_h, y_w = torch.split(y, [h, w], 2)
        a_h = self.conv_h(y_h).sigmoid()
        a_w = self.conv_w(y_w.permute(0, 1, 3, 2)).sigmoid()
        return x * a_w * a_h


@block(family=FAMILY, channels=_keeps_channels(1, 1, "[c1, e_lambda] or [] (SimAM(channels, e_lambda=1e-4))"))
class SimAM(nn.Module):
    """SimAM (Yang et al., "SimAM: A Simple, Parameter-Free Attention Module", ICML 2021): each neuron's weight is
    sigmoid of its inverse energy, ``(x - mean)^2 / (4 * (sum((x - mean)^2) / (n - 1) + lambda)) + 0.5`` over each
    channel's ``n = H*W`` positions. No parameters."""

    def __init__(self, channels: int | None = None, e_lambda: float = 1e-4):
        super().__init__()
        self.e_lambda = e_lambda
        self.act = nn.Sigmoid()

    def forward(self, x):
        n = x.shape[2] * x.shape[3] - 1
        d = (x - x.mean(dim=[2, 3], keepdim=True)).pow(2)
        y = d / (4 * (d.sum(dim=[2, 3], keepdim=True) / n + self.e_lambda)) + 0.5
        return x * self.act(y)


# ------------------------------------------------------------------------------------------ GAM, SK, LSK


def _channel_shuffle(x, groups: int):
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


@block("GAM_Attention", family=FAMILY, aliases=("GAM",),
       channels=_keeps_channels(2, 2, "[c1, c2, rate] (forks' GAM_Attention(in_channels, out_channels, rate=4))"))
class GAMAttention(nn.Module):
    """Global Attention Mechanism (Liu et al., "Global Attention Mechanism: Retain Information to Enhance
    Channel-Spatial Interactions", arXiv:2112.05561): channel attention as a two-layer MLP c -> c/rate -> c (with
    biases) applied per position over the channel axis, sigmoid; then spatial attention as two 7x7 convs
    (c -> c/rate -> c, biases, each followed by BN, ReLU between), sigmoid.

    In the form most public forks copy, ``GAM_Attention(in_channels, out_channels, rate=4)`` (plain convs); a few
    forks group the two 7x7 convs (``groups=rate``) and channel-shuffle the spatial weights: ``group=True``, the
    fourth argument here. Also registered as ``GAM``; params
    ``2*c*(c/rate) + c/rate + c + 2*49*c*(c/rate)/g + c/rate + c + 2*(c/rate) + 2*c`` (g = rate when grouped)."""

    def __init__(self, c1: int, c2: int, rate: int = 4, group: bool = False):
        super().__init__()
        if c2 != c1:
            raise ArchscopeError(f"GAM_Attention multiplies its input by the weights: c2 ({c2}) must equal c1 ({c1})")
        hidden = int(c1 / rate)
        if hidden < 1 or (group and (c1 % rate or hidden % rate or c2 % 4)):
            raise ArchscopeError(f"GAM_Attention: {c1} channels do not divide by rate {rate}"
                                 + (" into groups" if group else ""))
        self.group = group
        self.channel_attention = nn.Sequential(nn.Linear(c1, hidden), nn.ReLU(), nn.Linear(hidden, c1))
        groups = rate if group else 1
        self.spatial_attention = nn.Sequential(
            nn.Conv2d(c1, hidden, 7, padding=3, groups=groups), nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.Conv2d(hidden, c2, 7, padding=3, groups=groups), nn.BatchNorm2d(c2))

    def forward(self, x):
        b, c, h, w = x.shape
        weights = self.channel_attention(x.permute(0, 2, 3, 1).reshape(b, -1, c)).view(b, h, w, c)
        x = x * weights.permute(0, 3, 1, 2).sigmoid()
        spatial = self.spatial_attention(x).sigmoid()
        if self.group:
            spatial = _channel_shuffle(spatial, 4)
        return x * spatial


@block(family=FAMILY, channels=_keeps_channels(
    1, 1, "[c1, kernels, reduction, group, L] (SKAttention(channel, kernels=[1, 3, 5, 7], reduction=16, group=1, "
    "L=32))"))
class SKAttention(nn.Module):
    """Selective Kernel attention (Li et al., "Selective Kernel Networks", CVPR 2019, arXiv:1903.06586): one
    branch per kernel size (conv k x k with bias, groups ``group``, then BN and ReLU), summed, global average
    pooled, a linear layer to ``d = max(L, c // reduction)``, one linear layer per branch back to c, softmax across
    the branches, and the branches summed with those weights. In the widely copied form
    ``SKAttention(channel, kernels=[1, 3, 5, 7], reduction=16, group=1, L=32)`` (biased convs and linears)."""

    def __init__(self, channel: int, kernels: list | tuple = (1, 3, 5, 7), reduction: int = 16, group: int = 1,
                 L: int = 32):  # noqa: N803 - the published argument name
        super().__init__()
        kernels = list(kernels)
        if not kernels or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0 for k in kernels):
            raise ArchscopeError(f"SKAttention: kernels must be positive odd integers, got {kernels!r}")
        if channel % group:
            raise ArchscopeError(f"SKAttention: {channel} channels do not divide into {group} groups")
        self.d = max(L, channel // reduction)
        self.convs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channel, channel, k, padding=k // 2, groups=group), nn.BatchNorm2d(channel),
                          nn.ReLU())
            for k in kernels)
        self.fc = nn.Linear(channel, self.d)
        self.fcs = nn.ModuleList(nn.Linear(self.d, channel) for _ in kernels)
        self.softmax = nn.Softmax(dim=0)

    def forward(self, x):
        b, c = x.shape[:2]
        feats = torch.stack([conv(x) for conv in self.convs], 0)  # [K, B, C, H, W]
        z = self.fc(feats.sum(0).mean(-1).mean(-1))  # [B, d]
        weights = self.softmax(torch.stack([fc(z).view(b, c, 1, 1) for fc in self.fcs], 0))
        return (weights * feats).sum(0)


@block(family=FAMILY, channels=_keeps_channels(1, 1, "[dim] or [] (LSKblock(dim))"))
class LSKblock(nn.Module):
    """Large Selective Kernel block (Li et al., "Large Selective Kernel Network for Remote Sensing Object
    Detection", ICCV 2023, arXiv:2303.09030): a depthwise 5x5 conv, then a depthwise 7x7 conv with dilation 3 on
    its output; each reduced by a 1x1 conv to dim/2; their channel mean and max squeezed by a 2 -> 2 7x7 conv into
    two sigmoid maps that weight the two branches; a 1x1 conv back to dim; output ``x * attn``. All convs have
    biases; params ``26*dim + 50*dim + 2*(dim*dim//2 + dim//2) + 2*2*49 + 2 + dim//2*dim + dim``."""

    def __init__(self, dim: int):
        super().__init__()
        if dim < 2:
            raise ArchscopeError(f"LSKblock needs at least 2 channels, got {dim}")
        self.conv0 = nn.Conv2d(dim, dim, 5, padding=2, groups=dim)
        self.conv_spatial = nn.Conv2d(dim, dim, 7, stride=1, padding=9, groups=dim, dilation=3)
        self.conv1 = nn.Conv2d(dim, dim // 2, 1)
        self.conv2 = nn.Conv2d(dim, dim // 2, 1)
        self.conv_squeeze = nn.Conv2d(2, 2, 7, padding=3)
        self.conv = nn.Conv2d(dim // 2, dim, 1)

    def forward(self, x):
        attn1 = self.conv0(x)
        attn2 = self.conv_spatial(attn1)
        attn1 = self.conv1(attn1)
        attn2 = self.conv2(attn2)
        attn = torch.cat([attn1, attn2], dim=1)
        agg = torch.cat([torch.mean(attn, dim=1, keepdim=True), torch.max(attn, dim=1, keepdim=True)[0]], dim=1)
        sig = self.conv_squeeze(agg).sigmoid()
        attn = attn1 * sig[:, 0:1] + attn2 * sig[:, 1:2]
        return x * self.conv(attn)


# ------------------------------------------------------------------------------------------ SPD-Conv, RepVGG


@block("space_to_depth", family=FAMILY,
       channels=CustomRule(_times_four, "out = 4 * in; YAML [dimension] ([1])"))
class SpaceToDepth(nn.Module):
    """Space-to-depth of SPD-Conv (Sunkara & Luo, "No More Strided Convolutions or Pooling", ECML PKDD 2022,
    arXiv:2208.03641): the four pixel phases of each 2x2 cell stacked on channels, [B, 4C, H/2, W/2], in the order
    (0,0), (1,0), (0,1), (1,1) of (row, column) offsets. No parameters; a YAML row ``[-1, 1, space_to_depth, [1]]``
    usually precedes a stride-1 Conv (the paper's non-strided convolution)."""

    def __init__(self, dimension: int = 1):
        super().__init__()
        self.d = dimension

    def forward(self, x):
        return torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], 1)


@block("SPDConv", family=FAMILY, channels=ScaledOut())
class SPDConv(nn.Module):
    """SPD-Conv in one row (Sunkara & Luo 2022, arXiv:2208.03641): :class:`SpaceToDepth`, then a non-strided Conv
    (conv + BN + activation) from 4*c1 to c2 channels, kernel k (default 3). YAML ``[c2, k]``."""

    def __init__(self, c1: int, c2: int, k: int = 3):
        super().__init__()
        self.spd = SpaceToDepth()
        self.conv = Conv(4 * c1, c2, k, 1)

    def forward(self, x):
        return self.conv(self.spd(x))


@block(family=FAMILY, channels=ScaledOut())
class RepVGGBlock(RepConv):
    """RepVGG block (Ding et al., "RepVGG: Making VGG-style ConvNets Great Again", CVPR 2021, arXiv:2101.03697) in
    its training-time form: a 3x3 conv+BN and a 1x1 conv+BN in parallel, plus an identity BN when c1 == c2 and the
    stride is 1, summed, then ReLU. YAML ``[c2, k, s]`` (``RepVGGBlock(c1, c2, kernel_size=3, stride=1,
    padding=1)``); params ``9*c1*c2/g + 2*c2 + c1*c2/g + 2*c2 (+ 2*c1 with the identity)``. The deployed view
    (``--fuse``) folds the three branches into one biased 3x3 conv, as the paper's re-parameterisation does."""

    def __init__(self, c1: int, c2: int, k: int = 3, s: int = 1, p: int = 1, d: int = 1, g: int = 1):
        if k != 3 or p != 1 or d != 1:
            raise ArchscopeError(f"RepVGGBlock supports kernel_size=3, padding=1, dilation=1 only "
                                 f"(got {k}, {p}, {d})")
        super().__init__(c1, c2, k, s, p, g=g, act=nn.ReLU(), bn=True)


# ------------------------------------------------------------------------------------------ BiFPN weighted concat


class _WeightedConcat(nn.Module):
    """EfficientDet's fast normalised fusion (Tan et al., "EfficientDet", CVPR 2020, arXiv:1911.09070, eq. 3):
    ``w_i = relu(w_i) / (sum_j relu(w_j) + 1e-4)``, one learnable weight per input (initialised to 1); the
    weighted inputs are concatenated on the channel axis, as YOLO forks' BiFPN_Concat blocks do."""

    def __init__(self, count: int):
        super().__init__()
        self.w = nn.Parameter(torch.ones(count, dtype=torch.float32))
        self.epsilon = 1e-4

    def forward(self, x):
        w = torch.relu(self.w)
        weight = w / (torch.sum(w, dim=0) + self.epsilon)
        return torch.cat([weight[i] * x[i] for i in range(len(x))], 1)


@block(family=FAMILY, channels=_weighted_concat(2))
class BiFPN_Concat2(_WeightedConcat):  # noqa: N801 - the name YAMLs use
    """BiFPN-style weighted concatenation of two inputs (EfficientDet, arXiv:1911.09070); 2 parameters."""


@block(family=FAMILY, channels=_weighted_concat(3))
class BiFPN_Concat3(_WeightedConcat):  # noqa: N801 - the name YAMLs use
    """BiFPN-style weighted concatenation of three inputs (EfficientDet, arXiv:1911.09070); 3 parameters."""


# ------------------------------------------------------------------------------------------ the YOLOv7 repository's


@block(family=FAMILY, channels=SameAsInput())
class MP(nn.Module):
    """YOLOv7's MP (Wang et al., "YOLOv7", arXiv:2207.02696): a k x k max pooling with stride k (default 2).
    YAML ``[]`` or ``[k]``."""

    def __init__(self, k: int = 2):
        super().__init__()
        self.m = nn.MaxPool2d(kernel_size=k, stride=k)

    def forward(self, x):
        return self.m(x)


@block(family=FAMILY, channels=SameAsInput())
class SP(nn.Module):
    """YOLOv7's SP: a k x k max pooling with stride s and padding k // 2. YAML ``[k, s]``."""

    def __init__(self, k: int = 3, s: int = 1):
        super().__init__()
        self.m = nn.MaxPool2d(kernel_size=k, stride=s, padding=k // 2)

    def forward(self, x):
        return self.m(x)


@block(family=FAMILY, channels=CustomRule(_times_four, "out = 4 * in, no args"))
class ReOrg(nn.Module):
    """YOLOv7's ReOrg (YOLOv2's passthrough reorganisation): the four pixel phases of each 2x2 cell stacked on
    channels, [B, 4C, H/2, W/2]. No parameters."""

    def forward(self, x):
        return torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], 1)


@block(family=FAMILY, channels=ScaledOut(), repeat=INNER)
class DownC(nn.Module):
    """YOLOv7's DownC: two downsampling paths concatenated, a 1x1 Conv (c1 -> c1) then a 3x3 stride-k Conv to c2/2,
    and a k x k max pooling then a 1x1 Conv to c2/2. YAML ``[c2, k]`` (the repeat count is passed, unused)."""

    def __init__(self, c1: int, c2: int, n: int = 1, k: int = 2):
        super().__init__()
        self.cv1 = Conv(c1, c1, 1, 1)
        self.cv2 = Conv(c1, c2 // 2, 3, k)
        self.cv3 = Conv(c1, c2 // 2, 1, 1)
        self.mp = nn.MaxPool2d(kernel_size=k, stride=k)

    def forward(self, x):
        return torch.cat((self.cv2(self.cv1(x)), self.cv3(self.mp(x))), dim=1)


@block(family=FAMILY, channels=ScaledOut(), repeat=INNER)
class SPPCSPC(nn.Module):
    """YOLOv7's SPPCSPC: spatial pyramid pooling in a cross-stage-partial block. With ``c_ = int(2 * c2 * e)``: one
    path 1x1 -> 3x3 -> 1x1 Convs, max poolings k (5, 9, 13, stride 1) concatenated with their input, 1x1 and 3x3
    Convs; the other path one 1x1 Conv; both concatenated and fused by a 1x1 Conv to c2. YAML ``[c2]``
    (``SPPCSPC(c1, c2, n=1, shortcut=False, g=1, e=0.5, k=(5, 9, 13))``, n passed and unused)."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = False, g: int = 1, e: float = 0.5,
                 k: tuple | list = (5, 9, 13)):
        super().__init__()
        c_ = int(2 * c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.cv3 = Conv(c_, c_, 3, 1)
        self.cv4 = Conv(c_, c_, 1, 1)
        self.m = nn.ModuleList(nn.MaxPool2d(kernel_size=x, stride=1, padding=x // 2) for x in k)
        self.cv5 = Conv(4 * c_, c_, 1, 1)
        self.cv6 = Conv(c_, c_, 3, 1)
        self.cv7 = Conv(2 * c_, c2, 1, 1)

    def forward(self, x):
        x1 = self.cv4(self.cv3(self.cv1(x)))
        y1 = self.cv6(self.cv5(torch.cat([x1] + [m(x1) for m in self.m], 1)))
        return self.cv7(torch.cat((y1, self.cv2(x)), dim=1))


# ------------------------------------------------------------------------------------------ ASFF


def _asff_rule(ctx: ChannelContext, blk: str) -> Resolved:
    if not ctx.from_is_list or len(ctx.c_in) != 3:
        raise ArchscopeError(f"{blk} fuses three levels: 'from' must list them, deepest (P5) first, e.g. "
                             f"[[22, 19, 16], 1, {blk}, [0]]")
    dims = [c if isinstance(c, int) else -1 for c in ctx.c_in]
    if min(dims) < 1:
        raise ArchscopeError(f"{blk} inputs must be single tensors, got sources with outputs {ctx.c_in}")
    if not ctx.args:
        raise ArchscopeError(f"{blk} needs its level (0 = deepest, 1 or 2) as its first argument")
    level = ctx.args[0]
    if isinstance(level, bool) or level not in (0, 1, 2):
        raise ArchscopeError(f"{blk}: level must be 0, 1 or 2, got {level!r}")
    c2 = ctx.scale_channels(_channel_value(ctx.args[1], blk)) if len(ctx.args) > 1 else dims[level]
    return Resolved([level, dims, c2, *ctx.args[2:]], c2)


@block(family=FAMILY, channels=CustomRule(
    _asff_rule, "from [P5, P4, P3]; YAML [level, c2*width, rfb]; out = c2 (default: the level's channels)",
    computed=(1, 2), consumed=(1,)))
class ASFF(nn.Module):
    """Adaptively Spatial Feature Fusion, one output level (Liu et al., "Learning Spatial Fusion for Single-Shot
    Object Detection", arXiv:1911.09516, section 3.2): the three pyramid levels, deepest first, are resized to this
    level with ``inter = dims[level]`` channels -- a deeper level by a 1x1 Conv and nearest upsampling (x2 or x4), a
    finer one by a stride-2 3x3 Conv (from two levels up, max pooling 3/2 first) -- each gives a
    ``compress``-channel 1x1 Conv (16, or 8 with ``rfb``) whose concatenation a biased 1x1 conv turns into three
    softmax weights per position; the weighted sum is expanded by a 3x3 Conv to ``c2`` channels.

    Public forks wire ASFF in many incompatible ways (``ASFFV5(level, multiplier)`` with channels fixed inside,
    ``ASFF_Detect`` heads of several kinds); this is the paper's block with channels read from the YAML's sources:
    ``[[P5, P4, P3], 1, ASFF, [level, c2]]``."""

    def __init__(self, level: int, dims: list, c2: int, rfb: bool = False):
        super().__init__()
        self.level = level
        inter = dims[level]
        compress = 8 if rfb else 16
        if level == 0:
            self.stride_level_1 = Conv(dims[1], inter, 3, 2)
            self.stride_level_2 = Conv(dims[2], inter, 3, 2)
        elif level == 1:
            self.compress_level_0 = Conv(dims[0], inter, 1, 1)
            self.stride_level_2 = Conv(dims[2], inter, 3, 2)
        else:
            self.compress_level_0 = Conv(dims[0], inter, 1, 1)
            self.compress_level_1 = Conv(dims[1], inter, 1, 1)
        self.weight_level_0 = Conv(inter, compress, 1, 1)
        self.weight_level_1 = Conv(inter, compress, 1, 1)
        self.weight_level_2 = Conv(inter, compress, 1, 1)
        self.weight_levels = nn.Conv2d(compress * 3, 3, 1, 1, 0)
        self.expand = Conv(inter, c2, 3, 1)

    def forward(self, x):
        x0, x1, x2 = x
        up = nn.functional.interpolate
        if self.level == 0:
            r0, r1 = x0, self.stride_level_1(x1)
            r2 = self.stride_level_2(nn.functional.max_pool2d(x2, 3, stride=2, padding=1))
        elif self.level == 1:
            r0, r1, r2 = up(self.compress_level_0(x0), scale_factor=2, mode="nearest"), x1, self.stride_level_2(x2)
        else:
            r0 = up(self.compress_level_0(x0), scale_factor=4, mode="nearest")
            r1 = up(self.compress_level_1(x1), scale_factor=2, mode="nearest")
            r2 = x2
        weights = torch.cat([self.weight_level_0(r0), self.weight_level_1(r1), self.weight_level_2(r2)], 1)
        weights = self.weight_levels(weights).softmax(dim=1)
        return self.expand(r0 * weights[:, 0:1] + r1 * weights[:, 1:2] + r2 * weights[:, 2:3])

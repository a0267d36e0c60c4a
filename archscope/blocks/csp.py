"""CSP-family blocks (YOLOv5 C3, YOLOv8 C2f, YOLO11 C3k2 and relatives), from their published definitions.

CSP blocks split the input into a shortcut path and a path through ``n`` bottlenecks, then fuse both with a 1x1
conv. Their YAML repeat count is the number of inner bottlenecks (``repeat=INNER``).

YOLO26 adds an attention variant of C3k2 (``attn=True``: each inner block is a bottleneck then a PSABlock, see
:mod:`archscope.blocks.psa`).

Also here: the spatial-pyramid-pooling blocks (SPP, SPPF), the Ghost bottleneck and the ResNet layers used by the
YOLOv8 ResNet classifiers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from archscope.blocks.common import Conv, DWConv, GhostConv, RepConv
from archscope.blocks.psa import PSABlock, _psa_heads
from archscope.build.registry import INNER, CustomRule, Resolved, ScaledOut, block
from archscope.errors import ArchscopeError


def _c3k2_scale_args(args, scale):
    """YOLO11's m/l/x scales use C3k inner blocks: Ultralytics forces the ``c3k`` flag on for them."""
    if scale in {"m", "l", "x"}:
        args[3:4] = [True]  # also when the row gave no c3k flag
    return args


@block(family="csp", channels=ScaledOut())
class Bottleneck(nn.Module):
    """Two convs (k[0], then k[1]) with a residual add when shapes allow."""

    def __init__(self, c1, c2, shortcut=True, g=1, k=(3, 3), e=0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, k[0], 1)
        self.cv2 = Conv(c_, c2, k[1], 1, g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


@block(family="csp", channels=ScaledOut(), repeat=INNER)
class C2f(nn.Module):
    """CSP bottleneck with two convs: split in two, chain n bottlenecks on one half, concat every stage."""

    def __init__(self, c1, c2, n=1, shortcut=False, g=1, e=0.5):
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut, g, k=((3, 3), (3, 3)), e=1.0) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


@block(family="csp", channels=ScaledOut(), repeat=INNER)
class C3(nn.Module):
    """CSP bottleneck with three convs: n bottlenecks on one branch, a 1x1 conv on the other, fused by cv3."""

    def __init__(self, c1, c2, n=1, shortcut=True, g=1, e=0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.cv3 = Conv(2 * c_, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, g, k=((1, 1), (3, 3)), e=1.0) for _ in range(n)))

    def forward(self, x):
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


@block(family="csp", channels=ScaledOut(), repeat=INNER)
class C3k(C3):
    """C3 whose bottlenecks use a k x k kernel in both convs."""

    def __init__(self, c1, c2, n=1, shortcut=True, g=1, e=0.5, k=3):
        super().__init__(c1, c2, n, shortcut, g, e)
        c_ = int(c2 * e)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, g, k=(k, k), e=1.0) for _ in range(n)))


@block(family="csp", channels=ScaledOut(), repeat=INNER, modern=True, scale_args=_c3k2_scale_args)
class C3k2(C2f):
    """C2f whose inner blocks are C3k (c3k=True), plain bottlenecks, or (attn=True, YOLO26) a bottleneck + PSABlock.

    Signature as in Ultralytics 8.4: ``(c1, c2, n, c3k, e, attn, g, shortcut)``. ``attn`` wins over ``c3k`` (so the
    m/l/x scales, which force ``c3k`` on, keep the attention blocks of a row that asks for them); the PSABlock uses
    one head per 64 channels of the hidden width and keys half the head width.
    """

    def __init__(self, c1, c2, n=1, c3k=False, e=0.5, attn=False, g=1, shortcut=True):
        super().__init__(c1, c2, n, shortcut, g, e)
        self.m = nn.ModuleList(self._inner(bool(attn), bool(c3k), shortcut, g) for _ in range(n))

    def _inner(self, attn: bool, c3k: bool, shortcut, g) -> nn.Module:
        if attn:
            return nn.Sequential(Bottleneck(self.c, self.c, shortcut, g),
                                 PSABlock(self.c, attn_ratio=0.5, num_heads=_psa_heads(self.c)))
        if c3k:
            return C3k(self.c, self.c, 2, shortcut, g)
        return Bottleneck(self.c, self.c, shortcut, g)


@block(family="csp", channels=ScaledOut(), repeat=INNER)
class C1(nn.Module):
    """A 1x1 conv, then n 3x3 convs with a residual around the whole chain."""

    def __init__(self, c1, c2, n=1):
        super().__init__()
        self.cv1 = Conv(c1, c2, 1, 1)
        self.m = nn.Sequential(*(Conv(c2, c2, 3) for _ in range(n)))

    def forward(self, x):
        y = self.cv1(x)
        return self.m(y) + y


@block(family="csp", channels=ScaledOut(), repeat=INNER)
class C2(nn.Module):
    """CSP bottleneck with two convs: one 1x1 conv split in two halves, n bottlenecks on the first, then fused."""

    def __init__(self, c1, c2, n=1, shortcut=True, g=1, e=0.5):
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv(2 * self.c, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(self.c, self.c, shortcut, g, k=((3, 3), (3, 3)), e=1.0) for _ in range(n)))

    def forward(self, x):
        a, b = self.cv1(x).chunk(2, 1)
        return self.cv2(torch.cat((self.m(a), b), 1))


@block(family="csp", channels=ScaledOut(), repeat=INNER)
class C3x(C3):
    """C3 whose bottlenecks use a 1x3 then a 3x1 conv (cross convolutions)."""

    def __init__(self, c1, c2, n=1, shortcut=True, g=1, e=0.5):
        super().__init__(c1, c2, n, shortcut, g, e)
        self.c_ = int(c2 * e)
        self.m = nn.Sequential(*(Bottleneck(self.c_, self.c_, shortcut, g, k=((1, 3), (3, 1)), e=1) for _ in range(n)))


@block(family="csp", channels=ScaledOut(), repeat=INNER)
class RepC3(nn.Module):
    """RT-DETR's CSP block: n RepConvs on one 1x1 branch, added to a second 1x1 branch, then a 1x1 conv to c2
    (identity when the hidden width already equals c2)."""

    def __init__(self, c1, c2, n=3, e=1.0):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.m = nn.Sequential(*(RepConv(c_, c_) for _ in range(n)))
        self.cv3 = Conv(c_, c2, 1, 1) if c_ != c2 else nn.Identity()

    def forward(self, x):
        return self.cv3(self.m(self.cv1(x)) + self.cv2(x))


@block(family="csp", channels=ScaledOut())
class GhostBottleneck(nn.Module):
    """GhostNet bottleneck: GhostConv expand (to c2/2), a depthwise k x k conv when striding, GhostConv project;
    the shortcut is identity, or depthwise + 1x1 conv when striding."""

    def __init__(self, c1, c2, k=3, s=1):
        super().__init__()
        c_ = c2 // 2
        self.conv = nn.Sequential(
            GhostConv(c1, c_, 1, 1),
            DWConv(c_, c_, k, s, act=False) if s == 2 else nn.Identity(),
            GhostConv(c_, c2, 1, 1, act=False),
        )
        self.shortcut = (
            nn.Sequential(DWConv(c1, c1, k, s, act=False), Conv(c1, c2, 1, 1, act=False)) if s == 2 else nn.Identity()
        )

    def forward(self, x):
        return self.conv(x) + self.shortcut(x)


@block(family="csp", channels=ScaledOut(), repeat=INNER)
class C3Ghost(C3):
    """C3 whose bottlenecks are GhostBottlenecks."""

    def __init__(self, c1, c2, n=1, shortcut=True, g=1, e=0.5):
        super().__init__(c1, c2, n, shortcut, g, e)
        c_ = int(c2 * e)
        self.m = nn.Sequential(*(GhostBottleneck(c_, c_) for _ in range(n)))


@block(family="csp", channels=ScaledOut(), repeat=INNER)
class BottleneckCSP(nn.Module):
    """The original CSP bottleneck (Wang et al. 2019, as in YOLOv4/v5): bottlenecks then a plain 1x1 conv on one
    branch, a plain 1x1 conv on the other, BN + activation over the concatenation, then a fusing Conv."""

    def __init__(self, c1, c2, n=1, shortcut=True, g=1, e=0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = nn.Conv2d(c1, c_, 1, 1, bias=False)
        self.cv3 = nn.Conv2d(c_, c_, 1, 1, bias=False)
        self.cv4 = Conv(2 * c_, c2, 1, 1)
        self.bn = nn.BatchNorm2d(2 * c_)
        self.act = nn.SiLU()
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, g, e=1.0) for _ in range(n)))

    def forward(self, x):
        y1 = self.cv3(self.m(self.cv1(x)))
        y2 = self.cv2(x)
        return self.cv4(self.act(self.bn(torch.cat((y1, y2), 1))))


# ---------------------------------------------------------------------------------- spatial pyramid pooling


@block(family="csp", channels=ScaledOut())
class SPP(nn.Module):
    """Spatial pyramid pooling (He et al. 2015, YOLOv3-SPP form): parallel stride-1 max pools of several sizes."""

    def __init__(self, c1, c2, k=(5, 9, 13)):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_ * (len(k) + 1), c2, 1, 1)
        self.m = nn.ModuleList(nn.MaxPool2d(kernel_size=x, stride=1, padding=x // 2) for x in k)

    def forward(self, x):
        x = self.cv1(x)
        return self.cv2(torch.cat([x] + [m(x) for m in self.m], 1))


@block(family="csp", channels=ScaledOut(), signature="(c1, c2, k=5, n=3, shortcut=False)")
class SPPF(nn.Module):
    """SPP-Fast (YOLOv5): ``n`` chained k x k max pools stand in for SPP's parallel pyramid (3 x 5 ~ 5, 9, 13).

    Rows written ``[c2]`` or ``[c2, k]`` (every YOLOv5-11 YAML) get an activated first conv; rows that give
    ``n`` (YOLO26 style, ``[c2, k, n, shortcut]``) get an unactivated one and an optional residual add when
    c1 == c2. This mirrors how Ultralytics 8.4 builds the two forms; ``n=None`` here means "legacy row".
    """

    def __init__(self, c1, c2, k=5, n=None, shortcut=False):
        super().__init__()
        legacy = n is None
        n = 3 if legacy else n
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1, act=True if legacy else False)
        self.cv2 = Conv(c_ * (n + 1), c2, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)
        self.n = n
        self.add = bool(shortcut) and c1 == c2

    def forward(self, x):
        y = [self.cv1(x)]
        for _ in range(self.n):
            y.append(self.m(y[-1]))
        out = self.cv2(torch.cat(y, 1))
        return out + x if self.add else out


# ------------------------------------------------------------------------------------------------ ResNet


class ResNetBlock(nn.Module):
    """ResNet bottleneck (He et al. 2016): 1x1 reduce, 3x3 (strided), 1x1 expand to e*c2, projection shortcut
    when shapes change, ReLU after the add."""

    def __init__(self, c1, c2, s=1, e=4):
        super().__init__()
        c3 = e * c2
        self.cv1 = Conv(c1, c2, k=1, s=1, act=True)
        self.cv2 = Conv(c2, c2, k=3, s=s, p=1, act=True)
        self.cv3 = Conv(c2, c3, k=1, act=False)
        self.shortcut = nn.Sequential(Conv(c1, c3, k=1, s=s, act=False)) if s != 1 or c1 != c3 else nn.Identity()

    def forward(self, x):
        return F.relu(self.cv3(self.cv2(self.cv1(x))) + self.shortcut(x))


def _resnet_layer_rule(ctx, blk):
    """``[c1, c2, s, is_first, n, e]`` as written (Ultralytics does not width-scale ResNetLayer);
    out = c2 for the stem (is_first), else e*c2."""
    args = list(ctx.args)
    if len(args) < 2:
        raise ArchscopeError(f"{blk} needs [c1, c2, s, is_first, n, e]")
    c_in = ctx.single_input(blk)
    c1, c2 = args[0], args[1]
    for c in (c1, c2):
        if isinstance(c, bool) or not isinstance(c, int) or c < 1:
            raise ArchscopeError(f"{blk}: channel counts must be positive integers, got {c!r}")
    if c1 != c_in:
        raise ArchscopeError(f"{blk} declares {c1} input channels (its first argument), but its input has {c_in}")
    is_first = args[3] if len(args) > 3 else False
    e = args[5] if len(args) > 5 else 4
    return Resolved(args, c2 if is_first else e * c2)


@block(family="resnet", channels=CustomRule(_resnet_layer_rule, "args as written [c1, c2, ...], out = c2 or e*c2"))
class ResNetLayer(nn.Module):
    """A ResNet stage: the stem (7x7/2 conv + 3x3/2 max pool) when ``is_first``, else n ResNet bottleneck blocks,
    the first of which may stride."""

    def __init__(self, c1, c2, s=1, is_first=False, n=1, e=4):
        super().__init__()
        self.is_first = is_first
        if is_first:
            self.layer = nn.Sequential(
                Conv(c1, c2, k=7, s=2, p=3, act=True), nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            )
        else:
            blocks = [ResNetBlock(c1, c2, s, e=e)]
            blocks.extend(ResNetBlock(e * c2, c2, 1, e=e) for _ in range(n - 1))
            self.layer = nn.Sequential(*blocks)

    def forward(self, x):
        return self.layer(x)

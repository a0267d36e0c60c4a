"""YOLOv9 blocks (Wang, Yeh and Liao 2024, "YOLOv9: Learning What You Want to Learn Using Programmable Gradient
Information"), from the paper's definitions: the GELAN aggregation blocks (RepNCSPELAN4, ELAN1, SPPELAN), the
downsampling blocks (ADown, AConv) and the CBNet-style auxiliary-branch routing of YOLOv9-E (CBLinear, CBFuse).

Ultralytics width-scales only the first argument (``c2``) of RepNCSPELAN4, ELAN1 and SPPELAN; the hidden widths
(``c3``, ``c4``) are taken as written. RepNCSPELAN4's ``n`` is a constructor argument written in the YAML args
(its row repeat stays an outer repeat, as in Ultralytics).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from archscope.blocks.common import Conv, RepConv, autopad
from archscope.blocks.csp import C3, Bottleneck
from archscope.build.registry import ChannelContext, CustomRule, FixedOut, Resolved, ScaledOut, block
from archscope.errors import ArchscopeError


class RepBottleneck(Bottleneck):
    """Bottleneck whose first conv is a RepConv (re-parameterisable 3x3 + 1x1)."""

    def __init__(self, c1, c2, shortcut=True, g=1, k=(3, 3), e=0.5):
        super().__init__(c1, c2, shortcut, g, k, e)
        c_ = int(c2 * e)
        self.cv1 = RepConv(c1, c_, k[0], 1)


class RepCSP(C3):
    """C3 (CSP with three convs) over RepBottlenecks."""

    def __init__(self, c1, c2, n=1, shortcut=True, g=1, e=0.5):
        super().__init__(c1, c2, n, shortcut, g, e)
        c_ = int(c2 * e)
        self.m = nn.Sequential(*(RepBottleneck(c_, c_, shortcut, g, e=1.0) for _ in range(n)))


@block(family="gelan", channels=ScaledOut())
class RepNCSPELAN4(nn.Module):
    """GELAN block: a 1x1 conv to c3 split in halves; two stages (RepCSP with n RepBottlenecks, then a 3x3 conv,
    each c4 wide) chained on the second half; every piece concatenated and fused to c2 by a 1x1 conv."""

    def __init__(self, c1, c2, c3, c4, n=1):
        super().__init__()
        self.c = c3 // 2
        self.cv1 = Conv(c1, c3, 1, 1)
        self.cv2 = nn.Sequential(RepCSP(c3 // 2, c4, n), Conv(c4, c4, 3, 1))
        self.cv3 = nn.Sequential(RepCSP(c4, c4, n), Conv(c4, c4, 3, 1))
        self.cv4 = Conv(c3 + (2 * c4), c2, 1, 1)

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        y.append(self.cv2(y[-1]))
        y.append(self.cv3(y[-1]))
        return self.cv4(torch.cat(y, 1))


@block(family="gelan", channels=ScaledOut())
class ELAN1(RepNCSPELAN4):
    """The light GELAN block of YOLOv9-T/S: as RepNCSPELAN4, with a single 3x3 conv per stage."""

    def __init__(self, c1, c2, c3, c4):
        super().__init__(c1, c2, c3, c4)
        self.cv2 = Conv(c3 // 2, c4, 3, 1)
        self.cv3 = Conv(c4, c4, 3, 1)


@block(family="gelan", channels=ScaledOut())
class SPPELAN(nn.Module):
    """SPP in ELAN form: a 1x1 conv to c3, three chained k x k max pools, all four concatenated, 1x1 conv to c2."""

    def __init__(self, c1, c2, c3, k=5):
        super().__init__()
        self.c = c3
        self.cv1 = Conv(c1, c3, 1, 1)
        self.cv2 = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)
        self.cv3 = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)
        self.cv4 = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)
        self.cv5 = Conv(4 * c3, c2, 1, 1)

    def forward(self, x):
        y = [self.cv1(x)]
        for pool in (self.cv2, self.cv3, self.cv4):
            y.append(pool(y[-1]))
        return self.cv5(torch.cat(y, 1))


@block(family="gelan", channels=ScaledOut())
class AConv(nn.Module):
    """Downsample by 2: a 2x2 stride-1 average pool, then a 3x3 stride-2 Conv."""

    def __init__(self, c1, c2):
        super().__init__()
        self.cv1 = Conv(c1, c2, 3, 2, 1)

    def forward(self, x):
        return self.cv1(F.avg_pool2d(x, 2, 1, 0, False, True))


@block(family="gelan", channels=ScaledOut())
class ADown(nn.Module):
    """Downsample by 2 (YOLOv9): 2x2 stride-1 average pool, split channels in half; one half through a 3x3
    stride-2 Conv, the other through a 3x3 stride-2 max pool and a 1x1 Conv; concatenated (c2/2 each)."""

    def __init__(self, c1, c2):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1 // 2, self.c, 3, 2, 1)
        self.cv2 = Conv(c1 // 2, self.c, 1, 1, 0)

    def forward(self, x):
        x = F.avg_pool2d(x, 2, 1, 0, False, True)
        x1, x2 = x.chunk(2, 1)
        x1 = self.cv1(x1)
        x2 = self.cv2(F.max_pool2d(x2, 3, 2, 1))
        return torch.cat((x1, x2), 1)


@block(family="gelan", channels=FixedOut())
class CBLinear(nn.Module):
    """CBNet-style linear branch: one conv (with bias) to sum(c2s) channels, split into a tuple of tensors with
    c2s channels each. Its output "channels" are the list c2s (taken as written, not width-scaled)."""

    def __init__(self, c1, c2s, k=1, s=1, p=None, g=1):
        super().__init__()
        if not isinstance(c2s, (list, tuple)) or not c2s:
            raise ArchscopeError(f"CBLinear needs a list of output channel counts, got {c2s!r}")
        self.c2s = list(c2s)
        self.conv = nn.Conv2d(c1, sum(self.c2s), k, s, autopad(k, p), groups=g, bias=True)

    def forward(self, x):
        return self.conv(x).split(self.c2s, dim=1)


def _cbfuse_rule(ctx: ChannelContext, blk: str) -> Resolved:
    """args as written (``[idx]``); out = the last source's channels. Checks that every source but the last is a
    multi-output (CBLinear) layer with a piece at ``idx[i]`` whose channels equal the last source's."""
    if not ctx.from_is_list or len(ctx.c_in) < 2:
        raise ArchscopeError(f"{blk} takes a list of sources: CBLinear outputs, then the tensor to fuse into")
    if len(ctx.args) != 1 or not isinstance(ctx.args[0], list):
        raise ArchscopeError(f"{blk} needs one argument, the list of piece indices (one per CBLinear source)")
    idx, *earlier = ctx.args[0], *ctx.c_in[:-1]
    last = ctx.c_in[-1]
    if not isinstance(last, int):
        raise ArchscopeError(f"{blk}: its last source must be a single tensor, got outputs {last}")
    if len(idx) != len(earlier):
        raise ArchscopeError(f"{blk} lists {len(idx)} indices for {len(earlier)} CBLinear sources")
    for i, (j, c) in enumerate(zip(idx, earlier)):
        if not isinstance(c, list):
            raise ArchscopeError(f"{blk}: source {i} must be a multi-output layer (CBLinear), but it has {c} channels")
        if isinstance(j, bool) or not isinstance(j, int) or not -len(c) <= j < len(c):
            raise ArchscopeError(f"{blk}: index {j!r} is out of range for source {i} with {len(c)} outputs")
        if c[j] != last:
            raise ArchscopeError(f"{blk}: piece {j} of source {i} has {c[j]} channels, the last source has {last}")
    return Resolved(list(ctx.args), last)


@block(family="gelan", channels=CustomRule(_cbfuse_rule, "args [idx], out = last input"))
class CBFuse(nn.Module):
    """CBNet-style fusion: from each earlier CBLinear output (all sources but the last) take the piece ``idx[i]``,
    resize it (nearest) to the last source's size, and sum them all with the last source."""

    def __init__(self, idx):
        super().__init__()
        if not isinstance(idx, (list, tuple)):
            raise ArchscopeError(f"CBFuse needs a list of indices, got {idx!r}")
        self.idx = list(idx)

    def forward(self, xs):
        if len(xs) - 1 != len(self.idx):
            raise ArchscopeError(f"CBFuse has {len(self.idx)} indices but {len(xs) - 1} CBLinear inputs")
        size = xs[-1].shape[2:]
        out = xs[-1]
        for i, x in enumerate(xs[:-1]):
            out = out + F.interpolate(x[self.idx[i]], size=size, mode="nearest")
        return out

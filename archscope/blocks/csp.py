"""CSP-family blocks (YOLOv5 C3, YOLOv8 C2f, YOLO11 C3k2 and relatives), from their published definitions.

CSP blocks split the input into a shortcut path and a path through ``n`` bottlenecks, then fuse both with a 1x1
conv. Their YAML repeat count is the number of inner bottlenecks (``repeat=INNER``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..registry import INNER, ScaledOut, block
from .common import Conv


def _c3k2_scale_args(args, scale):
    """YOLO11's m/l/x scales use C3k inner blocks: Ultralytics forces the ``c3k`` flag on for them."""
    if scale is not None and scale in "mlx" and len(args) > 3:
        args[3] = True
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
    """C2f whose inner blocks are C3k (c3k=True) or plain bottlenecks."""

    def __init__(self, c1, c2, n=1, c3k=False, e=0.5, g=1, shortcut=True):
        super().__init__(c1, c2, n, shortcut, g, e)
        self.m = nn.ModuleList(
            C3k(self.c, self.c, 2, shortcut, g) if c3k else Bottleneck(self.c, self.c, shortcut, g) for _ in range(n)
        )

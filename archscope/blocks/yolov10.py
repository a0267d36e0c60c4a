"""YOLOv10 blocks, from the published definitions (YOLOv10: Real-Time End-to-End Object Detection,
arXiv:2405.14458, section 3.2): spatial-channel decoupled downsampling (SCDown), the compact inverted block (CIB)
with its optional large-kernel RepVGG-style depthwise branch (RepVGGDW), C2fCIB, and partial self-attention (PSA).

PSA's multi-head attention (:class:`~archscope.blocks.attention.Attention`) lives with the other attention blocks.
"""

from __future__ import annotations

import torch
from torch import nn

from archscope.blocks.attention import Attention, _need_equal_channels, _psa_heads
from archscope.blocks.common import Conv
from archscope.blocks.csp import C2f
from archscope.build.registry import INNER, SameAsInput, ScaledOut, block


@block(family="yolov10", channels=ScaledOut())
class SCDown(nn.Module):
    """Spatial-channel decoupled downsampling: a 1x1 Conv sets the channels, then a k x k depthwise Conv with
    stride s (no activation) reduces the resolution."""

    def __init__(self, c1, c2, k, s):
        super().__init__()
        self.cv1 = Conv(c1, c2, 1, 1)
        self.cv2 = Conv(c2, c2, k, s, g=c2, act=False)

    def forward(self, x):
        return self.cv2(self.cv1(x))


@block(family="yolov10", channels=SameAsInput())
class RepVGGDW(nn.Module):
    """Depthwise 7x7 and depthwise 3x3 branches (each conv + BN, no activation), summed, then SiLU.

    Ultralytics treats it as a plain module: the YAML writes the channel count ``ed`` itself and the output
    channels equal the input's.
    """

    def __init__(self, ed):
        super().__init__()
        self.conv = Conv(ed, ed, 7, 1, 3, g=ed, act=False)
        self.conv1 = Conv(ed, ed, 3, 1, 1, g=ed, act=False)
        self.dim = ed
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.conv(x) + self.conv1(x))


class CIB(nn.Module):
    """Compact inverted block: depthwise 3x3, pointwise to 2c_, depthwise (3x3, or RepVGGDW when ``lk``),
    pointwise to c2, depthwise 3x3; a residual add when ``shortcut`` and c1 == c2."""

    def __init__(self, c1, c2, shortcut=True, e=0.5, lk=False):
        super().__init__()
        c_ = int(c2 * e)
        mid = 2 * c_
        self.cv1 = nn.Sequential(
            Conv(c1, c1, 3, g=c1),
            Conv(c1, mid, 1),
            RepVGGDW(mid) if lk else Conv(mid, mid, 3, g=mid),
            Conv(mid, c2, 1),
            Conv(c2, c2, 3, g=c2),
        )
        self.add = shortcut and c1 == c2

    def forward(self, x):
        y = self.cv1(x)
        return x + y if self.add else y


@block(family="yolov10", channels=ScaledOut(), repeat=INNER, modern=True)
class C2fCIB(C2f):
    """C2f whose inner blocks are CIBs (expansion 1.0); ``lk`` gives their middle depthwise conv a 7x7 branch."""

    def __init__(self, c1, c2, n=1, shortcut=False, lk=False, g=1, e=0.5):
        super().__init__(c1, c2, n, shortcut, g, e)
        self.m = nn.ModuleList(CIB(self.c, self.c, shortcut, e=1.0, lk=lk) for _ in range(n))


@block(family="yolov10", channels=ScaledOut())
class PSA(nn.Module):
    """Partial self-attention: a 1x1 conv splits the input in two halves of ``c = int(c1 * e)`` channels; one half
    goes through multi-head attention (one head per 64 channels) and a 1x1-conv FFN (c -> 2c -> c), each with a
    residual add; a 1x1 conv fuses both halves back to c1 channels."""

    def __init__(self, c1, c2, e=0.5):
        super().__init__()
        _need_equal_channels("PSA", c1, c2)
        self.c = int(c1 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv(2 * self.c, c1, 1)
        self.attn = Attention(self.c, num_heads=_psa_heads(self.c), attn_ratio=0.5)
        self.ffn = nn.Sequential(Conv(self.c, 2 * self.c, 1), Conv(2 * self.c, self.c, 1, act=False))

    def forward(self, x):
        keep, attend = self.cv1(x).split((self.c, self.c), dim=1)
        attend = attend + self.attn(attend)
        attend = attend + self.ffn(attend)
        return self.cv2(torch.cat((keep, attend), 1))

"""The YOLOv5 repository's own blocks, for the ``yolov5`` dialect (a YAML with ``anchors:``).

The YOLOv5 repository (github.com/ultralytics/yolov5, ``models/common.py`` and ``models/yolo.py``) and the
Ultralytics package define several blocks under the same YAML names, differently. Every block here is written from
the repository's published definitions (as of v7.0; the v2.0-v6.2 definitions of the blocks their YAMLs use have
the same parameters, see tests/reference/yolov5_repo.py) and registered for the ``yolov5`` dialect only, so one
YAML name means the repository's block in a YOLOv5-dialect file and the Ultralytics block elsewhere.

Blocks of its own (they differ from Ultralytics' or Ultralytics has no such block in archscope):

* ``Bottleneck``: a 1x1 then a 3x3 Conv (Ultralytics': 3x3 then 3x3), residual add when shapes allow.
* ``BottleneckCSP``: the CSP block with those bottlenecks (its BN + SiLU over the concatenation is fixed SiLU).
* ``CrossConv`` (1xk then kx1 Conv), ``MixConv2d`` (mixed-kernel depthwise convs, models/experimental.py),
  ``C3SPP`` (C3 with an SPP inside; the repository passes it no repeat
  count), ``Contract`` / ``Expand`` (space-to-depth and back, no parameters).
* ``Segment``: the anchor-based Detect with ``nm`` mask coefficients per anchor and a prototype network whose
  upsampling is ``nn.Upsample`` (Ultralytics' Proto learns a transposed conv); ``npr`` is width-scaled.
* ``Classify``: Conv to 1280, pool, dropout, Linear; the same parameters as Ultralytics' but it returns logits in
  eval mode (Ultralytics returns softmax) and takes a ``dropout_p`` argument.
* ``Detect``: the anchor-based head, :class:`archscope.blocks.heads.AnchorDetect`.

The same as Ultralytics' (parameter for parameter and forward for forward), registered for this dialect as the
same class: ``Conv``, ``DWConv``, ``GhostConv``, ``GhostBottleneck``, ``Focus``, ``C3``, ``C3x``, ``C3Ghost``,
``C3TR`` (Ultralytics 8.4 ships the repository's, :mod:`archscope.blocks.attention`), ``SPP``, ``SPPF`` (its
``[c2, k]`` rows), ``DWConvTranspose2d``, ``nn.ConvTranspose2d``, ``Concat``.

Channel rule of the repository (``V5ScaledOut``): the first argument is the output channel count, scaled by
``width_multiple`` and rounded up to a multiple of 8, except when it equals ``na * (nc + 5)`` (the detection
outputs), which the repository leaves as written. No channel cap applies (the dialect has no ``scales``). The
repeat count goes inside ``BottleneckCSP``, ``C3``, ``C3TR``, ``C3Ghost`` and ``C3x``; every other block is stacked.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from archscope.blocks.attention import C3TR
from archscope.blocks.common import Concat, Conv, DWConv, DWConvTranspose2d, Focus, GhostConv, autopad
from archscope.blocks.csp import C3, SPP, SPPF, C3Ghost, C3x, GhostBottleneck
from archscope.blocks.heads import AnchorDetect, _HeadArgs, _positive_int
from archscope.build.registry import (
    INNER,
    OUTER,
    ConcatChannels,
    CustomRule,
    FixedOut,
    RepeatRule,
    Resolved,
    ScaledOut,
    block,
)
from archscope.errors import ArchscopeError

DIALECT = "yolov5"
FAMILY = "yolov5"


def detection_outputs(ctx) -> int | None:
    """``na * (nc + 5)``: the output count of the repository's Detect convs (None without anchors)."""
    anchors = ctx.anchors
    if isinstance(anchors, list) and anchors and isinstance(anchors[0], list):
        na = len(anchors[0]) // 2
    elif isinstance(anchors, int) and not isinstance(anchors, bool):
        na = anchors
    else:
        return None
    return na * (ctx.nc + 5)


class V5ScaledOut(ScaledOut):
    """``args[0]`` is the output channel count, width-scaled (/8) unless it equals ``na * (nc + 5)``."""

    description = "c1=in, c2=args[0]*width (/8) unless c2 = na*(nc+5)"

    def resolve(self, ctx, block):
        if ctx.args and not isinstance(ctx.args[0], bool) and ctx.args[0] == detection_outputs(ctx):
            c2 = ctx.args[0]
            return Resolved([ctx.single_input(block), c2, *ctx.args[1:]], c2)
        return super().resolve(ctx, block)


def _v5(name: str | None = None, *, repeat: RepeatRule = OUTER, channels=None, signature: str = ""):
    """Register a class for the yolov5 dialect (the repository's channel rule unless ``channels`` is given)."""
    return block(name, family=FAMILY, channels=channels or V5ScaledOut(), repeat=repeat, dialect=DIALECT,
                 signature=signature)


# ----------------------------------------------------------------- the same as Ultralytics': shared classes

class V5ConvOut(V5ScaledOut):
    """Conv's rule: the repository's, and a YOLOv7 row's activation in the place of YOLOv5's dilation.

    YOLOv7's Conv is ``Conv(c1, c2, k=1, s=1, p=None, g=1, act=True)``, and its files write rows such as
    ``[32, 3, 2, None, 1, nn.LeakyReLU(0.1)]``; YOLOv5's has ``d`` there, which is never text, so text there is
    read as that activation: an allow-listed ``torch.nn`` activation without parameters, literal arguments only.
    A boolean there is the ``act`` of YOLOv7's and of YOLOv5's own Conv before v6.2 (which had no ``d``)."""

    def resolve(self, ctx, block):
        resolved = super().resolve(ctx, block)
        args = resolved.args
        if len(args) == 7 and isinstance(args[6], str):
            return Resolved([*args[:6], 1, _yolov7_act(args[6], block)], resolved.c_out)
        if len(args) == 7 and isinstance(args[6], bool):  # YOLOv5 before v6.2 and YOLOv7: (..., g, act)
            return Resolved([*args[:6], 1, args[6]], resolved.c_out)
        return resolved


def _yolov7_act(text: str, block: str) -> nn.Module:
    import ast

    from archscope.vocab import ACTIVATIONS

    error = ArchscopeError(f"{block}: the activation {text[:60]!r} is not a torch.nn activation call without "
                           f"parameters, such as nn.LeakyReLU(0.1) or nn.SiLU()")
    try:
        call = ast.parse(text.strip(), mode="eval").body
        if not isinstance(call, ast.Call) or call.keywords:
            raise error
        name = ast.unparse(call.func)
        short = name.removeprefix("torch.").removeprefix("nn.")
        if name not in (f"nn.{short}", f"torch.nn.{short}") or short not in ACTIVATIONS:
            raise error
        values = [ast.literal_eval(a) for a in call.args]
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        raise error from None
    if not all(isinstance(v, (bool, int, float)) and math.isfinite(v) and abs(v) <= 1e6 for v in values):
        raise error
    try:
        with torch.device("meta"):
            act = getattr(nn, short)(*values)
    except Exception:  # noqa: BLE001 - torch's words stay out of the message
        raise error from None
    if any(True for _ in act.parameters()):
        raise error
    return act


_v5(channels=V5ConvOut())(Conv)
_SHARED_STACKED: tuple[type, ...] = (DWConv, GhostConv, GhostBottleneck, Focus, SPP, DWConvTranspose2d)
_SHARED_INNER: tuple[type, ...] = (C3, C3x, C3Ghost, C3TR)
for _cls in _SHARED_STACKED:
    _v5()(_cls)
for _cls in _SHARED_INNER:
    _v5(repeat=INNER)(_cls)
_v5(signature="(c1, c2, k=5)")(SPPF)
block("nn.ConvTranspose2d", family=FAMILY, channels=V5ScaledOut(), aliases=("torch.nn.ConvTranspose2d",),
      dialect=DIALECT)(nn.ConvTranspose2d)
block("Concat", family=FAMILY, channels=ConcatChannels(), dialect=DIALECT)(Concat)


# ------------------------------------------------------------------------------ the repository's own blocks


@_v5()
class Bottleneck(nn.Module):
    """YOLOv5 bottleneck: 1x1 Conv to c2*e, 3x3 Conv (groups g) to c2, residual add when shortcut and c1 == c2."""

    def __init__(self, c1, c2, shortcut=True, g=1, e=0.5):
        super().__init__()
        hidden = int(c2 * e)
        self.cv1 = Conv(c1, hidden, 1, 1)
        self.cv2 = Conv(hidden, c2, 3, 1, g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


@_v5(repeat=INNER)
class BottleneckCSP(nn.Module):
    """CSP bottleneck (Wang et al. 2019): Conv + n YOLOv5 bottlenecks + plain 1x1 conv on one branch, a plain 1x1
    conv on the other, BatchNorm + SiLU over both, then a fusing Conv."""

    def __init__(self, c1, c2, n=1, shortcut=True, g=1, e=0.5):
        super().__init__()
        hidden = int(c2 * e)
        self.cv1 = Conv(c1, hidden, 1, 1)
        self.cv2 = nn.Conv2d(c1, hidden, 1, 1, bias=False)
        self.cv3 = nn.Conv2d(hidden, hidden, 1, 1, bias=False)
        self.cv4 = Conv(2 * hidden, c2, 1, 1)
        self.bn = nn.BatchNorm2d(2 * hidden)
        self.act = nn.SiLU()  # fixed: the YAML's activation reaches the Convs only
        self.m = nn.Sequential(*(Bottleneck(hidden, hidden, shortcut, g, e=1.0) for _ in range(n)))

    def forward(self, x):
        joined = torch.cat((self.cv3(self.m(self.cv1(x))), self.cv2(x)), 1)
        return self.cv4(self.act(self.bn(joined)))


@_v5()
class CrossConv(nn.Module):
    """Cross convolution: a 1 x k Conv (stride 1 x s), then a k x 1 Conv (stride s x 1, groups g), optional add."""

    def __init__(self, c1, c2, k=3, s=1, g=1, e=1.0, shortcut=False):
        super().__init__()
        hidden = int(c2 * e)
        self.cv1 = Conv(c1, hidden, (1, k), (1, s))
        self.cv2 = Conv(hidden, c2, (k, 1), (s, 1), g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


@_v5()
class MixConv2d(nn.Module):
    """Mixed depthwise conv (MixNet, Tan & Le 2019): parallel convs of kernels ``k`` (groups gcd(c1, share)), their
    outputs concatenated to c2, then BatchNorm + SiLU. ``equal_ch``: the c2 outputs split evenly over the kernels;
    otherwise split so that every kernel has about as many weights (a least-squares solve, as the repository does).
    """

    def __init__(self, c1, c2, k=(1, 3), s=1, equal_ch=True):
        super().__init__()
        k = tuple(k) if isinstance(k, (list, tuple)) else (k,)
        shares = _equal_shares(c2, len(k)) if equal_ch else _equal_weight_shares(c2, k)
        self.m = nn.ModuleList(
            nn.Conv2d(c1, c_, kk, s, kk // 2, groups=math.gcd(c1, c_), bias=False) for kk, c_ in zip(k, shares)
        )
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU()  # fixed, not the YAML's activation

    def forward(self, x):
        return self.act(self.bn(torch.cat([m(x) for m in self.m], 1)))


def _equal_shares(c2: int, n: int) -> list[int]:
    """How many of c2 evenly spaced points of [0, n) fall in each unit interval (float32, as torch.linspace)."""
    points = torch.linspace(0, n - 1e-6, c2, device="cpu").floor()
    return [int((points == g).sum()) for g in range(n)]


def _equal_weight_shares(c2: int, k) -> list[int]:
    """Channel shares with about equal weights per kernel: shares sum to c2 and share_i * k_i**2 are equal."""
    n = len(k)
    a = torch.zeros(n + 1, n, dtype=torch.float64, device="cpu")
    for i in range(1, n):  # rows 1..n-1: share_{i-1} k_{i-1}^2 - share_i k_i^2 = 0
        a[i, i - 1] = k[i - 1] ** 2
        a[i, i] = -(k[i] ** 2)
    a[n, n - 1] = k[n - 1] ** 2  # the wrap-around row of the repository's rolled matrix
    a[n, 0] -= k[0] ** 2
    a[0] = 1
    b = torch.zeros(n + 1, 1, dtype=torch.float64, device="cpu")
    b[0, 0] = c2
    solution = torch.linalg.lstsq(a, b, driver="gelsd").solution.flatten()
    return [int(round(float(v))) for v in solution]


@_v5()
class C3SPP(C3):
    """C3 whose bottleneck chain is an SPP (pools k). The repository gives it no repeat count: rows stack copies."""

    def __init__(self, c1, c2, k=(5, 9, 13), n=1, shortcut=True, g=1, e=0.5):
        super().__init__(c1, c2, n, shortcut, g, e)
        hidden = int(c2 * e)
        self.m = SPP(hidden, hidden, k)


def _gain_rule(expand: bool):
    def resolve(ctx, blk):
        gain = ctx.args[0] if ctx.args else 2
        if isinstance(gain, bool) or not isinstance(gain, int) or gain < 1:
            raise ArchscopeError(f"{blk}: gain must be a positive integer, got {gain!r}")
        c = ctx.single_input(blk)
        if expand and c % (gain * gain):
            raise ArchscopeError(f"{blk}: input channels {c} are not divisible by gain**2 = {gain * gain}")
        return Resolved(list(ctx.args), c // gain**2 if expand else c * gain**2)

    return CustomRule(resolve, "out = in / gain**2" if expand else "out = in * gain**2")


@_v5(channels=_gain_rule(expand=False))
class Contract(nn.Module):
    """Space to depth: ``[B, C, H, W] -> [B, C*g*g, H/g, W/g]`` (no parameters)."""

    def __init__(self, gain=2):
        super().__init__()
        self.gain = gain

    def forward(self, x):
        b, c, h, w = x.shape
        s = self.gain
        x = x.view(b, c, h // s, s, w // s, s).permute(0, 3, 5, 1, 2, 4).contiguous()
        return x.view(b, c * s * s, h // s, w // s)


@_v5(channels=_gain_rule(expand=True))
class Expand(nn.Module):
    """Depth to space: ``[B, C, H, W] -> [B, C/(g*g), H*g, W*g]`` (no parameters)."""

    def __init__(self, gain=2):
        super().__init__()
        self.gain = gain

    def forward(self, x):
        b, c, h, w = x.shape
        s = self.gain
        x = x.view(b, s, s, c // s**2, h, w).permute(0, 3, 4, 1, 5, 2).contiguous()
        return x.view(b, c // s**2, h * s, w * s)


# ------------------------------------------------------------------------------------------------- heads


class Proto(nn.Module):
    """YOLOv5 mask prototypes: 3x3 Conv, nearest 2x ``nn.Upsample`` (no parameters), 3x3 Conv, 1x1 Conv to c2."""

    def __init__(self, c1, c_=256, c2=32):
        super().__init__()
        self.cv1 = Conv(c1, c_, 3)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.cv2 = Conv(c_, c_, 3)
        self.cv3 = Conv(c_, c2)

    def forward(self, x):
        return self.cv3(self.cv2(self.upsample(self.cv1(x))))


@block("Segment", family=FAMILY, channels=_HeadArgs(lambda ctx: [ctx.nc, [], 32, 256], scaled_arg=3),
       dialect=DIALECT, signature="(nc=80, anchors=(), nm=32, npr=256, ch=())")
class AnchorSegment(AnchorDetect):
    """YOLOv5-repository Segment: the anchor-based Detect whose 1x1 convs also predict ``nm`` mask coefficients per
    anchor (``na * (nc + 5 + nm)`` outputs), plus ``Proto(ch[0], npr, nm)``; ``npr`` is width-scaled (/8).

    Eval output: ``([B, sum(na * h * w), nc + 5 + nm], [B, nm, 2 H0, 2 W0])`` (boxes decoded as Detect's, sigmoid
    objectness and classes, raw mask coefficients; prototypes at twice the first input's resolution).
    """

    def __init__(self, nc=80, anchors=(), nm=32, npr=256, ch=()):
        super().__init__(nc, anchors, ch)
        self.nm = _positive_int(nm, "nm (number of masks)", "Segment")
        self.npr = _positive_int(npr, "npr (number of prototype channels)", "Segment")
        self.no = self.nc + 5 + self.nm
        self.m = nn.ModuleList(nn.Conv2d(c, self.no * self.na, 1) for c in tuple(ch))
        self.proto = Proto(tuple(ch)[0], self.npr, self.nm)

    def _decode_level(self, p, grid, anchor, stride):
        boxes = super()._decode_level(p[..., : self.nc + 5], grid, anchor, stride)
        return torch.cat((boxes, p[..., self.nc + 5:]), -1)

    def forward(self, x):
        feats = list(x) if isinstance(x, (list, tuple)) else [x]
        return super().forward(feats), self.proto(feats[0])


@_v5("Classify", channels=FixedOut(), signature="(c1, c2, k=1, s=1, p=None, g=1, dropout_p=0.0)")
class V5Classify(nn.Module):
    """YOLOv5 classification head: Conv(c1, 1280, k, s, p, g) -> global average pool -> Dropout -> Linear(1280, c2).

    Returns logits in every mode. ``c2`` (the class count) is taken as written: the repository builds this head as
    ``Classify(channels, nc)`` on a cut detection backbone.
    """

    def __init__(self, c1, c2, k=1, s=1, p=None, g=1, dropout_p=0.0):
        super().__init__()
        self.conv = Conv(c1, 1280, k, s, autopad(k, p), g)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(p=dropout_p, inplace=True)
        self.linear = nn.Linear(1280, c2)

    def forward(self, x):
        if isinstance(x, (list, tuple)):
            x = torch.cat(list(x), 1)
        return self.linear(self.drop(self.pool(self.conv(x)).flatten(1)))

"""Convolution building blocks and the allow-listed ``torch.nn`` layers.

Written from the published YOLOv5/YOLOv8 definitions: Conv = Conv2d (no bias, 'same' padding) + BatchNorm2d +
activation (SiLU unless the YAML's ``activation:`` says otherwise).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math

import torch
from torch import nn

from archscope.build.registry import ConcatChannels, CustomRule, InputOnly, Resolved, SameAsInput, ScaledOut, block
from archscope.errors import ArchscopeError
from archscope.vocab import ACTIVATIONS

#: A kernel size, stride or dilation: one int, or one per spatial axis (``[1, 1]`` in the YOLOv5 repository's
#: hub/yolov3.yaml), as torch's conv layers take it. The argument check reads this annotation.
Size = int | tuple[int, ...] | list[int]


@dataclasses.dataclass
class BuildContext:
    """Model-wide settings that Ultralytics keeps as class attributes, scoped here to one build.

    ``default_act`` is one activation instance shared by every Conv built with ``act=True`` (as Ultralytics shares
    ``Conv.default_act``; sharing matters for its deduplicated module count). ``legacy_heads`` is False once a
    "modern" block (C3k2, A2C2f, C2fCIB) has been built, which switches Detect-family heads to their
    depthwise classification branch. ``reg_max`` and ``end2end`` are the YAML's top-level keys of the same names.
    """

    default_act: nn.Module | None = None
    legacy_heads: bool = True
    # The YAML's top-level head settings (Ultralytics hands them to every Detect-family head): DFL bins and whether
    # the heads get a one-to-one twin of their branches (``end2end``, YOLO26).
    reg_max: int = 16
    end2end: bool = False
    # Activations that Ultralytics keeps per class rather than per model (RepConv, ConvTranspose: always SiLU,
    # whatever the YAML's ``activation:`` says), one shared instance per key, as a class attribute would be.
    shared: dict = dataclasses.field(default_factory=dict)


_context: contextvars.ContextVar[BuildContext | None] = contextvars.ContextVar("archscope_build", default=None)


@contextlib.contextmanager
def build_context(ctx: BuildContext):
    token = _context.set(ctx)
    try:
        yield ctx
    finally:
        _context.reset(token)


def current_context() -> BuildContext:
    ctx = _context.get()
    if ctx is None:  # a block built outside a model build (tests, plugins): a private context
        ctx = BuildContext()
        _context.set(ctx)
    return ctx


def _shared_default_act() -> nn.Module:
    ctx = current_context()
    if ctx.default_act is None:
        ctx.default_act = nn.SiLU()
    return ctx.default_act


def shared_module(key: str, make) -> nn.Module:
    """One module instance per build for ``key`` (made by ``make()`` on first use), like a class attribute."""
    ctx = current_context()
    if key not in ctx.shared:
        ctx.shared[key] = make()
    return ctx.shared[key]


def resolve_act(act, default_key: str | None = None) -> nn.Module:
    """``True``: the model's default activation (or the shared per-class SiLU named ``default_key``);
    an nn.Module: itself; anything else: identity."""
    if act is True:
        if default_key is not None:
            return shared_module(default_key, nn.SiLU)
        return _shared_default_act()
    if isinstance(act, nn.Module):
        return act
    return nn.Identity()


def autopad(k, p=None, d=1):
    """'Same' padding for kernel k (int or pair) and dilation d."""
    if d > 1:
        k = d * (k - 1) + 1 if isinstance(k, int) else [d * (x - 1) + 1 for x in k]
    if p is None:
        p = k // 2 if isinstance(k, int) else [x // 2 for x in k]
    return p


@block(family="conv", channels=ScaledOut())
class Conv(nn.Module):
    """Conv2d + BatchNorm2d + activation."""

    def __init__(self, c1, c2, k: Size = 1, s: Size = 1, p=None, g: int = 1, d: Size = 1, act=True):
        super().__init__()
        # torch reads a list like a tuple; its stubs name only int | tuple[int, int]
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, p, d), groups=g, dilation=d, bias=False)  # type: ignore[arg-type]
        self.bn = nn.BatchNorm2d(c2)
        self.act = resolve_act(act)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


@block(family="conv", channels=SameAsInput())
class Conv2(Conv):
    """Conv with a parallel 1x1 Conv2d (no bias) summed before BatchNorm and activation (a simplified RepConv; the
    1x1 kernel folds into the k x k one for deployment).

    Ultralytics 8.4.190's parse_model gives Conv2 no channel rule (it is not among its width-scaled blocks): a row's
    arguments reach the constructor as written (``[c1, c2, k, ...]``, no input channels prepended, no width scaling)
    and the layer is taken to keep its input's channel count. archscope follows that rule exactly.
    """

    def __init__(self, c1, c2, k=3, s=1, p=None, g=1, d=1, act=True):
        super().__init__(c1, c2, k, s, p, g=g, d=d, act=act)
        self.cv2 = nn.Conv2d(c1, c2, 1, s, autopad(1, p, d), groups=g, dilation=d, bias=False)

    def forward(self, x):
        return self.act(self.bn(self.conv(x) + self.cv2(x)))


@block(family="conv", channels=ScaledOut())
class DWConv(Conv):
    """Depthwise-style Conv: groups = gcd(c1, c2)."""

    def __init__(self, c1, c2, k: Size = 1, s: Size = 1, d: Size = 1, act=True):
        super().__init__(c1, c2, k, s, g=math.gcd(c1, c2), d=d, act=act)


@block(family="conv", channels=ScaledOut())
class GhostConv(nn.Module):
    """Ghost convolution (GhostNet, Han et al. 2020): a primary conv makes half the output channels, a cheap 5x5
    depthwise conv on those makes the other half, and both halves are concatenated."""

    def __init__(self, c1, c2, k=1, s=1, g=1, act=True):
        super().__init__()
        c_ = c2 // 2
        self.cv1 = Conv(c1, c_, k, s, None, g, act=act)
        self.cv2 = Conv(c_, c_, 5, 1, None, c_, act=act)

    def forward(self, x):
        y = self.cv1(x)
        return torch.cat((y, self.cv2(y)), 1)


def _explicit_in_out(ctx, blk):
    """Rows that list their input channels themselves (``[c1, c2, ...]``): args as written, out = args[1]."""
    if len(ctx.args) < 2:
        raise ArchscopeError(f"{blk} needs [in_channels, out_channels, ...] as its first arguments")
    c_in = ctx.single_input(blk)
    c1, c2 = ctx.args[0], ctx.args[1]
    for c in (c1, c2):
        if isinstance(c, bool) or not isinstance(c, int) or c < 1:
            raise ArchscopeError(f"{blk}: channel counts must be positive integers, got {c!r}")
    if c1 != c_in:
        raise ArchscopeError(f"{blk} declares {c1} input channels, but its input has {c_in}")
    return Resolved(list(ctx.args), c2)


@block(family="conv", channels=CustomRule(_explicit_in_out, "args as written [c1, c2, ...], out = c2"))
class RepConv(nn.Module):
    """RepVGG-style block (Ding et al. 2021): a k x k conv+BN and a 1x1 conv+BN in parallel (plus an identity BN
    when ``bn`` and shapes allow), summed, then activated. Training-time form (not fused).

    Ultralytics treats it as a plain layer: the YAML row lists ``c1`` itself, and its activation is a per-class SiLU
    (the YAML's ``activation:`` does not apply).
    """

    def __init__(self, c1, c2, k=3, s=1, p=1, g=1, d=1, act=True, bn=False, deploy=False):
        super().__init__()
        if k != 3 or p != 1:
            raise ArchscopeError(f"RepConv supports k=3, p=1 only (got k={k}, p={p})")
        self.g, self.c1, self.c2 = g, c1, c2
        self.act = resolve_act(act, default_key="RepConv")
        self.bn = nn.BatchNorm2d(c1) if bn and c2 == c1 and s == 1 else None
        self.conv1 = Conv(c1, c2, k, s, p=p, g=g, act=False)
        self.conv2 = Conv(c1, c2, 1, s, p=(p - k // 2), g=g, act=False)

    def forward(self, x):
        identity = 0 if self.bn is None else self.bn(x)
        return self.act(self.conv1(x) + self.conv2(x) + identity)


@block(family="conv", channels=ScaledOut())
class Focus(nn.Module):
    """Space-to-depth (YOLOv5's Focus): the four pixel-phase subimages stacked on channels (4*c1), then a Conv."""

    def __init__(self, c1, c2, k: Size = 1, s: Size = 1, p=None, g: int = 1, act=True):
        super().__init__()
        self.conv = Conv(c1 * 4, c2, k, s, p, g, act=act)

    def forward(self, x):
        return self.conv(
            torch.cat((x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]), 1)
        )


@block(family="conv", channels=ScaledOut())
class ConvTranspose(nn.Module):
    """ConvTranspose2d (bias only without BN) + optional BatchNorm2d + activation (a per-class SiLU by default)."""

    def __init__(self, c1, c2, k=2, s=2, p=0, bn=True, act=True):
        super().__init__()
        self.conv_transpose = nn.ConvTranspose2d(c1, c2, k, s, p, bias=not bn)
        self.bn = nn.BatchNorm2d(c2) if bn else nn.Identity()
        self.act = resolve_act(act, default_key="ConvTranspose")

    def forward(self, x):
        return self.act(self.bn(self.conv_transpose(x)))


@block(family="conv", channels=ScaledOut())
class DWConvTranspose2d(nn.ConvTranspose2d):
    """Depthwise-style transposed conv: groups = gcd(c1, c2), with bias."""

    def __init__(self, c1, c2, k=1, s=1, p1=0, p2=0):
        super().__init__(c1, c2, k, s, p1, p2, groups=math.gcd(c1, c2))


@block(family="routing", channels=ConcatChannels())
class Concat(nn.Module):
    """Concatenate a list of tensors along a dimension (channels by default)."""

    def __init__(self, dimension=1):
        super().__init__()
        self.d = dimension

    def forward(self, x):
        return torch.cat(x, self.d)



def _index_rule(ctx, blk):
    """Ultralytics' rule for Index (and TorchVision): ``args[0]`` is the output channel count as written (no width
    scaling), the constructor gets ``args[1:]``."""
    from archscope.build.registry import Resolved

    if not ctx.args:
        raise ArchscopeError(f"{blk} needs its output channels as the first argument")
    c2 = ctx.args[0]
    if isinstance(c2, bool) or not isinstance(c2, int) or c2 < 1:
        raise ArchscopeError(f"{blk}: channel count must be a positive integer, got {c2!r}")
    return Resolved(list(ctx.args[1:]), c2)


OUT_AS_WRITTEN = CustomRule(_index_rule, "args[0] = out as written, args = args[1:]", consumed=(0,))


@block(family="routing", channels=OUT_AS_WRITTEN)
class Index(nn.Module):
    """Pick one element of a multi-output layer (e.g. a ``TorchVision`` backbone with ``split=True``): ``x[index]``.

    YAML row ``[c2, index]``: ``c2`` is the picked map's channel count, as written.
    """

    def __init__(self, index=0):
        super().__init__()
        if isinstance(index, bool) or not isinstance(index, int):
            raise ArchscopeError(f"Index: index must be an integer, got {index!r}")
        self.index = index

    def forward(self, x):
        if not isinstance(x, (list, tuple)):
            raise ArchscopeError("Index needs a multi-output input (a list of maps), got a single tensor")
        if not -len(x) <= self.index < len(x):
            raise ArchscopeError(f"Index {self.index} is out of range for an input of {len(x)} maps")
        return x[self.index]


# ------------------------------------------------------------------------------------- allow-listed torch.nn

def _register_nn(cls, channels, **kw):
    name = cls.__name__
    block(f"nn.{name}", family="torch.nn", channels=channels, aliases=(f"torch.nn.{name}",), **kw)(cls)


def _conv2d_rule(ctx, blk):
    from archscope.build.registry import Resolved

    if len(ctx.args) < 2:
        raise ArchscopeError(f"{blk} needs [in_channels, out_channels, kernel_size, ...]")
    return Resolved(list(ctx.args), ctx.args[1])


_ACTIVATION_LAYERS = tuple(getattr(nn, name) for name in ACTIVATIONS if name != "Identity")
for _cls in (nn.Upsample, nn.Identity, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.ZeroPad2d,
             nn.Dropout, nn.Dropout2d, *_ACTIVATION_LAYERS):
    _register_nn(_cls, SameAsInput())
_register_nn(nn.ConvTranspose2d, ScaledOut())
_register_nn(nn.BatchNorm2d, InputOnly())
_register_nn(nn.Conv2d, CustomRule(_conv2d_rule, "args as written, out = args[1]"))

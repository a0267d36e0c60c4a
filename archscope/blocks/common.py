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

from ..errors import ArchscopeError
from ..registry import (
    ConcatChannels,
    CustomRule,
    InputOnly,
    SameAsInput,
    ScaledOut,
    block,
)

@dataclasses.dataclass
class BuildContext:
    """Model-wide settings that Ultralytics keeps as class attributes, scoped here to one build.

    ``default_act`` is one activation instance shared by every Conv built with ``act=True`` (as Ultralytics shares
    ``Conv.default_act``; sharing matters for its deduplicated module count). ``legacy_heads`` is False once a
    "modern" block (C3k2, A2C2f, C2fCIB) has been built, which switches Detect-family heads to their
    depthwise classification branch.
    """

    default_act: nn.Module | None = None
    legacy_heads: bool = True


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


def resolve_act(act) -> nn.Module:
    """``True``: the model's default activation; an nn.Module: itself; anything else: identity."""
    if act is True:
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

    def __init__(self, c1, c2, k=1, s=1, p=None, g=1, d=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, p, d), groups=g, dilation=d, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = resolve_act(act)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


@block(family="conv", channels=ScaledOut())
class DWConv(Conv):
    """Depthwise-style Conv: groups = gcd(c1, c2)."""

    def __init__(self, c1, c2, k=1, s=1, d=1, act=True):
        super().__init__(c1, c2, k, s, g=math.gcd(c1, c2), d=d, act=act)


@block(family="routing", channels=ConcatChannels())
class Concat(nn.Module):
    """Concatenate a list of tensors along a dimension (channels by default)."""

    def __init__(self, dimension=1):
        super().__init__()
        self.d = dimension

    def forward(self, x):
        return torch.cat(x, self.d)



# ------------------------------------------------------------------------------------- allow-listed torch.nn

def _register_nn(cls, channels, **kw):
    name = cls.__name__
    block(f"nn.{name}", family="torch.nn", channels=channels, aliases=(f"torch.nn.{name}",), **kw)(cls)


def _conv2d_rule(ctx, blk):
    from ..registry import Resolved

    if len(ctx.args) < 2:
        raise ArchscopeError(f"{blk} needs [in_channels, out_channels, kernel_size, ...]")
    return Resolved(list(ctx.args), ctx.args[1])


for _cls in (nn.Upsample, nn.Identity, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.ZeroPad2d,
             nn.Dropout, nn.Dropout2d, nn.ReLU, nn.ReLU6, nn.SiLU, nn.GELU, nn.LeakyReLU, nn.Hardswish,
             nn.Hardsigmoid, nn.Sigmoid, nn.Tanh, nn.Mish, nn.ELU):
    _register_nn(_cls, SameAsInput())
_register_nn(nn.ConvTranspose2d, ScaledOut())
_register_nn(nn.BatchNorm2d, InputOnly())
_register_nn(nn.Conv2d, CustomRule(_conv2d_rule, "args as written, out = args[1]"))

"""The heads and helpers of the YOLOv7 and YOLOv9 repositories (github.com/WongKinYiu/yolov7, .../yolov9), for the
``yolov5`` dialect: their YAMLs carry ``anchors:`` and ``depth_multiple``, and their ``models/yolo.py`` parses them
as the YOLOv5 repository does. Written from the published definitions' argument forms and layer shapes
(``models/yolo.py``, ``models/common.py``); no code of theirs is copied (GPL-3.0).

YOLOv9 (Wang, Yeh, Liao, "YOLOv9: Learning What You Want to Learn Using Programmable Gradient Information",
arXiv:2402.13616):

* ``Silence``: the identity; the first row of the PGI files, so that the auxiliary branch can read the input.
* ``DDetect``: the anchor-free DFL head of YOLOv9. It differs from Ultralytics' Detect: the box branch is
  ``Conv(c, c2, 3), Conv(c2, c2, 3, g=4), Conv2d(c2, 64, 1, groups=4)`` with ``c2 = make_divisible(max(ch0 // 4,
  64, 16), 4)``, and the class branch's width is ``max(ch0, min(2 nc, 128))`` (Ultralytics: ``min(nc, 100)``).
* ``DualDDetect`` / ``TripleDDetect``: two (three) DDetect heads side by side on consecutive halves (thirds) of the
  inputs, each with its own widths from its first input and its own DFL (PGI's auxiliary branches). Every branch's
  convs run; in eval the first group's predictions are decoded and returned (the repository decodes and returns
  each group's, so its count of the read-out arithmetic, DFL softmax and box decoding, is larger by those of the
  other groups; the convs, which are nearly all of it, are the same).

``RepNCSPELAN4``, ``ADown``, ``SPPELAN``, ``AConv``, ``ELAN1``, ``CBLinear`` and ``CBFuse`` of the YOLOv9 repository
have the same layers and parameters as archscope's Ultralytics blocks of those names (checked against the
repository's own counts, tests/reference/wongkinyiu_repo.py), and are built by those.

YOLOv7 (Wang, Bochkovskiy, Liao, "YOLOv7: Trainable bag-of-freebies ...", arXiv:2207.02696):

* ``IDetect``: the anchor-based Detect (per level a 1x1 Conv2d to ``na * (nc + 5)``) with YOLOR's implicit
  knowledge: a learnt per-channel addition before the conv (``ImplicitA``, C parameters) and a learnt per-channel
  multiplication after it (``ImplicitM``, ``na * (nc + 5)`` parameters).
* ``IAuxDetect``: IDetect on the first ``nl = len(anchors)`` inputs plus plain auxiliary 1x1 convs on the next
  ``nl`` inputs (the auxiliary heads of the coarse-to-fine lead-guided assignment; no implicit layers on them).
  The repository reshapes each auxiliary map with its lead level's height and width, so there they must match
  (its Model() fails otherwise); archscope does not check that.
* ``RepConv``: YOLOv7's form, ``[c2, k, s]`` (the output channels first), with its identity BatchNorm.
* ``Detect`` in a YOLOv7 file is the YOLOv5 repository's anchor Detect (:class:`archscope.blocks.heads.AnchorDetect`).
"""

from __future__ import annotations

import torch
from torch import nn

from archscope.blocks.common import Conv, autopad
from archscope.blocks.heads import DFL, AnchorDetect, Detect, _as_list, _check_channels, _HeadArgs
from archscope.blocks.yolov5 import V5ScaledOut
from archscope.build.registry import SameAsInput, block, make_divisible
from archscope.errors import ArchscopeError

DIALECT = "yolov5"
FAMILY = "yolov7/yolov9"
REG_MAX = 16


@block(family=FAMILY, channels=SameAsInput(), dialect=DIALECT, signature="()")
class Silence(nn.Module):
    """YOLOv9's Silence: returns its input unchanged (no parameters)."""

    def forward(self, x):
        return x


def _box_branch(c_in: int, c_mid: int) -> nn.Sequential:
    return nn.Sequential(Conv(c_in, c_mid, 3), Conv(c_mid, c_mid, 3, g=4), nn.Conv2d(c_mid, 4 * REG_MAX, 1, groups=4))


def _cls_branch(c_in: int, c_mid: int, nc: int) -> nn.Sequential:
    return nn.Sequential(Conv(c_in, c_mid, 3), Conv(c_mid, c_mid, 3), nn.Conv2d(c_mid, nc, 1))


def _widths(c0: int, nc: int) -> tuple[int, int]:
    """YOLOv9's box and class branch widths from a group's first input channel count."""
    return make_divisible(max(c0 // 4, 4 * REG_MAX, 16), 4), max(c0, min(nc * 2, 128))


class _GroupedDDetect(Detect):
    """``groups`` DDetect heads on consecutive equal shares of the inputs; the first share is the one decoded."""

    groups = 1

    def __init__(self, nc: int = 80, ch=()):
        name = type(self).__name__
        ch = _check_channels(ch, name)
        if len(ch) % self.groups:
            raise ArchscopeError(f"{name} needs {self.groups} equal groups of inputs, got {len(ch)} inputs")
        nl = len(ch) // self.groups
        super().__init__(nc, ch[:nl], reg_max=REG_MAX, end2end=False)
        shares = [ch[g * nl:(g + 1) * nl] for g in range(self.groups)]
        names = [("cv2", "cv3", "dfl"), ("cv4", "cv5", "dfl2"), ("cv6", "cv7", "dfl3")]
        for (box, cls, dfl), share in zip(names, shares):
            c_box, c_cls = _widths(share[0], self.nc)
            setattr(self, box, nn.ModuleList(_box_branch(c, c_box) for c in share))
            setattr(self, cls, nn.ModuleList(_cls_branch(c, c_cls, self.nc) for c in share))
            if dfl != "dfl":
                setattr(self, dfl, DFL(REG_MAX))
        self.nl = nl

    def set_strides(self, strides) -> None:
        super().set_strides(tuple(strides)[: self.nl])

    def init_real(self):
        super().init_real()
        for dfl in ("dfl2", "dfl3"):
            if hasattr(self, dfl):
                getattr(self, dfl).init_real()

    def forward(self, x):
        """Eval: the first group's decoded predictions (the others' maps are computed too, as in the reference)."""
        feats = _as_list(x)
        nl = self.nl
        outs = [self._raw(feats[:nl], self.cv2, self.cv3, None)]
        for g, (box, cls) in enumerate((("cv4", "cv5"), ("cv6", "cv7"))[: self.groups - 1], 1):
            outs.append(self._raw(feats[g * nl:(g + 1) * nl], getattr(self, box), getattr(self, cls), None))
        if self.training:
            return outs
        return self._decode(feats[:nl], outs[0])


@block("DDetect", family=FAMILY, channels=_HeadArgs(lambda ctx: [ctx.nc]), dialect=DIALECT,
       signature="(nc=80, ch=())")
class DDetect(_GroupedDDetect):
    """YOLOv9's DDetect: the DFL head with grouped box convs and YOLOv9's branch widths. YAML ``[nc]``."""

    groups = 1


@block("DualDDetect", family=FAMILY, channels=_HeadArgs(lambda ctx: [ctx.nc]), dialect=DIALECT,
       signature="(nc=80, ch=())")
class DualDDetect(_GroupedDDetect):
    """YOLOv9's DualDDetect: two DDetect heads, on the first and the second half of the inputs. YAML ``[nc]``."""

    groups = 2


@block("TripleDDetect", family=FAMILY, channels=_HeadArgs(lambda ctx: [ctx.nc]), dialect=DIALECT,
       signature="(nc=80, ch=())")
class TripleDDetect(_GroupedDDetect):
    """YOLOv9's TripleDDetect: three DDetect heads, on the three thirds of the inputs. YAML ``[nc]``."""

    groups = 3


class ImplicitA(nn.Module):
    """YOLOR's implicit addition: a learnt [1, C, 1, 1] tensor added to the input (C parameters)."""

    def __init__(self, channel: int):
        super().__init__()
        self.implicit = nn.Parameter(torch.zeros(1, channel, 1, 1))

    def forward(self, x):
        return self.implicit + x


class ImplicitM(nn.Module):
    """YOLOR's implicit multiplication: a learnt [1, C, 1, 1] tensor multiplying the input (C parameters)."""

    def __init__(self, channel: int):
        super().__init__()
        self.implicit = nn.Parameter(torch.ones(1, channel, 1, 1))

    def forward(self, x):
        return self.implicit * x


def _anchor_args(ctx):
    return [ctx.nc, []]


@block("IDetect", family=FAMILY, channels=_HeadArgs(_anchor_args), dialect=DIALECT,
       signature="(nc=80, anchors=(), ch=())")
class IDetect(AnchorDetect):
    """YOLOv7's IDetect: the anchor Detect with ImplicitA before and ImplicitM after each level's 1x1 conv.
    YAML ``[nc, anchors]``."""

    def __init__(self, nc: int = 80, anchors=(), ch=()):
        super().__init__(nc, anchors, ch)
        self.m = nn.ModuleList(_ImplicitConv(c, conv, self.no * self.na) for c, conv in zip(tuple(ch), self.m))


class _ImplicitConv(nn.Module):
    """One IDetect level: ImplicitA, the 1x1 conv, ImplicitM (``bias`` is the conv's, for the priors)."""

    def __init__(self, c: int, conv: nn.Module, c_out: int):
        super().__init__()
        self.ia = ImplicitA(c)
        self.conv = conv
        self.im = ImplicitM(c_out)

    @property
    def bias(self):
        return self.conv.bias

    def forward(self, x):
        return self.im(self.conv(self.ia(x)))


@block("IAuxDetect", family=FAMILY, channels=_HeadArgs(_anchor_args), dialect=DIALECT,
       signature="(nc=80, anchors=(), ch=())")
class IAuxDetect(IDetect):
    """YOLOv7's IAuxDetect: IDetect on the first ``len(anchors)`` inputs and a plain 1x1 conv to ``na * (nc + 5)``
    on each of the next ones (auxiliary heads). YAML ``[nc, anchors]``; it takes twice as many inputs as levels."""

    def __init__(self, nc: int = 80, anchors=(), ch=()):
        ch = tuple(ch)
        levels = len(list(anchors))
        if not levels or len(ch) != 2 * levels:
            raise ArchscopeError(f"IAuxDetect needs two inputs per anchor level ({levels} levels), got {len(ch)}")
        super().__init__(nc, anchors, ch[:levels])
        self.m2 = nn.ModuleList(nn.Conv2d(c, self.no * self.na, 1) for c in ch[levels:])

    def set_strides(self, strides) -> None:
        super().set_strides(tuple(strides)[: self.nl])

    def forward(self, x):
        feats = _as_list(x)
        out = super().forward(feats[: self.nl])
        aux = [conv(f) for conv, f in zip(self.m2, feats[self.nl:])]
        return [*out, *aux] if self.training else out


@block("RepConv", family=FAMILY, channels=V5ScaledOut(), dialect=DIALECT,
       signature="(c1, c2, k=3, s=1, p=None, g=1, act=True)")
class V7RepConv(nn.Module):
    """YOLOv7's RepConv (RepVGG, Ding et al. 2021, arXiv:2101.03697, as the YOLOv7 repository writes it): a k x k
    conv + BN and a 1x1 conv + BN in parallel, plus an identity BatchNorm when ``c1 == c2`` and ``s == 1``, summed
    and activated (SiLU). YAML ``[c2, k, s]``: unlike Ultralytics' RepConv the row gives the output channels."""

    def __init__(self, c1: int, c2: int, k: int = 3, s: int = 1, p=None, g: int = 1, act=True):
        super().__init__()
        if not isinstance(act, bool):
            raise ArchscopeError("RepConv (YOLOv7): act must be True or False here")
        pad = autopad(k, p)
        self.identity = nn.BatchNorm2d(c1) if c1 == c2 and s == 1 else None
        self.dense = Conv(c1, c2, k, s, pad, g, act=False)
        self.one = Conv(c1, c2, 1, s, pad - k // 2, g, act=False)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x):
        identity = 0 if self.identity is None else self.identity(x)
        return self.act(self.dense(x) + self.one(x) + identity)

"""Detection, segmentation, pose, oriented-box and classification heads, from their published definitions.

* ``Detect``: the anchor-free, decoupled head of YOLOv8 (also used by the v3/v5/v6/v9/11/12 configs of the
  Ultralytics package). Per input level a box branch ``cv2`` (two 3x3 Convs, then a 1x1 Conv2d to ``4 * reg_max``
  distance bins) and a class branch ``cv3``. The class branch comes in two variants: the *legacy* one (two 3x3 Convs
  and a 1x1 Conv2d) for models without YOLO11-era blocks, and the *light* one of YOLO11/12 (depthwise 3x3 + pointwise
  Conv, twice, then a 1x1 Conv2d). Which one is decided when the head is built, by
  ``current_context().legacy_heads`` (a build switches it off when it meets C3k2, A2C2f or C2fCIB).
  Box distances are read out of their ``reg_max`` bins by ``DFL`` (the expectation of a softmax distribution,
  "Distribution Focal Loss", Li et al. 2020) and decoded around cell-centre anchor points.
* ``Segment`` adds a mask-coefficient branch ``cv4`` and a prototype network ``Proto`` on the finest level (YOLACT-
  style masks); ``Pose`` adds a keypoint branch; ``OBB`` adds a rotation-angle branch (rotated-box decoding).
* ``v10Detect``: YOLOv10's dual-assignment head (Wang et al. 2024): a one-to-many branch used for training and a
  one-to-one twin (``one2one_cv2``/``one2one_cv3``) whose output is used at inference without NMS; both use the light
  class branch.
* End-to-end heads (YOLO26, Ultralytics 8.4): the YAML's top-level ``end2end: true`` gives every Detect-family head
  (Detect, Segment, Pose, OBB and the ``*26`` variants) a one-to-one twin of each branch (``one2one_cv2``,
  ``one2one_cv3``, ``one2one_cv4`` ...), as v10Detect always has; ``reg_max`` sets the DFL bins (YOLO26: 1, no DFL).
  Both branches run in every forward; eval mode decodes the one-to-one branch. ``drop_training_branches()`` keeps
  only that branch (and drops training-only parts), as deployment does.
* YOLO26 task heads: ``Segment26`` (prototypes from every level, ``Proto26``), ``Pose26`` (a keypoint tower with
  separate keypoint and sigma convs, a RealNVP flow for the loss), ``OBB26`` (raw angle), and the dense heads
  ``Depth`` (top-down fusion to a stride-4 depth map) and ``SemanticSegment`` (per-pixel logits at stride 8).
* ``Classify``: Conv to 1280 channels, global average pool, dropout, linear.
* The anchor-based ``Detect`` of the YOLOv5 repository (registered for the ``yolov5`` dialect): one 1x1 Conv2d per
  level predicting ``na * (nc + 5)`` values, decoded with the YOLOv5 grid/anchor formulas.

Meta-device rules: nothing here reads tensor values while building. Strides are a plain tuple handed over by the
builder through ``set_strides`` (placeholders 8, 16, 32, ... until then); anchors and stride tensors are rebuilt in
every forward from the input shapes, on the input's device, so a forward works on ``meta``. Value-dependent
initialisation (DFL's fixed 0..reg_max-1 weights, the bias priors) lives in ``init_real``.

Eval-mode outputs are the first element of what Ultralytics returns in eval mode:
Detect ``[B, 4 + nc, A]`` (xywh boxes in pixels and sigmoid scores), Segment ``([B, 4 + nc + nm, A],
[B, nm, H/4, W/4])``, Pose ``[B, 4 + nc + nk, A]``, OBB ``[B, 4 + nc + ne, A]``, v10Detect ``[B, 4 + nc, A]`` (from the
one-to-one branch), Classify ``[B, nc]`` (softmax), YOLOv5 Detect ``[B, sum(na * h * w), nc + 5]``; the ``*26`` heads as
their parents, Depth ``[B, 1, H/4, W/4]``, SemanticSegment ``[B, nc, H/8, W/8]``. (End-to-end heads: Ultralytics'
default eval output has this shape too; its top-k ``[B, 300, 6 + extra]`` form is not modelled.) In training mode
the heads return their raw maps.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from archscope.blocks.common import Conv, DWConv, current_context
from archscope.build.registry import FixedOut, HeadInputs, block
from archscope.errors import ArchscopeError
from archscope.util.text import positive_int

# ------------------------------------------------------------------------------------------------ helpers


class _HeadArgs(HeadInputs):
    """``HeadInputs`` whose missing trailing arguments are filled with the head's defaults before the channel list.

    A head row may stop early (``Segment [nc]``); without padding the channel list would land in the wrong
    parameter. ``defaults(ctx)`` gives the full list of arguments before the channel list.
    """

    def __init__(self, defaults, scaled_arg: int | None = None):
        super().__init__(scaled_arg)
        self._defaults = defaults

    def resolve(self, ctx, block_name):
        full = list(self._defaults(ctx))
        if len(ctx.args) > len(full):
            raise ArchscopeError(
                f"{block_name} takes at most {len(full)} arguments before its input channels, got {len(ctx.args)}: "
                f"{ctx.args!r}"
            )
        ctx.args = [*ctx.args, *full[len(ctx.args):]]
        return super().resolve(ctx, block_name)


def _check_channels(ch, name: str) -> tuple[int, ...]:
    ch = tuple(ch)
    if not ch:
        raise ArchscopeError(f"{name} needs at least one input layer")
    for c in ch:
        if isinstance(c, bool) or not isinstance(c, int):
            raise ArchscopeError(f"{name} inputs must be single feature maps, got channels {list(ch)}")
    return ch


def _positive_int(value, what: str, name: str) -> int:
    return positive_int(value, f"{name}: {what}")


def _placeholder_strides(n: int) -> tuple[int, ...]:
    return tuple(2 ** (3 + i) for i in range(n))


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def anchor_points(feats, strides, offset: float = 0.5):
    """Cell-centre anchor points ``[2, A]`` (x, y in grid units) and per-anchor strides ``[1, A]``.

    Built from the feature maps' shapes only, on their device and dtype (works on ``meta``).
    """
    points, scale = [], []
    for f, s in zip(feats, strides):
        h, w = f.shape[-2], f.shape[-1]
        xs = torch.arange(w, device=f.device, dtype=f.dtype) + offset
        ys = torch.arange(h, device=f.device, dtype=f.dtype) + offset
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack((gx.reshape(-1), gy.reshape(-1)), 0))
        scale.append(torch.full((1, h * w), float(s), device=f.device, dtype=f.dtype))
    return torch.cat(points, 1), torch.cat(scale, 1)


# ------------------------------------------------------------------------------------------- sub-modules


class DFL(nn.Module):
    """Distribution Focal Loss read-out: softmax over ``c1`` bins, then the expected bin index (a fixed 1x1 conv)."""

    def __init__(self, c1: int = 16):
        super().__init__()
        self.c1 = c1
        # A frozen parameter (not a buffer), so it appears in the parameter count as in Ultralytics.
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)

    def init_real(self):
        with torch.no_grad():
            self.conv.weight.copy_(
                torch.arange(self.c1, dtype=self.conv.weight.dtype, device=self.conv.weight.device).view(1, -1, 1, 1)
            )

    def forward(self, x):
        b, _, a = x.shape  # [B, 4 * c1, A]
        dist = x.view(b, 4, self.c1, a).transpose(1, 2).softmax(1)  # [B, c1, 4, A]: bins as conv channels
        return self.conv(dist).view(b, 4, a)


class Proto(nn.Module):
    """Mask prototypes: 3x3 Conv, 2x learned upsampling (transposed conv), 3x3 Conv, 1x1 Conv to ``c2`` masks."""

    def __init__(self, c1: int, c_: int = 256, c2: int = 32):
        super().__init__()
        self.cv1 = Conv(c1, c_, 3)
        self.upsample = nn.ConvTranspose2d(c_, c_, 2, 2, 0, bias=True)
        self.cv2 = Conv(c_, c_, 3)
        self.cv3 = Conv(c_, c2)

    def forward(self, x):
        return self.cv3(self.cv2(self.upsample(self.cv1(x))))


def _tower(c_in: int, c_mid: int, c_out: int) -> nn.Sequential:
    """Two 3x3 Convs then a 1x1 Conv2d with bias: the box branch and the extra branches of the task heads."""
    return nn.Sequential(Conv(c_in, c_mid, 3), Conv(c_mid, c_mid, 3), nn.Conv2d(c_mid, c_out, 1))


def _light_cls(c_in: int, c_mid: int, nc: int) -> nn.Sequential:
    """YOLO11-style class branch: (depthwise 3x3, pointwise 1x1) twice, then a 1x1 Conv2d with bias."""
    return nn.Sequential(
        nn.Sequential(DWConv(c_in, c_in, 3), Conv(c_in, c_mid, 1)),
        nn.Sequential(DWConv(c_mid, c_mid, 3), Conv(c_mid, c_mid, 1)),
        nn.Conv2d(c_mid, nc, 1),
    )


# ------------------------------------------------------------------------------------------------- Detect


@block(family="head", channels=_HeadArgs(lambda ctx: [ctx.nc]))
class Detect(nn.Module):
    """Anchor-free decoupled detection head (YOLOv8 family) with DFL box regression."""

    def __init__(self, nc: int = 80, ch=(), reg_max: int | None = None, end2end: bool | None = None):
        super().__init__()
        name = type(self).__name__
        ctx = current_context()
        ch = _check_channels(ch, name)
        self.nc = _positive_int(nc, "nc (number of classes)", name)
        self.nl = len(ch)
        self.reg_max = _positive_int(ctx.reg_max if reg_max is None else reg_max, "reg_max", name)
        self.end2end = bool(ctx.end2end if end2end is None else end2end)
        self.no = self.nc + 4 * self.reg_max  # raw outputs per anchor of the box + class branches
        self.stride = _placeholder_strides(self.nl)
        self.legacy = ctx.legacy_heads
        c_box = max(16, ch[0] // 4, 4 * self.reg_max)
        c_cls = max(ch[0], min(self.nc, 100))
        self.cv2 = nn.ModuleList(_tower(c, c_box, 4 * self.reg_max) for c in ch)
        self.cv3 = self._cls_branches(ch, c_cls)
        self.dfl = DFL(self.reg_max) if self.reg_max > 1 else nn.Identity()
        if self.end2end:  # one deep copy per branch list, as Ultralytics makes them (it shapes the module count)
            self.one2one_cv2 = copy.deepcopy(self.cv2)
            self.one2one_cv3 = copy.deepcopy(self.cv3)

    def _cls_branches(self, ch, c_cls) -> nn.ModuleList:
        if self.legacy:
            return nn.ModuleList(_tower(c, c_cls, self.nc) for c in ch)
        return nn.ModuleList(_light_cls(c, c_cls, self.nc) for c in ch)

    # strides and priors

    def set_strides(self, strides) -> None:
        strides = tuple(int(s) for s in strides)
        if len(strides) != self.nl:
            raise ArchscopeError(f"{type(self).__name__} has {self.nl} inputs but got {len(strides)} strides")
        self.stride = strides

    def _bias_pairs(self):
        yield self.cv2, self.cv3
        if self.end2end:
            yield self.one2one_cv2, self.one2one_cv3

    def init_real(self):
        """Ultralytics' priors: box logits 2.0; class logits for ~5 objects per 640x640 image spread over nc.

        Also sets DFL's fixed weights (idempotent, so the builder calling both hooks is harmless).
        """
        if isinstance(self.dfl, DFL):
            self.dfl.init_real()
        with torch.no_grad():
            for box_head, cls_head in self._bias_pairs():
                for box, cls, s in zip(box_head, cls_head, self.stride):
                    box[-1].bias.fill_(2.0)
                    cls[-1].bias[: self.nc].fill_(math.log(5 / self.nc / (640 / s) ** 2))

    # forward

    def _extra_heads(self, branch: str):
        """Task-specific branches (Segment/Pose/OBB) for ``branch`` in ("one2many", "one2one")."""
        return None

    def _branch(self, branch: str):
        prefix = "one2one_" if branch == "one2one" else ""
        return getattr(self, prefix + "cv2"), getattr(self, prefix + "cv3"), self._extra_heads(branch)

    def _raw(self, feats, box_head, cls_head, extra_head):
        b = feats[0].shape[0]
        raw = {
            "boxes": torch.cat([box_head[i](f).view(b, 4 * self.reg_max, -1) for i, f in enumerate(feats)], 2),
            "scores": torch.cat([cls_head[i](f).view(b, self.nc, -1) for i, f in enumerate(feats)], 2),
        }
        if extra_head is not None:
            raw["extra"] = torch.cat([extra_head[i](f).view(b, -1, f.shape[-2] * f.shape[-1])
                                      for i, f in enumerate(feats)], 2)
        return raw

    def _decode_boxes(self, dist, anchors, strides, raw):
        """ltrb distances (grid units) around anchor points -> xywh boxes in pixels."""
        lt, rb = dist.chunk(2, 1)
        x1y1 = anchors - lt
        x2y2 = anchors + rb
        return torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * strides

    def _decode_extra(self, raw, anchors, strides):
        return []

    def _decode(self, feats, raw):
        anchors, strides = anchor_points(feats, self.stride)
        anchors = anchors.unsqueeze(0)
        boxes = self._decode_boxes(self.dfl(raw["boxes"]), anchors, strides, raw)
        return torch.cat([boxes, raw["scores"].sigmoid(), *self._decode_extra(raw, anchors, strides)], 1)

    def forward(self, x):
        """Eval: the decoded predictions; with ``end2end`` both branches run (as in the reference) and the
        one-to-one branch, the one deployed without NMS, is decoded. Training: the raw maps."""
        feats = _as_list(x)
        one2many = self._raw(feats, *self._branch("one2many"))
        if not self.end2end:
            return {**one2many, "feats": feats} if self.training else self._decode(feats, one2many)
        o2o_feats = [f.detach() for f in feats] if self.training else feats  # one2one stays out of the backbone
        one2one = self._raw(o2o_feats, *self._branch("one2one"))
        if self.training:
            return {"one2many": {**one2many, "feats": feats}, "one2one": {**one2one, "feats": o2o_feats}}
        return self._decode(feats, one2one)

    def drop_training_branches(self) -> bool:
        """Keep only the branch inference uses, as Ultralytics' ``Detect.fuse`` does (called by
        :func:`archscope.build.fuse.deploy`); True when something was dropped.

        With ``end2end`` the one-to-one twins (``one2one_cv2``, ``one2one_cv3``, a task head's ``one2one_cv4`` ...)
        replace the one-to-many branches under the plain names and ``end2end`` is switched off, so the head then
        runs that single branch and its eval output keeps its shape and values. Without ``end2end`` nothing
        changes. Subclasses also drop their training-only parts (Pose26's flow model and sigma heads,
        Segment26's semantic branch).
        """
        if not self.end2end:
            return False
        for name in [n for n in self._modules if n.startswith("one2one_")]:
            module = self._modules.pop(name)
            setattr(self, name.removeprefix("one2one_"), module)
        self.end2end = False
        return True


@block(family="head", channels=_HeadArgs(lambda ctx: [ctx.nc, 32, 256], scaled_arg=2))
class Segment(Detect):
    """Detect + mask coefficients per anchor (``cv4``) + mask prototypes at stride 4 (``proto``)."""

    def __init__(self, nc: int = 80, nm: int = 32, npr: int = 256, ch=(), reg_max=None, end2end=None):
        super().__init__(nc, ch, reg_max, end2end)
        ch = tuple(ch)
        name = type(self).__name__
        self.nm = _positive_int(nm, "nm (number of masks)", name)
        self.npr = _positive_int(npr, "npr (number of prototype channels)", name)
        self.proto = Proto(ch[0], self.npr, self.nm)
        c_mask = max(ch[0] // 4, self.nm)
        self.cv4 = nn.ModuleList(_tower(c, c_mask, self.nm) for c in ch)
        if self.end2end:
            self.one2one_cv4 = copy.deepcopy(self.cv4)

    def _extra_heads(self, branch):
        return self.one2one_cv4 if branch == "one2one" else self.cv4

    def _decode_extra(self, raw, anchors, strides):
        return [raw["extra"]]

    def _proto(self, feats):
        return self.proto(feats[0])

    def forward(self, x):
        feats = _as_list(x)
        out = super().forward(feats)
        proto = self._proto(feats)
        if self.training:
            return {**out, "proto": proto}
        return out, proto


@block(family="head", channels=_HeadArgs(lambda ctx: [ctx.nc, [17, 3]]))
class Pose(Detect):
    """Detect + keypoints per anchor (``cv4``): ``kpt_shape = (keypoints, dims)``, dims 2 (x, y) or 3 (+ visibility)."""

    def __init__(self, nc: int = 80, kpt_shape=(17, 3), ch=(), reg_max=None, end2end=None):
        super().__init__(nc, ch, reg_max, end2end)
        ch = tuple(ch)
        if (not isinstance(kpt_shape, (list, tuple)) or len(kpt_shape) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in kpt_shape)
                or kpt_shape[1] not in (2, 3)):
            raise ArchscopeError(f"{type(self).__name__}: kpt_shape must be [keypoints, 2 or 3], got {kpt_shape!r}")
        self.kpt_shape = tuple(kpt_shape)
        self.nk = kpt_shape[0] * kpt_shape[1]
        self._kpt_branches(ch)

    def _kpt_branches(self, ch):
        c_kpt = max(ch[0] // 4, self.nk)
        self.cv4 = nn.ModuleList(_tower(c, c_kpt, self.nk) for c in ch)
        if self.end2end:
            self.one2one_cv4 = copy.deepcopy(self.cv4)

    def _extra_heads(self, branch):
        return self.one2one_cv4 if branch == "one2one" else self.cv4

    def _decode_extra(self, raw, anchors, strides):
        k, d = self.kpt_shape
        kp = raw["extra"]
        b, a = kp.shape[0], kp.shape[-1]
        kp = kp.view(b, k, d, a)
        xy = (kp[:, :, :2] * 2.0 + (anchors.view(1, 1, 2, a) - 0.5)) * strides.view(1, 1, 1, a)
        parts = [xy, kp[:, :, 2:3].sigmoid()] if d == 3 else [xy]
        return [torch.cat(parts, 2).view(b, self.nk, a)]


@block(family="head", channels=_HeadArgs(lambda ctx: [ctx.nc, 1]))
class OBB(Detect):
    """Detect + a rotation angle per anchor (``cv4``); boxes decoded as rotated xywh, angle in [-pi/4, 3pi/4)."""

    def __init__(self, nc: int = 80, ne: int = 1, ch=(), reg_max=None, end2end=None):
        super().__init__(nc, ch, reg_max, end2end)
        ch = tuple(ch)
        self.ne = _positive_int(ne, "ne (number of extra parameters)", type(self).__name__)
        c_ang = max(ch[0] // 4, self.ne)
        self.cv4 = nn.ModuleList(_tower(c, c_ang, self.ne) for c in ch)
        if self.end2end:
            self.one2one_cv4 = copy.deepcopy(self.cv4)

    def _extra_heads(self, branch):
        return self.one2one_cv4 if branch == "one2one" else self.cv4

    def _raw(self, feats, box_head, cls_head, extra_head):
        raw = super()._raw(feats, box_head, cls_head, extra_head)
        raw["angle"] = (raw.pop("extra").sigmoid() - 0.25) * math.pi
        return raw

    def _decode_boxes(self, dist, anchors, strides, raw):
        """Rotate the (r - l, b - t) / 2 centre offset by the predicted angle; size is l + r, t + b."""
        angle = raw["angle"][:, :1]
        lt, rb = dist.chunk(2, 1)
        cos, sin = torch.cos(angle), torch.sin(angle)
        dx, dy = ((rb - lt) / 2).chunk(2, 1)
        centre = torch.cat((dx * cos - dy * sin, dx * sin + dy * cos), 1) + anchors
        return torch.cat((centre, lt + rb), 1) * strides

    def _decode_extra(self, raw, anchors, strides):
        return [raw["angle"]]


# ------------------------------------------------------------------------------------------------- YOLO26


class Proto26(Proto):
    """YOLO26 mask prototypes from every level: coarser levels are 1x1-projected to the finest level's width,
    nearest-upsampled to its size and added; a 3x3 Conv to ``c_`` then the ``Proto`` stack (3x3 Conv, 2x transposed
    conv, 3x3 Conv, 1x1 Conv to ``c2`` masks). ``semseg`` (two 3x3 Convs and a 1x1 Conv2d to ``nc``) is an auxiliary
    semantic branch that only runs in training."""

    def __init__(self, ch=(), c_: int = 256, c2: int = 32, nc: int = 80):
        super().__init__(c_, c_, c2)
        ch = tuple(ch)
        self.feat_refine = nn.ModuleList(Conv(c, ch[0], 1) for c in ch[1:])
        self.feat_fuse = Conv(ch[0], c_, 3)
        self.semseg: nn.Module | None = nn.Sequential(Conv(ch[0], c_, 3), Conv(c_, c_, 3), nn.Conv2d(c_, nc, 1))

    def forward(self, x, semantic: bool = True):
        """``semantic=False``: never run ``semseg`` (YOLOESegment26 calls it so, in training too)."""
        feats = _as_list(x)
        fused = feats[0]
        for i, refine in enumerate(self.feat_refine):
            fused = fused + F.interpolate(refine(feats[i + 1]), scale_factor=2 ** (i + 1), mode="nearest")
        masks = super().forward(self.feat_fuse(fused))
        if self.training and semantic and self.semseg is not None:
            return masks, self.semseg(fused)
        return masks


@block(family="head", channels=_HeadArgs(lambda ctx: [ctx.nc, 32, 256], scaled_arg=2))
class Segment26(Segment):
    """YOLO26 instance segmentation: Segment with multi-level prototypes (``Proto26``) built from every input."""

    def __init__(self, nc: int = 80, nm: int = 32, npr: int = 256, ch=(), reg_max=None, end2end=None):
        super().__init__(nc, nm, npr, ch, reg_max, end2end)
        self.proto = Proto26(tuple(ch), self.npr, self.nm, self.nc)

    def _proto(self, feats):
        return self.proto(feats)

    def drop_training_branches(self) -> bool:
        """Detect's branch pruning, and the prototypes' training-only semantic branch dropped."""
        dropped = super().drop_training_branches()
        proto = self.proto
        if isinstance(proto, Proto26) and proto.semseg is not None:
            proto.semseg = None
            dropped = True
        return dropped


class RealNVP(nn.Module):
    """RealNVP normalising flow (Dinh et al. 2017, arXiv:1605.08803) on 2-D points: six affine coupling layers with
    alternating masks, each with a scale net (Linear 2-64-64-2, SiLU, tanh) and a translation net (same, no tanh).
    YOLO26's pose head keeps it for its residual log-likelihood keypoint loss; it is not run at inference."""

    def __init__(self):
        super().__init__()
        self.register_buffer("loc", torch.zeros(2))
        self.register_buffer("cov", torch.eye(2))
        self.register_buffer("mask", torch.tensor([[0.0, 1.0], [1.0, 0.0]] * 3))
        self.s = nn.ModuleList(self._net(tanh=True) for _ in range(6))
        self.t = nn.ModuleList(self._net(tanh=False) for _ in range(6))

    @staticmethod
    def _net(tanh: bool) -> nn.Sequential:
        layers = [nn.Linear(2, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 2)]
        return nn.Sequential(*layers, nn.Tanh()) if tanh else nn.Sequential(*layers)

    def init_real(self):
        with torch.no_grad():
            self.mask.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]] * 3, device=self.mask.device))
            self.cov.copy_(torch.eye(2, device=self.cov.device))

    def forward(self, x):
        """Data points ``[N, 2]`` -> latent points and the log-determinant of the Jacobian ``[N]``."""
        z, log_det = x, x.new_zeros(x.shape[0])
        for i in reversed(range(len(self.t))):
            keep = self.mask[i]
            z_ = keep * z
            scale = self.s[i](z_) * (1 - keep)
            shift = self.t[i](z_) * (1 - keep)
            z = (1 - keep) * (z - shift) * torch.exp(-scale) + z_
            log_det = log_det - scale.sum(dim=1)
        return z, log_det


@block(family="head", channels=_HeadArgs(lambda ctx: [ctx.nc, [17, 3]]))
class Pose26(Pose):
    """YOLO26 pose: a shared two-Conv keypoint tower per level feeding a 1x1 keypoint conv (``cv4_kpts``) and a 1x1
    per-keypoint sigma conv (``cv4_sigma``, training only), plus a ``RealNVP`` flow for the loss. Keypoints decode
    as ``(offset + anchor) * stride`` (no 2x gain, no -0.5 shift)."""

    def _kpt_branches(self, ch):
        k, d = self.kpt_shape
        c_kpt = max(ch[0] // 4, k * (d + 2))
        self.flow_model = RealNVP()
        self.nk_sigma = 2 * k  # sigma_x, sigma_y per keypoint
        self.cv4 = nn.ModuleList(nn.Sequential(Conv(c, c_kpt, 3), Conv(c_kpt, c_kpt, 3)) for c in ch)
        self.cv4_kpts = nn.ModuleList(nn.Conv2d(c_kpt, self.nk, 1) for _ in ch)
        self.cv4_sigma = nn.ModuleList(nn.Conv2d(c_kpt, self.nk_sigma, 1) for _ in ch)
        if self.end2end:
            self.one2one_cv4 = copy.deepcopy(self.cv4)
            self.one2one_cv4_kpts = copy.deepcopy(self.cv4_kpts)
            self.one2one_cv4_sigma = copy.deepcopy(self.cv4_sigma)

    def _extra_heads(self, branch):
        prefix = "one2one_" if branch == "one2one" else ""
        return tuple(getattr(self, prefix + n) for n in ("cv4", "cv4_kpts", "cv4_sigma"))

    def _raw(self, feats, box_head, cls_head, extra_head):
        raw = super()._raw(feats, box_head, cls_head, None)
        tower, kpts, sigma = extra_head
        b = feats[0].shape[0]
        hidden = [tower[i](f) for i, f in enumerate(feats)]
        raw["extra"] = torch.cat([kpts[i](h).view(b, self.nk, -1) for i, h in enumerate(hidden)], 2)
        if self.training and sigma is not None:
            raw["kpts_sigma"] = torch.cat([sigma[i](h).view(b, self.nk_sigma, -1) for i, h in enumerate(hidden)], 2)
        return raw

    def _decode_extra(self, raw, anchors, strides):
        k, d = self.kpt_shape
        kp = raw["extra"]
        b, a = kp.shape[0], kp.shape[-1]
        kp = kp.view(b, k, d, a)
        xy = (kp[:, :, :2] + anchors.view(1, 1, 2, a)) * strides.view(1, 1, 1, a)
        parts = [xy, kp[:, :, 2:3].sigmoid()] if d == 3 else [xy]
        return [torch.cat(parts, 2).view(b, self.nk, a)]

    def drop_training_branches(self) -> bool:
        """Detect's branch pruning, and the training-only flow model and sigma heads dropped."""
        dropped = super().drop_training_branches()
        if self.flow_model is not None or self.cv4_sigma is not None:
            self.flow_model = None
            self.cv4_sigma = None
            dropped = True
        return dropped


@block(family="head", channels=_HeadArgs(lambda ctx: [ctx.nc, 1]))
class OBB26(OBB):
    """YOLO26 oriented boxes: OBB whose angle is the raw branch output (no sigmoid-and-shift to [-pi/4, 3pi/4))."""

    def _raw(self, feats, box_head, cls_head, extra_head):
        raw = Detect._raw(self, feats, box_head, cls_head, extra_head)
        raw["angle"] = raw.pop("extra")
        return raw


@block(family="head", channels=_HeadArgs(lambda ctx: [256]))
class Depth(nn.Module):
    """YOLO26 monocular depth: every level 1x1-projected to ``c_mid``; top-down, each coarser map is bilinearly
    upsampled 2x (align_corners), added to the next finer one and refined by two 3x3 Convs; then a 3x3 Conv to
    c_mid/2, a 2x transposed conv, a 3x3 Conv to c_mid/4 and a 1x1 Conv2d to one channel. Output: ``exp(a * clamp(
    log-depth, -4, 5) + b)`` at stride 4, ``[B, 1, H/4, W/4]`` (``a``, ``b``: calibration buffers, 1 and 0).

    YAML row ``[c_mid]`` (not width-scaled), as Ultralytics 8.4 builds it.
    """

    def __init__(self, c_mid: int = 256, ch=()):
        super().__init__()
        ch = _check_channels(ch, "Depth")
        c_mid = _positive_int(c_mid, "c_mid (decoder channels)", "Depth")
        if c_mid < 4:
            raise ArchscopeError(f"Depth: c_mid must be at least 4 (it is halved twice), got {c_mid}")
        self.nl = len(ch)
        self.proj = nn.ModuleList(Conv(c, c_mid, 1) for c in ch)
        self.refine = nn.ModuleList(nn.Sequential(Conv(c_mid, c_mid, 3), Conv(c_mid, c_mid, 3)) for _ in ch[:-1])
        self.head = nn.Sequential(
            Conv(c_mid, c_mid // 2, 3),
            nn.ConvTranspose2d(c_mid // 2, c_mid // 2, kernel_size=2, stride=2, bias=True),
            Conv(c_mid // 2, c_mid // 4, 3),
            nn.Conv2d(c_mid // 4, 1, kernel_size=1),
        )
        self.register_buffer("cal_a", torch.ones(1))
        self.register_buffer("cal_b", torch.zeros(1))

    def init_real(self):
        with torch.no_grad():
            self.head[-1].bias.fill_(0.182)  # exp(0.182) ~ 1.2 m: Ultralytics' prior
            self.cal_a.fill_(1.0)
            self.cal_b.fill_(0.0)

    def forward(self, x):
        feats = [self.proj[i](f) for i, f in enumerate(_as_list(x))]
        out = feats[-1]
        for i in range(self.nl - 2, -1, -1):
            out = F.interpolate(out, scale_factor=2, mode="bilinear", align_corners=True) + feats[i]
            out = self.refine[i](out)
        out = self.head(out).clamp(-4.0, 5.0)  # log-depth
        if self.training:
            return {"depth": torch.exp(out)}
        return torch.exp(self.cal_a * out + self.cal_b)


@block(family="head", channels=_HeadArgs(lambda ctx: [ctx.nc]))
class SemanticSegment(nn.Module):
    """YOLO26 semantic segmentation: per-pixel class logits at the first input's stride (3x3 Conv, 1x1 Conv2d to
    ``nc``), ``[B, nc, H/8, W/8]`` for a P3 input; an auxiliary classifier on the second input runs in training only."""

    def __init__(self, nc: int = 19, ch=()):
        super().__init__()
        ch = _check_channels(ch, "SemanticSegment")
        self.nc = _positive_int(nc, "nc (number of classes)", "SemanticSegment")
        self.nl = len(ch)
        c_mid = ch[0]
        self.classifier = nn.Sequential(Conv(c_mid, c_mid, 3), nn.Conv2d(c_mid, self.nc, 1))
        self.aux_head = nn.Sequential(Conv(ch[1], c_mid, 3), nn.Conv2d(c_mid, self.nc, 1)) if len(ch) > 1 else None

    def forward(self, x):
        feats = _as_list(x)
        logits = self.classifier(feats[0])
        if self.training and self.aux_head is not None:
            return logits, self.aux_head(feats[1])
        return logits


@block(family="head", channels=_HeadArgs(lambda ctx: [ctx.nc]))
class v10Detect(Detect):  # noqa: N801 - the YAML name
    """YOLOv10 dual head: one-to-many (``cv2``/``cv3``) and one-to-one (``one2one_*``) twins, light class branch.

    Both branches run in every forward (as in the reference implementations); eval mode returns the decoded
    one-to-one predictions ``[B, 4 + nc, A]``.
    """

    def __init__(self, nc: int = 80, ch=()):
        super().__init__(nc, ch, reg_max=16, end2end=True)  # fixed: the YAML's reg_max/end2end do not reach it
        self.legacy = False  # the light class branch, whatever the model's other blocks

    def _cls_branches(self, ch, c_cls):
        return nn.ModuleList(_light_cls(c, c_cls, self.nc) for c in ch)


# ------------------------------------------------------------------------------------------------ Classify


@block(family="head", channels=FixedOut())
class Classify(nn.Module):
    """Classification head: Conv(c1, 1280, k, s, p, g) -> global average pool -> Dropout -> Linear(1280, c2).

    Ultralytics never width-scales its ``c2`` (the class count), hence the ``FixedOut`` rule. Accepts a list of
    maps (concatenated on channels). Eval mode returns softmax probabilities ``[B, c2]``, training mode logits.
    """

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, p=None, g: int = 1):
        super().__init__()
        c_ = 1280  # EfficientNet-B0's final width
        self.conv = Conv(c1, c_, k, s, p, g)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(p=0.0, inplace=True)
        self.linear = nn.Linear(c_, c2)

    def forward(self, x):
        if isinstance(x, (list, tuple)):
            x = torch.cat(list(x), 1)
        logits = self.linear(self.drop(self.pool(self.conv(x)).flatten(1)))
        return logits if self.training else logits.softmax(1)


# -------------------------------------------------------------------------------- YOLOv5 anchor-based Detect


def _v5_anchor_args(ctx):
    return [ctx.nc, []]


@block("Detect", family="head", channels=_HeadArgs(_v5_anchor_args), dialect="yolov5",
       signature="(nc=80, anchors=(), ch=())")
class AnchorDetect(nn.Module):
    """YOLOv5-repository Detect: per level a 1x1 Conv2d to ``na * (nc + 5)`` (box, objectness, classes) per anchor.

    ``anchors`` is one list of pixel (w, h) pairs per level. Eval decoding (YOLOv5 v6): ``xy = (2 sigmoid - 0.5 +
    cell) * stride``, ``wh = (2 sigmoid)^2 * anchor``; output ``[B, sum(na * h * w), nc + 5]``.
    """

    def __init__(self, nc: int = 80, anchors=(), ch=()):
        super().__init__()
        ch = _check_channels(ch, "Detect")
        self.nc = _positive_int(nc, "nc (number of classes)", "Detect")
        anchors = [list(a) for a in anchors]
        if not anchors:
            raise ArchscopeError("Detect (YOLOv5) needs anchors: one list of w,h pairs per input level, or a count")
        if len(anchors) != len(ch):
            raise ArchscopeError(f"Detect (YOLOv5) has {len(ch)} inputs but {len(anchors)} anchor levels")
        na = len(anchors[0]) // 2
        if na < 1 or any(len(a) != 2 * na for a in anchors):
            raise ArchscopeError("Detect (YOLOv5): every level needs the same, even number of anchor values")
        bad = next((v for a in anchors for v in a
                    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < float("inf")), None)
        if bad is not None:
            raise ArchscopeError(f"Detect (YOLOv5): anchors are numbers of pixels (0 or more), got {bad!r}")
        self.no = self.nc + 5
        self.nl = len(ch)
        self.na = na
        self.stride = _placeholder_strides(self.nl)
        self._anchor_values = tuple(tuple(float(v) for v in a) for a in anchors)
        self.register_buffer("anchors", torch.tensor(self._anchor_values).view(self.nl, na, 2))  # pixels
        self.m = nn.ModuleList(nn.Conv2d(c, self.no * na, 1) for c in ch)

    def set_strides(self, strides) -> None:
        strides = tuple(int(s) for s in strides)
        if len(strides) != self.nl:
            raise ArchscopeError(f"Detect (YOLOv5) has {self.nl} inputs but got {len(strides)} strides")
        self.stride = strides

    def init_real(self):
        """Anchor values, then YOLOv5's priors: objectness for ~8 objects per 640 image, classes ~0.6/nc."""
        with torch.no_grad():
            self.anchors.copy_(torch.tensor(self._anchor_values, dtype=self.anchors.dtype).view(self.nl, self.na, 2))
            for conv, s in zip(self.m, self.stride):
                b = conv.bias.view(self.na, self.no)
                b[:, 4] += math.log(8 / (640 / s) ** 2)
                b[:, 5:] += math.log(0.6 / (self.nc - 0.99999))

    def forward(self, x):
        feats = _as_list(x)
        raw, out = [], []
        for i, f in enumerate(feats):
            p = self.m[i](f)
            b, _, h, w = p.shape
            p = p.view(b, self.na, self.no, h, w).permute(0, 1, 3, 4, 2).contiguous()  # [B, na, h, w, no]
            raw.append(p)
            if self.training:
                continue
            ys = torch.arange(h, device=p.device, dtype=p.dtype)
            xs = torch.arange(w, device=p.device, dtype=p.dtype)
            gy, gx = torch.meshgrid(ys, xs, indexing="ij")
            grid = torch.stack((gx, gy), -1).view(1, 1, h, w, 2) - 0.5
            anchor = self.anchors[i].to(p.dtype).view(1, self.na, 1, 1, 2)
            out.append(self._decode_level(p, grid, anchor, float(self.stride[i])).view(b, -1, self.no))
        return raw if self.training else torch.cat(out, 1)

    def _decode_level(self, p, grid, anchor, stride):
        """One level's ``[B, na, h, w, no]`` raw map -> pixel xywh, sigmoid objectness and class scores."""
        y = p.sigmoid()
        xy = (y[..., :2] * 2 + grid) * stride
        wh = (y[..., 2:4] * 2) ** 2 * anchor
        return torch.cat((xy, wh, y[..., 4:]), -1)

"""YOLO-World blocks (Cheng et al. 2024, "YOLO-World: Real-Time Open-Vocabulary Object Detection"), from their
published definitions (as Ultralytics 8.4 builds them for ``yolov8-world.yaml`` and ``yolov8-worldv2.yaml``).

* ``C2fAttn``: a C2f whose last stage adds a text-guided branch, ``MaxSigmoidAttnBlock`` (the "T-CSPLayer" of the
  paper's RepVL-PAN): per head, the maximum over the text embeddings of (pixel embedding . text embedding), scaled
  by ``1/sqrt(head channels)``, plus a per-head bias, through a sigmoid, gates a 3x3 projection of the features.
* ``ImagePoolingAttn``: the "image-pooling attention" that refines the text embeddings with the image: every input
  map is projected to ``ec`` channels and max-pooled to ``k x k``, and the text embeddings attend (multi-head,
  softmax) to those ``levels * k * k`` patches; the result is projected back to the text width and added.
* ``ContrastiveHead`` / ``BNContrastiveHead``: region-text similarity, ``(text . region embedding) * exp(logit
  scale) + bias``; the plain head L2-normalises the region embeddings, the BN variant (YOLO-Worldv2) batch-norms
  them. Both L2-normalise the text embeddings.
* ``WorldDetect``: the Detect head whose class branch (three legacy Convs) ends in an ``embed``-channel region
  embedding scored against the text embeddings by a contrastive head per level.

**The prompt input.** These blocks take the class text embeddings as a second input. archscope's models have one
image input, so when no embeddings are passed, each block makes a documented constant: zeros of shape
``(batch, nc, 512)`` (one CLIP ViT-B/32 text embedding per class, the placeholder Ultralytics' ``WorldModel`` uses
before ``set_classes``), see :func:`prompt_embeddings`. Only shapes matter to the counts, so every product with the
embeddings is counted at its true size. In Ultralytics the C2fAttn layers after ImagePoolingAttn read the refined
embeddings and the head the original ones; here each block uses its own constant of the same shape (same cost).
``nc`` reaches the blocks through their channel rules (``ChannelContext.nc``), kept in the build context.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from archscope.blocks.common import Conv, current_context
from archscope.blocks.csp import Bottleneck
from archscope.blocks.heads import Detect, _HeadArgs, _tower
from archscope.build.registry import INNER, CustomRule, Resolved, block
from archscope.errors import ArchscopeError

TEXT_DIM = 512  # width of a CLIP ViT-B/32 text embedding (Ultralytics' WorldModel placeholder, YOLOE's default)
DEFAULT_PROMPTS = 80  # prompt count for a block built outside a model build
_PROMPTS_KEY = "archscope.prompt_count"


def remember_prompt_count(nc: int) -> None:
    """Record the model's class count (= number of prompt embeddings) for the blocks built next in this build."""
    current_context().shared[_PROMPTS_KEY] = nc


def prompt_count() -> int:
    return int(current_context().shared.get(_PROMPTS_KEY, DEFAULT_PROMPTS))


def prompt_embeddings(like: torch.Tensor, count: int, dim: int) -> torch.Tensor:
    """The constant prompt input: zeros ``(batch of like, count, dim)`` on ``like``'s device and dtype."""
    return like.new_zeros((like.shape[0], count, dim))


# --------------------------------------------------------------------------------------------- C2fAttn


def _c2fattn_rule(ctx, name):
    """Ultralytics' rule: c2 scaled; heads nh scaled by width (capped at max_channels/64); ``ec`` replaced by the
    hidden width c2 * e, which must be divisible by nh."""
    remember_prompt_count(ctx.nc)
    args = list(ctx.args)
    if len(args) < 1:
        raise ArchscopeError(f"{name} needs its output channels as the first argument")
    c1 = ctx.single_input(name)
    c2 = ctx.scale_channels(_int(args[0], "output channels", name))
    while len(args) < 3:
        args.append([c2, 128, 1][len(args)])
    nh = _int(args[2], "nh (attention heads)", name)
    if nh > 1:
        nh = int(max(round(min(nh, ctx.max_channels // 2 // 32)) * ctx.width, 1))
    e = args[6] if len(args) > 6 else 0.5
    hidden = int(c2 * e)
    if nh < 1 or hidden % nh:
        raise ArchscopeError(f"{name} hidden channels {hidden} (c2={c2} x e={e}) must be divisible by nh={nh}")
    args[1], args[2] = hidden, nh
    return Resolved([c1, c2, *args[1:]], c2)


def _int(value, what, name) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ArchscopeError(f"{name}: {what} must be a positive integer, got {value!r}")
    return value


class MaxSigmoidAttnBlock(nn.Module):
    """Text-guided gate: sigmoid(max over texts of pixel . text / sqrt(hc) + bias) times a 3x3 projection."""

    def __init__(self, c1: int, c2: int, nh: int = 1, ec: int = 128, gc: int = 512, scale: bool = False):
        super().__init__()
        if nh < 1 or c2 % nh or ec % nh:
            raise ArchscopeError(f"MaxSigmoidAttnBlock: {nh} heads must divide c2={c2} and ec={ec}")
        self.nh, self.hc, self.gc = nh, c2 // nh, gc
        self.ec = Conv(c1, ec, 1, act=False) if c1 != ec else None
        self.gl = nn.Linear(gc, ec)
        self.bias = nn.Parameter(torch.empty(nh))
        self.proj_conv = Conv(c1, c2, 3, 1, act=False)
        self.scale = nn.Parameter(torch.empty(1, nh, 1, 1)) if scale else 1.0
        self.n_prompts = prompt_count()

    def init_real(self):
        with torch.no_grad():
            self.bias.zero_()
            if isinstance(self.scale, nn.Parameter):
                self.scale.fill_(1.0)

    def forward(self, x, guide=None):
        b, _, h, w = x.shape
        if guide is None:
            guide = prompt_embeddings(x, self.n_prompts, self.gc)
        g = self.gl(guide)  # [B, T, ec]
        g = g.view(b, g.shape[1], self.nh, -1).permute(0, 2, 3, 1)  # [B, nh, ec/nh, T]
        e = self.ec(x) if self.ec is not None else x
        e = e.view(b, self.nh, -1, h * w).transpose(2, 3)  # [B, nh, HW, ec/nh]
        weight = (e @ g).max(dim=-1)[0].view(b, self.nh, h, w)
        weight = (weight / math.sqrt(self.hc) + self.bias.view(1, -1, 1, 1)).sigmoid() * self.scale
        y = self.proj_conv(x).view(b, self.nh, -1, h, w)
        return (y * weight.unsqueeze(2)).view(b, -1, h, w)


@block(family="world", channels=CustomRule(_c2fattn_rule, "c1=in, c2=args[0]*width, ec=c2*e, nh*width"),
       repeat=INNER)
class C2fAttn(nn.Module):
    """C2f with a text-guided MaxSigmoidAttnBlock on its last stage, concatenated as one more stage."""

    def __init__(self, c1, c2, n=1, ec=128, nh=1, gc=512, shortcut=False, g=1, e=0.5):
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv((3 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut, g, k=((3, 3), (3, 3)), e=1.0) for _ in range(n))
        self.attn = MaxSigmoidAttnBlock(self.c, self.c, gc=gc, ec=ec, nh=nh)

    def forward(self, x, guide=None):
        y = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        y.append(self.attn(y[-1], guide))
        return self.cv2(torch.cat(y, 1))


# ------------------------------------------------------------------------------------------ ImagePoolingAttn


def _pooling_rule(ctx, name):
    """``[ec, ct, nh, k, scale]`` as written (ec is not width-scaled), the input channels inserted second; the
    output is the refined text embeddings, which no feature-map layer can take."""
    remember_prompt_count(ctx.nc)
    args = list(ctx.args) or [256]
    for c in ctx.c_in:
        if not isinstance(c, int):
            raise ArchscopeError(f"{name} inputs must be single feature maps, got a source with outputs {c}")
    return Resolved([args[0], list(ctx.c_in), *args[1:]], None)


@block(family="world", channels=CustomRule(_pooling_rule, "args[0]=ec as written, then [in channels]; "
                                                          "out: text embeddings"))
class ImagePoolingAttn(nn.Module):
    """Text embeddings attend to k x k max-pooled patches of every input map; returns the refined embeddings."""

    def __init__(self, ec: int = 256, ch=(), ct: int = 512, nh: int = 8, k: int = 3, scale: bool = False):
        super().__init__()
        ch = tuple(ch)
        if not ch:
            raise ArchscopeError("ImagePoolingAttn needs at least one input layer")
        if nh < 1 or ec % nh:
            raise ArchscopeError(f"ImagePoolingAttn: {nh} heads must divide ec={ec}")
        self.query = nn.Sequential(nn.LayerNorm(ct), nn.Linear(ct, ec))
        self.key = nn.Sequential(nn.LayerNorm(ec), nn.Linear(ec, ec))
        self.value = nn.Sequential(nn.LayerNorm(ec), nn.Linear(ec, ec))
        self.proj = nn.Linear(ec, ct)
        self.scale = nn.Parameter(torch.empty(1)) if scale else 1.0
        self.projections = nn.ModuleList(nn.Conv2d(c, ec, 1) for c in ch)
        self.im_pools = nn.ModuleList(nn.AdaptiveMaxPool2d((k, k)) for _ in ch)
        self.ec, self.ct, self.nh, self.nf, self.k = ec, ct, nh, len(ch), k
        self.hc = ec // nh
        self.n_prompts = prompt_count()

    def init_real(self):
        if isinstance(self.scale, nn.Parameter):
            with torch.no_grad():
                self.scale.zero_()

    def forward(self, x, text=None):
        feats = list(x) if isinstance(x, (list, tuple)) else [x]
        if len(feats) != self.nf:
            raise ArchscopeError(f"ImagePoolingAttn was built for {self.nf} inputs, got {len(feats)}")
        b = feats[0].shape[0]
        if text is None:
            text = prompt_embeddings(feats[0], self.n_prompts, self.ct)
        patches = torch.cat([pool(proj(f)).view(b, self.ec, -1)
                             for f, proj, pool in zip(feats, self.projections, self.im_pools)], -1).transpose(1, 2)
        q = self.query(text).reshape(b, -1, self.nh, self.hc)
        k = self.key(patches).reshape(b, -1, self.nh, self.hc)
        v = self.value(patches).reshape(b, -1, self.nh, self.hc)
        attn = F.softmax(torch.einsum("bnmc,bkmc->bmnk", q, k) / math.sqrt(self.hc), dim=-1)
        out = torch.einsum("bmnk,bkmc->bnmc", attn, v).reshape(b, -1, self.ec)
        return self.proj(out) * self.scale + text


# ---------------------------------------------------------------------------------------- contrastive heads


class ContrastiveHead(nn.Module):
    """Region-text similarity of L2-normalised embeddings: ``(w . x) * exp(logit_scale) + bias``."""

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.empty(1))
        self.logit_scale = nn.Parameter(torch.empty(()))

    def init_real(self):
        with torch.no_grad():
            self.bias.fill_(-10.0)
            self.logit_scale.fill_(math.log(1 / 0.07))

    def _normalise(self, x):
        return F.normalize(x, dim=1, p=2)

    def forward(self, x, w):
        x = self._normalise(x)
        w = F.normalize(w, dim=-1, p=2)
        b, _, h, wd = x.shape
        s = (w @ x.flatten(2)).view(b, w.shape[1], h, wd)
        return s * self.logit_scale.exp() + self.bias


class BNContrastiveHead(ContrastiveHead):
    """Contrastive head with the region embeddings batch-normalised instead of L2-normalised (YOLO-Worldv2, YOLOE)."""

    def __init__(self, embed_dims: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(embed_dims)

    def init_real(self):
        with torch.no_grad():
            self.bias.fill_(-10.0)
            self.logit_scale.fill_(-1.0)

    def _normalise(self, x):
        return self.norm(x)


# ---------------------------------------------------------------------------------------------- WorldDetect


class PromptScoredHead:
    """Mixin for Detect-family heads whose class scores are contrastive-head similarities with prompt embeddings
    (``cv3`` gives region embeddings, ``cv4`` the per-level contrastive heads; WorldDetect, YOLOEDetect).

    ``forward(x, text=None)``: ``x`` is the list of feature maps, optionally followed by the class prompt embeddings
    ``(B, N, embed)`` (as Ultralytics' YOLOE head takes them); without embeddings the constant
    :func:`prompt_embeddings` ``(B, nc, embed)`` is used.
    """

    n_prompts: int
    embed: int
    cv4: nn.ModuleList
    reg_max: int
    nl: int
    training: bool

    def _split_inputs(self, x, text):
        feats = list(x) if isinstance(x, (list, tuple)) else [x]
        if text is None and len(feats) == self.nl + 1 and feats[-1].dim() == 3:
            text = feats.pop()
        if text is None:
            text = prompt_embeddings(feats[0], self.n_prompts, self.embed)
        return feats, text

    def _raw(self, feats, box_head, cls_head, extra_head, text=None, contrast=None):
        """``contrast``: the contrastive heads scoring ``cls_head``'s embeddings (default ``cv4``)."""
        b = feats[0].shape[0]
        if text is None:
            text = prompt_embeddings(feats[0], self.n_prompts, self.embed)
        if contrast is None:
            contrast = self.cv4
        raw = {
            "boxes": torch.cat([box_head[i](f).view(b, 4 * self.reg_max, -1) for i, f in enumerate(feats)], 2),
            "scores": torch.cat([contrast[i](cls_head[i](f), text).view(b, text.shape[1], -1)
                                 for i, f in enumerate(feats)], 2),
        }
        if extra_head is not None:
            raw["extra"] = torch.cat([extra_head[i](f).view(b, -1, f.shape[-2] * f.shape[-1])
                                      for i, f in enumerate(feats)], 2)
        return raw

    def forward(self, x, text=None):
        feats, text = self._split_inputs(x, text)
        raw = self._raw(feats, self.cv2, self.cv3, self._extra_heads("one2many"), text)
        if self.training:
            return {**raw, "feats": feats}
        return self._decode(feats, raw)


def _world_head_args(ctx):
    remember_prompt_count(ctx.nc)
    return [ctx.nc, TEXT_DIM, False]


@block(family="head", channels=_HeadArgs(_world_head_args))
class WorldDetect(PromptScoredHead, Detect):
    """Detect whose class branch ends in ``embed``-channel region embeddings scored against text embeddings."""

    def __init__(self, nc: int = 80, embed: int = TEXT_DIM, with_bn: bool = False, ch=()):
        super().__init__(nc, ch)
        ch = tuple(ch)
        self.embed = _int(embed, "embed (embedding width)", "WorldDetect")
        c3 = max(ch[0], min(self.nc, 100))
        self.cv3 = nn.ModuleList(_tower(c, c3, self.embed) for c in ch)
        self.cv4 = nn.ModuleList(BNContrastiveHead(self.embed) if with_bn else ContrastiveHead() for _ in ch)
        self.n_prompts = self.nc

    def init_real(self):
        """Ultralytics' priors for World: box logits 1.0; class scores come from the contrastive heads' own."""
        if hasattr(self.dfl, "init_real"):
            self.dfl.init_real()
        with torch.no_grad():
            for box in self.cv2:
                box[-1].bias.fill_(1.0)


__all__ = ["BNContrastiveHead", "C2fAttn", "ContrastiveHead", "ImagePoolingAttn", "MaxSigmoidAttnBlock",
           "PromptScoredHead", "WorldDetect", "prompt_embeddings"]

"""YOLOE heads (Wang et al. 2025, "YOLOE: Real-Time Seeing Anything"), from their published definitions (as
Ultralytics 8.4 builds them for ``yoloe-v8*.yaml`` and ``yoloe-11*.yaml``).

* ``YOLOEDetect``: the Detect head whose class branch (legacy or YOLO11-light, like Detect's) ends in an
  ``embed``-channel region embedding, scored against the class prompt embeddings by a ``BNContrastiveHead`` per
  level. It also carries the two prompt encoders of the paper, which run only when a prompt is encoded:
  ``reprta`` (RepRTA, "re-parameterizable region-text alignment": a residual SwiGLU feed-forward network that
  refines text embeddings) and ``savpe`` (SAVPE, "semantic-activated visual prompt encoder": turns visual-prompt
  masks into embeddings from the three input maps).
* ``YOLOESegment``: YOLOEDetect + mask coefficients (``cv5``) and YOLACT-style prototypes (``Proto``).
* ``YOLOESegment26``: YOLOESegment with YOLO26's prototypes from every level (``Proto26``).
* ``LRPCHead`` (LRPC, "lazy region-prompt contrast"): the prompt-free head that scores only the anchors a proposal
  filter keeps against a built-in vocabulary. Its constructor takes modules (a fused vocabulary), so it is not a
  YAML block.

**The prompt input** is the constant of :func:`archscope.blocks.world.prompt_embeddings`: zeros ``(batch, nc,
embed)`` (``embed`` from the YAML row, 512 in the official configs), already-encoded class embeddings, as in
Ultralytics' default forward (which uses zeros ``(1, 80, 512)`` until ``set_classes``). So, as in Ultralytics'
GFLOPs, the contrastive scoring is counted at full size, while ``reprta`` and ``savpe`` (run once per prompt set,
not per image) are counted in the parameters but not in the FLOPs.

**End-to-end (yoloe-26):** with the YAML's top-level ``end2end: true`` (``reg_max`` from the YAML too, as for
Detect) the heads get one-to-one twins of every branch, as Ultralytics 8.4 builds them: Detect's ``one2one_cv2``,
then ``one2one_cv3`` (a copy of the *embedding* branch, replacing Detect's class-branch copy) and ``one2one_cv4``
(the contrastive heads), and for the segment heads ``one2one_cv5``. Both branches run in every forward (the
one-to-one one on detached inputs in training); eval mode decodes the one-to-one branch. ``drop_training_branches()``
(Detect's) keeps only the one-to-one twins under the plain names. ``reprta``, ``savpe`` and the prototypes are
shared. ``YOLOESegment26`` is YOLOESegment with YOLO26's multi-level ``Proto26`` (whose auxiliary semantic branch
never runs in this head, as in the reference, and is dropped by ``drop_training_branches()``).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from archscope.blocks.common import Conv
from archscope.blocks.heads import Detect, Proto, Proto26, _HeadArgs, _light_cls, _tower
from archscope.blocks.world import TEXT_DIM, BNContrastiveHead, PromptScoredHead, remember_prompt_count
from archscope.build.registry import block
from archscope.errors import ArchscopeError
from archscope.util.text import positive_int


class SwiGLUFFN(nn.Module):
    """SwiGLU feed-forward network (Shazeer 2020): ``w3(silu(a) * b)`` with ``[a, b] = w12(x)``."""

    def __init__(self, gc: int, ec: int, e: int = 4):
        super().__init__()
        self.w12 = nn.Linear(gc, e * ec)
        self.w3 = nn.Linear(e * ec // 2, ec)

    def forward(self, x):
        a, b = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(a) * b)


class Residual(nn.Module):
    """``x + m(x)``; the wrapped SwiGLU's output layer starts at zero (an identity at initialisation)."""

    def __init__(self, m: nn.Module):
        super().__init__()
        self.m = m

    def init_real(self):
        with torch.no_grad():
            self.m.w3.weight.zero_()
            self.m.w3.bias.zero_()

    def forward(self, x):
        return x + self.m(x)


class SAVPE(nn.Module):
    """Visual-prompt encoder: per-prompt softmax-pooled embeddings from three feature levels and prompt masks.

    A semantic branch (two 3x3 Convs per level, upsampled to the finest level, then a 1x1 Conv2d to ``embed``) and
    an activation branch (a 1x1 Conv per level, upsampled, a 3x3 Conv2d to 16 channels, fused with the prompt mask
    by two 3x3 layers) give per-pixel weights for 16 groups of the embedding; inside each prompt's mask they are
    softmax-normalised and pool the semantic features. Output: L2-normalised ``(B, prompts, embed)``.
    """

    def __init__(self, ch, c3: int, embed: int):
        super().__init__()
        ch = tuple(ch)
        if len(ch) != 3:
            raise ArchscopeError(f"SAVPE needs three input levels, got {len(ch)}")
        self.c = 16
        if embed % self.c:
            raise ArchscopeError(f"SAVPE: embed {embed} must be divisible by {self.c}")

        def up(i):
            return nn.Upsample(scale_factor=i * 2) if i in (1, 2) else nn.Identity()

        self.cv1 = nn.ModuleList(nn.Sequential(Conv(c, c3, 3), Conv(c3, c3, 3), up(i)) for i, c in enumerate(ch))
        self.cv2 = nn.ModuleList(nn.Sequential(Conv(c, c3, 1), up(i)) for i, c in enumerate(ch))
        self.cv3 = nn.Conv2d(3 * c3, embed, 1)
        self.cv4 = nn.Conv2d(3 * c3, self.c, 3, padding=1)
        self.cv5 = nn.Conv2d(1, self.c, 3, padding=1)
        self.cv6 = nn.Sequential(Conv(2 * self.c, self.c, 3), nn.Conv2d(self.c, self.c, 3, padding=1))

    def forward(self, x, vp):
        """``x``: the three maps; ``vp``: prompt masks ``(B, Q, H, W)`` at the finest map's size."""
        act = self.cv4(torch.cat([m(f) for m, f in zip(self.cv2, x)], 1))
        sem = self.cv3(torch.cat([m(f) for m, f in zip(self.cv1, x)], 1))
        b, c, h, w = sem.shape
        q = vp.shape[1]
        act = act.unsqueeze(1).expand(-1, q, -1, -1, -1).reshape(b * q, self.c, h, w)
        masks = vp.reshape(b * q, 1, h, w)
        weight = self.cv6(torch.cat((act, self.cv5(masks)), 1)).reshape(b, q, self.c, h * w)
        masks = masks.reshape(b, q, 1, h * w)
        score = weight * masks + torch.logical_not(masks) * torch.finfo(weight.dtype).min
        score = F.softmax(score, dim=-1).to(weight.dtype)  # [B, Q, 16, HW]
        groups = sem.view(b, self.c, c // self.c, h * w).transpose(-1, -2)  # [B, 16, HW, C/16]
        pooled = score.transpose(1, 2) @ groups  # [B, 16, Q, C/16]
        return F.normalize(pooled.transpose(1, 2).reshape(b, q, c), dim=-1, p=2)


class LRPCHead(nn.Module):
    """Prompt-free scoring: a proposal filter ``pf`` keeps anchors above ``conf``; only those are scored by the
    vocabulary (a 1x1 conv turned into a Linear); ``loc`` gives the box outputs for every anchor.

    ``forward(cls_feat, loc_feat, conf)`` returns ``(box outputs, scores (B, vocabulary, kept), kept mask)``;
    with ``conf == 0`` every anchor is scored and the mask is ``None``; with ``enabled=False`` the vocabulary runs
    as a convolution on every anchor.
    """

    def __init__(self, vocab: nn.Module, pf: nn.Module, loc: nn.Module, enabled: bool = True):
        super().__init__()
        self.vocab = self.conv2linear(vocab) if enabled else vocab
        self.pf = pf
        self.loc = loc
        self.enabled = enabled

    @staticmethod
    def conv2linear(conv: nn.Module) -> nn.Linear:
        if not isinstance(conv, nn.Conv2d) or conv.kernel_size != (1, 1) or conv.groups != 1:
            raise ArchscopeError("LRPCHead: the vocabulary must be an ungrouped 1x1 nn.Conv2d")
        w = conv.weight
        linear = nn.Linear(conv.in_channels, conv.out_channels, bias=conv.bias is not None,
                           device=w.device, dtype=w.dtype)
        with torch.no_grad():
            linear.weight.copy_(w.view(conv.out_channels, -1))
            if conv.bias is not None:
                linear.bias.copy_(conv.bias)
        return linear.requires_grad_(w.requires_grad)

    def forward(self, cls_feat, loc_feat, conf: float):
        if not self.enabled:
            scores = self.vocab(cls_feat)
            keep = scores.new_ones(scores.shape[2] * scores.shape[3], dtype=torch.bool)
            return self.loc(loc_feat), scores.flatten(2), keep
        tokens = cls_feat.flatten(2).transpose(-1, -2)  # [B, HW, C]
        if not conf:
            return self.loc(loc_feat), self.vocab(tokens).transpose(-1, -2), None
        keep = self.pf(cls_feat)[:, 0].flatten(1).sigmoid() > conf  # [B, HW]
        mask = keep.any(0)
        scores = self.vocab(tokens[:, mask]).masked_fill(~keep[:, mask, None], float("-inf"))
        return self.loc(loc_feat), scores.transpose(-1, -2), mask


# ---------------------------------------------------------------------------------------------------- heads


def _yoloe_detect_args(ctx):
    remember_prompt_count(ctx.nc)
    return [ctx.nc, TEXT_DIM, True]


def _yoloe_segment_args(ctx):
    remember_prompt_count(ctx.nc)
    return [ctx.nc, 32, 256, TEXT_DIM, True]


@block(family="head", channels=_HeadArgs(_yoloe_detect_args))
class YOLOEDetect(PromptScoredHead, Detect):
    """Detect whose class branch gives region embeddings scored against class prompt embeddings (BN contrastive),
    plus the text (``reprta``) and visual (``savpe``) prompt encoders."""

    def __init__(self, nc: int = 80, embed: int = TEXT_DIM, with_bn: bool = True, ch=()):
        super().__init__(nc, ch)
        name = type(self).__name__
        ch = tuple(ch)
        self.embed = positive_int(embed, f"{name}: embed (embedding width)")
        c3 = max(ch[0], min(self.nc, 100))
        if c3 > self.embed:
            raise ArchscopeError(f"{name}: class-branch width {c3} (max of the first input's channels and "
                                 f"min(nc, 100)) must not exceed embed {self.embed}")
        if with_bn is not True:
            raise ArchscopeError(f"{name} supports only with_bn=True (the batch-norm contrastive head)")
        if self.legacy:
            self.cv3 = nn.ModuleList(_tower(c, c3, self.embed) for c in ch)
        else:
            self.cv3 = nn.ModuleList(_light_cls(c, c3, self.embed) for c in ch)
        self.cv4 = nn.ModuleList(BNContrastiveHead(self.embed) for _ in ch)
        if self.end2end:  # Detect's one2one_cv3 was a copy of its class branch: replaced by the embedding branch
            self.one2one_cv3 = copy.deepcopy(self.cv3)
            self.one2one_cv4 = copy.deepcopy(self.cv4)
        self.reprta = Residual(SwiGLUFFN(self.embed, self.embed))
        self.savpe = SAVPE(ch, c3, self.embed)
        self.n_prompts = self.nc

    def _contrast(self, branch: str):
        return self.one2one_cv4 if branch == "one2one" else self.cv4

    def _branch_raw(self, feats, branch: str, text):
        box_head, cls_head, extra_head = self._branch(branch)
        return self._raw(feats, box_head, cls_head, extra_head, text, self._contrast(branch))

    def forward(self, x, text=None):
        """As Detect's: with ``end2end`` both branches run and eval mode decodes the one-to-one one."""
        feats, text = self._split_inputs(x, text)
        one2many = self._branch_raw(feats, "one2many", text)
        if not self.end2end:
            return {**one2many, "feats": feats} if self.training else self._decode(feats, one2many)
        if self.training:  # the one-to-one branch stays out of the backbone (and the prompt encoder)
            o2o_feats, o2o_text = [f.detach() for f in feats], text.detach()
        else:
            o2o_feats, o2o_text = feats, text
        one2one = self._branch_raw(o2o_feats, "one2one", o2o_text)
        if self.training:
            return {"one2many": {**one2many, "feats": feats}, "one2one": {**one2one, "feats": o2o_feats}}
        return self._decode(feats, one2one)

    def text_prompt_embeddings(self, tpe):
        """Encoded text embeddings ``(B, N, embed)`` -> the class embeddings the head scores (RepRTA, L2-normed)."""
        return F.normalize(self.reprta(tpe), dim=-1, p=2)

    def visual_prompt_embeddings(self, feats, masks):
        """Visual-prompt masks ``(B, Q, H, W)`` at the finest map's size -> class embeddings ``(B, Q, embed)``."""
        return self.savpe(list(feats), masks)

    def init_real(self):
        """Ultralytics' priors: box logits 2.0, region-embedding biases 0, contrastive bias for ~5 objects."""
        import math

        if hasattr(self.dfl, "init_real"):
            self.dfl.init_real()
        branches = ["one2many", "one2one"] if self.end2end else ["one2many"]
        with torch.no_grad():
            for branch in branches:
                box_head, cls_head, _ = self._branch(branch)
                for box, cls, contrast, s in zip(box_head, cls_head, self._contrast(branch), self.stride):
                    box[-1].bias.fill_(2.0)
                    cls[-1].bias.zero_()
                    contrast.bias.fill_(math.log(5 / self.nc / (640 / s) ** 2))


@block(family="head", channels=_HeadArgs(_yoloe_segment_args, scaled_arg=2))
class YOLOESegment(YOLOEDetect):
    """YOLOEDetect + mask coefficients per anchor (``cv5``) + mask prototypes at stride 4 (``proto``)."""

    def __init__(self, nc: int = 80, nm: int = 32, npr: int = 256, embed: int = TEXT_DIM, with_bn: bool = True,
                 ch=()):
        super().__init__(nc, embed, with_bn, ch)
        ch = tuple(ch)
        self.nm = positive_int(nm, "YOLOESegment: nm (number of masks)")
        self.npr = positive_int(npr, "YOLOESegment: npr (number of prototype channels)")
        self.proto = self._make_proto(ch)
        c5 = max(ch[0] // 4, self.nm)
        self.cv5 = nn.ModuleList(_tower(c, c5, self.nm) for c in ch)
        if self.end2end:
            self.one2one_cv5 = copy.deepcopy(self.cv5)

    def _make_proto(self, ch) -> nn.Module:
        return Proto(ch[0], self.npr, self.nm)

    def _proto(self, feats):
        return self.proto(feats[0])

    def _extra_heads(self, branch):
        return self.one2one_cv5 if branch == "one2one" else self.cv5

    def _decode_extra(self, raw, anchors, strides):
        return [raw["extra"]]

    def forward(self, x, text=None):
        feats, text = self._split_inputs(x, text)
        out = super().forward(feats, text)
        proto = self._proto(feats)
        if self.training:
            return {**out, "proto": proto}
        return out, proto


@block(family="head", channels=_HeadArgs(_yoloe_segment_args, scaled_arg=2))
class YOLOESegment26(YOLOESegment):
    """YOLOESegment with YOLO26's prototypes from every input level (``Proto26``, its semantic branch not run)."""

    def _make_proto(self, ch) -> nn.Module:
        return Proto26(tuple(ch), self.npr, self.nm, self.nc)

    def _proto(self, feats):
        return self.proto(feats, semantic=False)

    def drop_training_branches(self) -> bool:
        """Detect's branch pruning, and the prototypes' training-only semantic branch dropped."""
        dropped = super().drop_training_branches()
        proto = self.proto
        if isinstance(proto, Proto26) and proto.semseg is not None:
            proto.semseg = None
            dropped = True
        return dropped


__all__ = ["LRPCHead", "Residual", "SAVPE", "SwiGLUFFN", "YOLOEDetect", "YOLOESegment", "YOLOESegment26"]

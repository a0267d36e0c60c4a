"""RT-DETR blocks (Zhao et al., "DETRs Beat YOLOs on Real-time Object Detection", 2023), from the published design.

* ``HGStem`` / ``HGBlock``: the PP-HGNet backbone (Baidu). The stem is a stride-2 conv followed by a two-branch
  stage (max-pool branch and a 2x2-conv branch, concatenated) and two more convs; an HGBlock chains ``n`` convs
  (plain, or "light": 1x1 then depthwise k x k), concatenates the input and every intermediate map, and squeezes
  the result to ``c2 / 2`` then excites it to ``c2`` with two 1x1 convs (optional residual).
* ``AIFI``: attention-based intra-scale feature interaction, a post-norm transformer encoder layer run on the
  flattened stride-32 map with a fixed 2D sine-cosine position embedding.
* ``RTDETRDecoder``: input projections, query selection from the encoder memory (top-k by class score), then a
  deformable-attention transformer decoder (Deformable DETR, Zhu et al. 2021) with iterative box refinement.
  Denoising training queries are not built here (archscope analyses inference), but the denoising class
  embedding is, so the parameter count matches the reference implementation.

``RepC3`` and ``ResNetLayer``, also used by the RT-DETR configs, live in their own families.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from archscope.blocks.common import Conv, DWConv
from archscope.build.registry import CustomRule, RepeatRule, Resolved, SameAsInput, _channel_arg, block
from archscope.errors import ArchscopeError

# ------------------------------------------------------------------------------------------ channel rules


def _hg_rule(ctx, name):
    """HGStem/HGBlock: args = [cm, c2, ...] taken as written; c1 = the input; out = c2."""
    if len(ctx.args) < 2:
        raise ArchscopeError(f"{name} needs [mid_channels, out_channels, ...]")
    cm = _channel_arg(ctx.args[0], name)
    c2 = _channel_arg(ctx.args[1], name)
    c1 = ctx.single_input(name)
    return Resolved([c1, cm, c2, *ctx.args[2:]], c2)


_HG_RULE = CustomRule(_hg_rule, "c1=in, [cm, c2, ...] as written, out = c2")


def _decoder_rule(ctx, name):
    """RTDETRDecoder: the list of input channels goes in as the second argument (after nc)."""
    args = list(ctx.args) or [ctx.nc]
    for c in ctx.c_in:
        if not isinstance(c, int):
            raise ArchscopeError(f"{name} inputs must be single feature maps, got channels {ctx.c_in}")
    return Resolved([args[0], list(ctx.c_in), *args[1:]], None)


# ----------------------------------------------------------------------------------------------- backbone


@block(family="rtdetr", channels=_HG_RULE)
class HGStem(nn.Module):
    """PP-HGNetV2 stem (stride 4): Conv s2, then max-pool || (2x2 Conv, 2x2 Conv), concat, Conv s2, 1x1 Conv."""

    def __init__(self, c1: int, cm: int, c2: int):
        super().__init__()
        self.stem1 = Conv(c1, cm, 3, 2, act=nn.ReLU())
        self.stem2a = Conv(cm, cm // 2, 2, 1, 0, act=nn.ReLU())
        self.stem2b = Conv(cm // 2, cm, 2, 1, 0, act=nn.ReLU())
        self.stem3 = Conv(cm * 2, cm, 3, 2, act=nn.ReLU())
        self.stem4 = Conv(cm, c2, 1, 1, act=nn.ReLU())
        self.pool = nn.MaxPool2d(kernel_size=2, stride=1, padding=0, ceil_mode=True)

    def forward(self, x):
        x = F.pad(self.stem1(x), [0, 1, 0, 1])  # pad right/bottom so the 2x2 kernels keep the size
        branch = self.stem2b(F.pad(self.stem2a(x), [0, 1, 0, 1]))
        x = torch.cat([self.pool(x), branch], 1)
        return self.stem4(self.stem3(x))


class LightConv(nn.Module):
    """1x1 Conv (no activation) then a depthwise k x k Conv (activation: a ReLU of its own unless one is given)."""

    def __init__(self, c1: int, c2: int, k: int = 1, act=None):
        super().__init__()
        act = nn.ReLU() if act is None else act
        self.conv1 = Conv(c1, c2, 1, act=False)
        self.conv2 = DWConv(c2, c2, k, act=act)

    def forward(self, x):
        return self.conv2(self.conv1(x))


@block(family="rtdetr", channels=_HG_RULE, repeat=RepeatRule("inner", 4))
class HGBlock(nn.Module):
    """PP-HGNet block: n chained convs, concat of the input and every output, squeeze (c2/2) and excite (c2) 1x1s.

    One ReLU per block, shared by its convs, unless ``act`` is given (as Ultralytics 8.4 builds it: the instance
    matters for its deduplicated module count).
    """

    def __init__(self, c1: int, cm: int, c2: int, k: int = 3, n: int = 6, lightconv: bool = False,
                 shortcut: bool = False, act=None):
        super().__init__()
        act = nn.ReLU() if act is None else act
        unit = LightConv if lightconv else Conv
        self.m = nn.ModuleList(unit(c1 if i == 0 else cm, cm, k=k, act=act) for i in range(n))
        self.sc = Conv(c1 + n * cm, c2 // 2, 1, 1, act=act)
        self.ec = Conv(c2 // 2, c2, 1, 1, act=act)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        maps = [x]
        for m in self.m:
            maps.append(m(maps[-1]))
        y = self.ec(self.sc(torch.cat(maps, 1)))
        return y + x if self.add else y


# ------------------------------------------------------------------------------------------------- AIFI


def sincos_2d(h: int, w: int, dim: int, like: torch.Tensor, temperature: float = 10000.0) -> torch.Tensor:
    """Fixed 2D sine-cosine position embedding ``[1, h * w, dim]`` for row-major tokens: [sin y, cos y, sin x, cos x].

    Built on ``like``'s device from sizes only (works on meta), in float32.
    """
    if dim % 4:
        raise ArchscopeError(f"AIFI: channels ({dim}) must be divisible by 4 for the 2D sine-cosine embedding")
    quarter = dim // 4
    kw: dict[str, Any] = dict(device=like.device, dtype=torch.float32)
    ys, xs = torch.meshgrid(torch.arange(h, **kw), torch.arange(w, **kw), indexing="ij")
    freq = 1.0 / temperature ** (torch.arange(quarter, **kw) / quarter)
    ang_y = ys.reshape(-1, 1) @ freq.view(1, -1)  # [h*w, quarter]
    ang_x = xs.reshape(-1, 1) @ freq.view(1, -1)
    return torch.cat([ang_y.sin(), ang_y.cos(), ang_x.sin(), ang_x.cos()], 1)[None]


@block(family="rtdetr", channels=SameAsInput(prepend_input=True))
class AIFI(nn.Module):
    """Transformer encoder layer (post-norm, GELU FFN) over the flattened map, with 2D sin-cos positions on q and k."""

    def __init__(self, c1: int, cm: int = 2048, num_heads: int = 8, dropout: float = 0.0, act=None,
                 normalize_before: bool = False):
        super().__init__()
        if c1 % num_heads:
            raise ArchscopeError(f"AIFI: channels ({c1}) must be divisible by num_heads ({num_heads})")
        self.ma = nn.MultiheadAttention(c1, num_heads, dropout=dropout, batch_first=True)
        self.fc1 = nn.Linear(c1, cm)
        self.fc2 = nn.Linear(cm, c1)
        self.norm1 = nn.LayerNorm(c1)
        self.norm2 = nn.LayerNorm(c1)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.act = nn.GELU() if act is None else act
        self.normalize_before = normalize_before

    def init_real(self):
        """nn.MultiheadAttention has no public reset_parameters: initialise it here (Xavier, zero biases)."""
        self.ma._reset_parameters()

    def _ffn(self, x):
        return self.fc2(self.dropout(self.act(self.fc1(x))))

    def forward(self, x):
        b, c, h, w = x.shape
        pos = sincos_2d(h, w, c, x).to(x.dtype)
        src = x.flatten(2).permute(0, 2, 1)  # [B, h*w, c]
        if self.normalize_before:
            t = self.norm1(src)
            src = src + self.dropout1(self.ma(t + pos, t + pos, value=t)[0])
            src = src + self.dropout2(self._ffn(self.norm2(src)))
        else:
            q = src + pos
            src = self.norm1(src + self.dropout1(self.ma(q, q, value=src)[0]))
            src = self.norm2(src + self.dropout2(self._ffn(src)))
        return src.permute(0, 2, 1).reshape(b, c, h, w).contiguous()


# ---------------------------------------------------------------------------------------------- decoder


class MLP(nn.Module):
    """``num_layers`` Linear layers with an activation between them (none after the last)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int, act=nn.ReLU):
        super().__init__()
        self.num_layers = num_layers
        dims = [hidden_dim] * (num_layers - 1)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip([input_dim, *dims], [*dims, output_dim]))
        self.act = act()
        self.out_norm = nn.Identity()

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < self.num_layers - 1:
                x = self.act(x)
        return self.out_norm(x)


def _deformable_sample(value, shapes, locations, weights):
    """Multi-scale deformable attention core: bilinear samples at ``locations`` (in [0, 1]), weighted and summed.

    value ``[B, S, heads, d]``; locations ``[B, Q, heads, levels, points, 2]``; weights ``[B, Q, heads, levels,
    points]`` -> ``[B, Q, heads * d]``.
    """
    b, _, heads, d = value.shape
    _, q, _, levels, points, _ = locations.shape
    per_level = value.split([h * w for h, w in shapes], dim=1)
    grids = 2 * locations - 1  # grid_sample wants [-1, 1]
    sampled = []
    for lvl, (h, w) in enumerate(shapes):
        v = per_level[lvl].flatten(2).transpose(1, 2).reshape(b * heads, d, h, w)
        g = grids[:, :, :, lvl].transpose(1, 2).flatten(0, 1)  # [B*heads, Q, points, 2]
        sampled.append(F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False))
    weights = weights.transpose(1, 2).reshape(b * heads, 1, q, levels * points)
    out = (torch.stack(sampled, dim=-2).flatten(-2) * weights).sum(-1).view(b, heads * d, q)
    return out.transpose(1, 2).contiguous()


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention: each query samples ``n_points`` per head and level around its reference box."""

    def __init__(self, d_model: int = 256, n_levels: int = 4, n_heads: int = 8, n_points: int = 4):
        super().__init__()
        if d_model % n_heads:
            raise ArchscopeError(f"RTDETRDecoder: hidden dim {d_model} must be divisible by heads {n_heads}")
        self.d_model, self.n_levels, self.n_heads, self.n_points = d_model, n_levels, n_heads, n_points
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)

    def init_real(self):
        """Deformable DETR's initialisation: offsets start on a ring of directions, one radius step per point."""
        with torch.no_grad():
            nn.init.zeros_(self.sampling_offsets.weight)
            dev = self.sampling_offsets.bias.device
            theta = torch.arange(self.n_heads, dtype=torch.float32, device=dev) * (2.0 * math.pi / self.n_heads)
            grid = torch.stack([theta.cos(), theta.sin()], -1)
            grid = (grid / grid.abs().max(-1, keepdim=True)[0]).view(self.n_heads, 1, 1, 2)
            grid = grid.repeat(1, self.n_levels, self.n_points, 1)
            grid = grid * torch.arange(1, self.n_points + 1, dtype=torch.float32, device=dev).view(1, 1, -1, 1)
            self.sampling_offsets.bias.copy_(grid.flatten())
            nn.init.zeros_(self.attention_weights.weight)
            nn.init.zeros_(self.attention_weights.bias)
            for lin in (self.value_proj, self.output_proj):
                nn.init.xavier_uniform_(lin.weight)
                nn.init.zeros_(lin.bias)

    def forward(self, query, ref_boxes, value, shapes):
        """query ``[B, Q, C]``; ref_boxes ``[B, Q, 1, 4]`` (cx, cy, w, h in [0, 1]); value ``[B, S, C]``."""
        b, q = query.shape[:2]
        v = self.value_proj(value).view(b, value.shape[1], self.n_heads, self.d_model // self.n_heads)
        offsets = self.sampling_offsets(query).view(b, q, self.n_heads, self.n_levels, self.n_points, 2)
        weights = self.attention_weights(query).view(b, q, self.n_heads, self.n_levels * self.n_points)
        weights = weights.softmax(-1).view(b, q, self.n_heads, self.n_levels, self.n_points)
        # Offsets are scaled by half the reference box size (per point count), centred on the box centre.
        centre = ref_boxes[:, :, None, :, None, :2]
        half = ref_boxes[:, :, None, :, None, 2:] * 0.5
        locations = centre + offsets / self.n_points * half
        return self.output_proj(_deformable_sample(v, shapes, locations, weights))


class DeformableTransformerDecoderLayer(nn.Module):
    """Self-attention over queries, deformable cross-attention into the multi-scale memory, then an FFN (post-norm)."""

    def __init__(self, d_model=256, n_heads=8, d_ffn=1024, dropout=0.0, act=nn.ReLU(), n_levels=4, n_points=4):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, n_heads, dropout=dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.cross_attn = MSDeformAttn(d_model, n_levels, n_heads, n_points)
        self.dropout2 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.act = act
        self.dropout3 = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.dropout4 = nn.Dropout(dropout)
        self.norm3 = nn.LayerNorm(d_model)

    def init_real(self):
        """nn.MultiheadAttention has no public reset_parameters: initialise it here (Xavier, zero biases)."""
        self.self_attn._reset_parameters()

    def forward(self, embed, ref_boxes, memory, shapes, query_pos):
        q = (embed + query_pos).transpose(0, 1)  # sequence-first attention
        attended = self.self_attn(q, q, embed.transpose(0, 1))[0].transpose(0, 1)
        embed = self.norm1(embed + self.dropout1(attended))
        cross = self.cross_attn(embed + query_pos, ref_boxes.unsqueeze(2), memory, shapes)
        embed = self.norm2(embed + self.dropout2(cross))
        ffn = self.linear2(self.dropout3(self.act(self.linear1(embed))))
        return self.norm3(embed + self.dropout4(ffn))


class DeformableTransformerDecoder(nn.Module):
    """``num_layers`` identical decoder layers with iterative box refinement; inference reads layer ``eval_idx``."""

    def __init__(self, hidden_dim: int, decoder_layer: nn.Module, num_layers: int, eval_idx: int = -1):
        super().__init__()
        self.layers = nn.ModuleList(copy.deepcopy(decoder_layer) for _ in range(num_layers))
        self.num_layers = num_layers
        self.hidden_dim = hidden_dim
        self.eval_idx = eval_idx if eval_idx >= 0 else num_layers + eval_idx

    def forward(self, embed, ref_logits, memory, shapes, bbox_head, score_head, pos_mlp):
        boxes, scores = [], []
        ref = ref_logits.sigmoid()
        for i, layer in enumerate(self.layers):
            embed = layer(embed, ref, memory, shapes, pos_mlp(ref))
            refined = torch.sigmoid(bbox_head[i](embed) + _inverse_sigmoid(ref))
            if self.training:
                scores.append(score_head[i](embed))
                boxes.append(refined)
                ref = refined.detach()
            else:
                if i == self.eval_idx:
                    scores.append(score_head[i](embed))
                    boxes.append(refined)
                    break
                ref = refined
        return torch.stack(boxes), torch.stack(scores)


def _inverse_sigmoid(x, eps: float = 1e-5):
    x = x.clamp(0, 1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


@block(family="rtdetr", channels=CustomRule(_decoder_rule, "args = [nc, [in channels], ...]"))
class RTDETRDecoder(nn.Module):
    """RT-DETR decoder head: eval output ``[B, nq, 6]`` = top-``nq`` (box cx, cy, w, h in [0, 1], score, class)."""

    def __init__(self, nc: int = 80, ch=(512, 1024, 2048), hd: int = 256, nq: int = 300, ndp: int = 4, nh: int = 8,
                 ndl: int = 6, d_ffn: int = 1024, dropout: float = 0.0, act=None, eval_idx: int = -1,
                 nd: int = 100, label_noise_ratio: float = 0.5, box_noise_scale: float = 1.0,
                 learnt_init_query: bool = False):
        super().__init__()
        ch = tuple(ch)
        if not ch:
            raise ArchscopeError("RTDETRDecoder needs at least one input layer")
        if isinstance(nc, bool) or not isinstance(nc, int) or nc < 1:
            raise ArchscopeError(f"RTDETRDecoder: nc must be a positive integer, got {nc!r}")
        act = nn.ReLU() if act is None else act
        self.hidden_dim = hd
        self.nhead = nh
        self.nl = len(ch)
        self.nc = nc
        self.num_queries = nq
        self.num_decoder_layers = ndl
        self.input_proj = nn.ModuleList(nn.Sequential(nn.Conv2d(c, hd, 1, bias=False), nn.BatchNorm2d(hd)) for c in ch)
        layer = DeformableTransformerDecoderLayer(hd, nh, d_ffn, dropout, act, self.nl, ndp)
        self.decoder = DeformableTransformerDecoder(hd, layer, ndl, eval_idx)
        self.denoising_class_embed = nn.Embedding(nc, hd)  # used only by denoising training (not built here)
        self.num_denoising = nd
        self.label_noise_ratio = label_noise_ratio
        self.box_noise_scale = box_noise_scale
        self.learnt_init_query = learnt_init_query
        if learnt_init_query:
            self.tgt_embed = nn.Embedding(nq, hd)
        self.query_pos_head = MLP(4, 2 * hd, hd, num_layers=2)
        self.enc_output = nn.Sequential(nn.Linear(hd, hd), nn.LayerNorm(hd))
        self.enc_score_head = nn.Linear(hd, nc)
        self.enc_bbox_head = MLP(hd, hd, 4, num_layers=3)
        self.dec_score_head = nn.ModuleList(nn.Linear(hd, nc) for _ in range(ndl))
        self.dec_bbox_head = nn.ModuleList(MLP(hd, hd, 4, num_layers=3) for _ in range(ndl))

    def init_real(self):
        """RT-DETR's priors: class bias for a 1% prior probability, zeroed last box layers, Xavier projections."""
        with torch.no_grad():
            bias_cls = -math.log((1 - 0.01) / 0.01) / 80 * self.nc
            heads = [(self.enc_score_head, self.enc_bbox_head)] + list(zip(self.dec_score_head, self.dec_bbox_head))
            for cls, reg in heads:
                nn.init.constant_(cls.bias, bias_cls)
                nn.init.zeros_(reg.layers[-1].weight)
                nn.init.zeros_(reg.layers[-1].bias)
            nn.init.xavier_uniform_(self.enc_output[0].weight)
            if self.learnt_init_query:
                nn.init.xavier_uniform_(self.tgt_embed.weight)
            nn.init.xavier_uniform_(self.query_pos_head.layers[0].weight)
            nn.init.xavier_uniform_(self.query_pos_head.layers[1].weight)
            for proj in self.input_proj:
                nn.init.xavier_uniform_(proj[0].weight)

    @staticmethod
    def _anchors(shapes, like, grid_size: float = 0.05, eps: float = 1e-2):
        """Per-cell anchor boxes in logit space ``[1, S, 4]`` (size doubling per level) and their validity mask."""
        boxes = []
        for lvl, (h, w) in enumerate(shapes):
            ys = torch.arange(h, device=like.device, dtype=like.dtype)
            xs = torch.arange(w, device=like.device, dtype=like.dtype)
            gy, gx = torch.meshgrid(ys, xs, indexing="ij")
            centre = torch.stack([(gx + 0.5) / w, (gy + 0.5) / h], -1).view(1, h * w, 2)
            size = torch.full_like(centre, grid_size * 2.0 ** lvl)
            boxes.append(torch.cat([centre, size], -1))
        anchors = torch.cat(boxes, 1)
        valid = ((anchors > eps) & (anchors < 1 - eps)).all(-1, keepdim=True)
        anchors = torch.log(anchors / (1 - anchors)).masked_fill(~valid, float("inf"))
        return anchors, valid

    def forward(self, x):
        maps = [proj(f) for proj, f in zip(self.input_proj, x)]
        shapes = [(m.shape[2], m.shape[3]) for m in maps]
        memory = torch.cat([m.flatten(2).permute(0, 2, 1) for m in maps], 1)  # [B, S, hd]
        b = memory.shape[0]

        # Query selection: the top-k memory tokens by best class score seed the decoder queries and boxes.
        anchors, valid = self._anchors(shapes, memory)
        features = self.enc_output(valid * memory)
        enc_scores_all = self.enc_score_head(features)
        k = min(self.num_queries, enc_scores_all.shape[1])
        top = enc_scores_all.max(-1).values.topk(k, dim=1).indices.view(-1)  # [B*k]
        batch = torch.arange(b, device=top.device, dtype=top.dtype).unsqueeze(-1).repeat(1, k).view(-1)
        top_features = features[batch, top].view(b, k, -1)
        ref_logits = self.enc_bbox_head(top_features) + anchors[:, top].view(b, k, -1)
        enc_boxes = ref_logits.sigmoid()
        enc_scores = enc_scores_all[batch, top].view(b, k, -1)
        if self.learnt_init_query:
            embed = self.tgt_embed.weight[:k].unsqueeze(0).repeat(b, 1, 1)
        else:
            embed = top_features
        if self.training:
            ref_logits = ref_logits.detach()
            if not self.learnt_init_query:
                embed = embed.detach()

        boxes, scores = self.decoder(embed, ref_logits, memory, shapes, self.dec_bbox_head, self.dec_score_head,
                                     self.query_pos_head)
        if self.training:
            return boxes, scores, enc_boxes, enc_scores
        return self._top_detections(boxes.squeeze(0), scores.squeeze(0).sigmoid())

    def _top_detections(self, boxes, scores):
        """Best ``nq`` (query, class) pairs: ``[B, k, 6]`` = box, score, class index."""
        k = min(self.num_queries, scores.shape[1] * self.nc)
        best, index = scores.flatten(1).topk(k, dim=1)
        query = torch.div(index, self.nc, rounding_mode="floor")
        picked = boxes.gather(1, query.unsqueeze(-1).expand(-1, -1, 4))
        return torch.cat([picked, best[..., None], (index - query * self.nc)[..., None].to(boxes.dtype)], -1)

"""EMO's Inverted Residual Mobile Block (iRMB), written from its published definition (EMO, arXiv:2301.01146,
section 3 and the authors' reference implementation as described in seed 004).

iRMB = [BN] -> windowed multi-head self-attention (queries and keys from one 1x1 conv, values from the expansion
conv) -> depthwise conv (+ its own residual) -> [squeeze-excite] -> 1x1 projection, with a residual around the
whole block when input and output shapes match.

The windows follow the reference's rearrangement ``b c (h1 n1) (w1 n2) -> (b n1 n2) c h1 w1``: a window of size ws
gathers every n-th row and column (``n = padded H / ws``), so each window spans the whole feature map sparsely. When
H or W is not a multiple of the window size the map is zero-padded at the bottom/right and cropped afterwards.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from archscope.build.registry import ScaledOut, block
from archscope.vocab import ACTIVATION_NAMES

_NORMS = {"bn_2d": nn.BatchNorm2d, "none": nn.Identity}


def _act(name: str) -> nn.Module:
    if name not in ACTIVATION_NAMES:
        raise ValueError(f"iRMB: act_layer must be one of {', '.join(ACTIVATION_NAMES)}, got {name!r}")
    return getattr(nn, ACTIVATION_NAMES[name])()


def _norm(name: str, channels: int) -> nn.Module:
    if name not in _NORMS:
        raise ValueError(f"iRMB: norm_layer must be one of {', '.join(_NORMS)}, got {name!r}")
    return _NORMS[name](channels)


class ConvNormAct(nn.Sequential):
    """EMO's conv unit: Conv2d (padding ceil((k - stride) / 2)), then a norm and an activation (either may be none)."""

    def __init__(self, c1, c2, k=1, s=1, d=1, groups=1, bias=False, norm="bn_2d", act="relu"):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, -(-(k - s) // 2), d, groups, bias)
        self.norm = _norm(norm, c2)
        self.act = _act(act)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation as in timm: global mean, 1x1 reduce (bias) + act, 1x1 expand (bias), sigmoid gate."""

    def __init__(self, c, rd_ratio=0.25, act="relu"):
        super().__init__()
        rd = round(c * rd_ratio)
        self.conv_reduce = nn.Conv2d(c, rd, 1, bias=True)
        self.act = _act(act)
        self.conv_expand = nn.Conv2d(rd, c, 1, bias=True)

    def forward(self, x):
        s = self.conv_expand(self.act(self.conv_reduce(x.mean((2, 3), keepdim=True))))
        return x * s.sigmoid()


@block(family="emo", channels=ScaledOut())
class iRMB(nn.Module):
    """EMO's inverted residual mobile block: windowed self-attention fused with a depthwise conv in an inverted
    residual. Args after c1: [c2, norm_in, has_skip, exp_ratio, norm_layer, act_layer, v_proj, dw_ks, stride,
    dilation, se_ratio, dim_head, window_size, attn_s, qkv_bias, attn_drop, drop, drop_path, v_group, attn_pre]
    (the seed's order and defaults: dim_head 8, window 7)."""

    def __init__(self, c1, c2, norm_in=True, has_skip=True, exp_ratio=1.0, norm_layer="bn_2d", act_layer="relu",
                 v_proj=True, dw_ks=3, stride=1, dilation=1, se_ratio=0.0, dim_head=8, window_size=7, attn_s=True,
                 qkv_bias=False, attn_drop=0.0, drop=0.0, drop_path=0.0, v_group=False, attn_pre=False):
        super().__init__()
        self.norm = _norm(norm_layer, c1) if norm_in else nn.Identity()
        mid = int(c1 * exp_ratio)
        self.has_skip = c1 == c2 and stride == 1 and has_skip
        self.attn_s = attn_s
        if attn_s:
            if dim_head < 1 or c1 % dim_head:
                raise ValueError(f"iRMB: input channels {c1} must be a multiple of dim_head {dim_head}")
            self.dim_head, self.window_size = dim_head, window_size
            self.num_head = c1 // dim_head
            if mid % self.num_head:
                raise ValueError(f"iRMB: expanded channels {mid} must split evenly into {self.num_head} heads")
            self.scale = dim_head ** -0.5
            self.attn_pre = attn_pre
            self.qk = ConvNormAct(c1, 2 * c1, 1, bias=qkv_bias, norm="none", act="none")
            self.v = ConvNormAct(c1, mid, 1, groups=self.num_head if v_group else 1, bias=qkv_bias, norm="none",
                                 act=act_layer)
            self.attn_drop = nn.Dropout(attn_drop)
        elif v_proj:
            self.v = ConvNormAct(c1, mid, 1, bias=qkv_bias, norm="none", act=act_layer)
        else:
            if mid != c1:
                raise ValueError(f"iRMB: without v_proj the expansion ratio must be 1, got {exp_ratio}")
            self.v = nn.Identity()
        self.conv_local = ConvNormAct(mid, mid, dw_ks, stride, dilation, groups=mid, norm="bn_2d", act="silu")
        self.se = SqueezeExcite(mid, se_ratio, act_layer) if se_ratio > 0.0 else nn.Identity()
        self.proj_drop = nn.Dropout(drop)
        self.proj = ConvNormAct(mid, c2, 1, norm="none", act="none")

    def _window_attention(self, x):
        b, c, h, w = x.shape
        ws_h, ws_w = (h, w) if self.window_size <= 0 else (self.window_size, self.window_size)
        pad_b, pad_r = (ws_h - h % ws_h) % ws_h, (ws_w - w % ws_w) % ws_w
        x = F.pad(x, (0, pad_r, 0, pad_b))
        n1, n2 = (h + pad_b) // ws_h, (w + pad_r) // ws_w
        # b c (h1 n1) (w1 n2) -> (b n1 n2) c h1 w1
        x = x.view(b, c, ws_h, n1, ws_w, n2).permute(0, 3, 5, 1, 2, 4).reshape(b * n1 * n2, c, ws_h, ws_w)
        bw, tokens, heads = x.shape[0], ws_h * ws_w, self.num_head
        qk = self.qk(x).view(bw, 2, heads, self.dim_head, tokens).transpose(-1, -2)  # [bw, 2, heads, N, d]
        attn = ((qk[:, 0] @ qk[:, 1].transpose(-2, -1)) * self.scale).softmax(dim=-1)
        attn = self.attn_drop(attn)
        if self.attn_pre:
            xs = attn @ x.view(bw, heads, c // heads, tokens).transpose(-1, -2)
            xs = self.v(xs.transpose(-1, -2).reshape(bw, c, ws_h, ws_w))
        else:
            v = self.v(x)
            mid = v.shape[1]
            xs = attn @ v.view(bw, heads, mid // heads, tokens).transpose(-1, -2)
            xs = xs.transpose(-1, -2).reshape(bw, mid, ws_h, ws_w)
        mid = xs.shape[1]
        # (b n1 n2) c h1 w1 -> b c (h1 n1) (w1 n2), then crop the padding
        xs = xs.view(b, n1, n2, mid, ws_h, ws_w).permute(0, 3, 4, 1, 5, 2).reshape(b, mid, ws_h * n1, ws_w * n2)
        return xs[:, :, :h, :w] if pad_b or pad_r else xs

    def forward(self, x):
        shortcut = x
        x = self.norm(x)
        x = self._window_attention(x) if self.attn_s else self.v(x)
        local = self.se(self.conv_local(x))
        x = x + local if self.has_skip else local
        x = self.proj(self.proj_drop(x))
        return shortcut + x if self.has_skip else x

"""One layer op by op (``archscope explain``): its operator groups with their FLOPs, bytes, roofline time and bound,
and, for an attention layer, the figures behind the finding in words. Plain data, no torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA = "archscope.explain/1"


@dataclass
class OpGroup:
    """Ops of one layer that ran in the same sub-module and do the same job (a projection, QK^T, softmax, ...)."""

    name: str  # what the group does, e.g. "K projection", "QK^T", "reshapes and copies"
    role: str  # the same as a key: q_proj, k_proj, v_proj, qkv_proj, out_proj, kv_down, qk, softmax, pv, scores,
    #            sdpa, copy, module, elementwise, norm, activation
    path: str  # the sub-module path the ops ran in ("" = the layer module itself)
    ops: list[str]  # ATen operator names, each once
    calls: int
    flops: int
    bytes: int  # as the roofline counts them under ``LayerBreakdown.attention``
    score_bytes: int  # bytes of attention score matrices among the eager bytes (kept on chip when fused)
    predicted_ms: float
    bound: str  # "compute", "memory" or "none"

    @property
    def intensity(self) -> float | None:
        return self.flops / self.bytes if self.bytes else None


@dataclass
class AttentionFacts:
    """What the finding is computed from (eager score traffic, K/V traffic, what K/V downsampling would save)."""

    heads: int | None  # query heads (the module's num_heads), when it says
    kv_heads: int | None  # key/value heads (1: multi-query), when it says
    queries: int  # query tokens per image
    keys: int  # key/value tokens each query attends to (after any K/V downsampling)
    kv_stride: int | None  # the module's K/V downsampling stride, when it has one
    score_bytes: int  # eager traffic of the score matrices (QK^T write, softmax read+write, PV read)
    kv_bytes: int  # K and V as written by their projections
    kv_bytes_mhsa: int  # the same with one K/V head per query head (MHSA): kv_bytes x heads / kv_heads
    score_ms: float  # time of QK^T, softmax and PV (and score elementwise ops) on the device
    kv_ms: float  # time of the K and V projections and downsampling (or of a joint QKV projection)
    kv2_ms: float  # the layer's predicted time with K/V tokens 4x fewer (kv_strides 2 more)
    scores_share: float  # score_ms / the layer's time
    kv_share: float  # kv_ms / the layer's time
    eager_ms: float = 0.0  # the layer's time with attention run eager (scores through memory)
    fused_ms: float = 0.0  # and fused (scores on chip)
    joint_qkv: bool = False  # K and V come out of one QKV projection (their bytes cannot be told apart)


@dataclass
class LayerBreakdown:
    model: str
    layer: int
    module: str
    imgsz: list[int]
    batch: int
    dtype: str
    device: str
    attention: str  # "eager" or "fused": how the roofline ran attention
    predicted_unit: str  # "ms", or "relative" on the ridge-point presets
    groups: list[OpGroup]
    flops: int
    bytes: int
    predicted_ms: float
    facts: AttentionFacts | None = None
    findings: list[str] = field(default_factory=list)
    schema: str = SCHEMA

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for g, raw in zip(self.groups, d["groups"]):
            raw["intensity"] = g.intensity
        return d

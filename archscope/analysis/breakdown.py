"""One layer op by op: its counted operator calls grouped by the sub-module they ran in and by what they do (Q, K,
V and output projections, K/V downsampling, QK^T, softmax, PV, reshapes and copies, ...), each group with its
FLOPs, bytes, intensity, roofline time and bound; and for an attention layer the finding in words: what sharing K/V
saves (MQA), what dominates (the score matrices or the K/V traffic), and what K/V downsampling would save.

The groups come from the dispatch records alone (:class:`~archscope.analysis.records.OpRecord`: op name, sub-module
path, FLOPs, bytes, the score bytes the counting mode marked); the module is asked only for its head counts.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from archscope.analysis.records import ModelCosts, OpRecord
from archscope.devices.roofline import LayerRoofline, attention_mode, op_roofline
from archscope.devices.spec import DeviceSpec
from archscope.errors import ArchscopeError
from archscope.reports.breakdown import AttentionFacts, LayerBreakdown, OpGroup

__all__ = ["breakdown", "group_ops", "op_role", "op_roles"]

_NORMS = {"native_batch_norm", "_native_batch_norm_legit_no_training", "_native_batch_norm_legit",
          "native_layer_norm", "native_group_norm", "batch_norm", "layer_norm", "group_norm"}
_ACTIVATIONS = {"silu", "relu", "relu6", "hardtanh", "gelu", "sigmoid", "hardswish", "hardsigmoid", "leaky_relu",
                "tanh", "mish", "elu", "clamp"}
_SOFTMAX = {"_softmax", "softmax", "_safe_softmax", "log_softmax", "_log_softmax"}
_COPIES = {"clone", "copy", "copy_", "_to_copy", "contiguous", "cat", "stack", "_reshape_copy", "view_copy",
           "permute_copy", "expand_copy", "split_with_sizes_copy", "repeat", "index", "index_select", "gather"}
_MODULE_OPS = {"convolution", "_convolution", "mkldnn_convolution", "mm", "addmm"} | _NORMS | _ACTIVATIONS

#: What each role is called, in the order the groups are listed.
ROLE_NAMES = {
    "q_proj": "Q projection", "k_proj": "K projection", "v_proj": "V projection", "qkv_proj": "QKV projection",
    "kv_down": "K/V downsampling", "k_down": "K downsampling", "v_down": "V downsampling",
    "q_down": "Q downsampling", "qk": "QK^T (scores)", "scores": "scale/mask on scores", "softmax": "softmax",
    "prep": "Q/K/V scaling", "pv": "PV (scores x V)", "sdpa": "fused attention (SDPA)", "out_proj": "output projection",
    "copy": "reshapes and copies", "elementwise": "elementwise", "module": "", "norm": "norm",
    "activation": "activation", "matmul": "matmul", "pool": "pooling", "resize": "resize",
}
_POOLS = ("max_pool", "avg_pool", "adaptive_avg_pool", "adaptive_max_pool")
_RESIZES = ("upsample", "_upsample", "grid_sampler")
_SCORE_ROLES = {"qk", "scores", "softmax", "pv"}


def op_roles(ops: list[OpRecord]) -> list[str]:
    """What each op does, from its name, what it multiplies and the score bytes it moves. Of the activation
    products that move score bytes in one sub-module, the first makes the scores (QK^T), the next reads them (PV),
    and so on in turn."""
    roles = []
    making: dict[tuple[int, str], bool] = {}
    for op in ops:
        if op.activation_product and op.score_bytes:
            where = (op.layer, op.path)
            qk = making.get(where, True)
            making[where] = not qk
            roles.append("qk" if qk else "pv")
        else:
            roles.append(op_role(op))
    return roles


def op_role(op: OpRecord) -> str:
    """What one op does, on its own (an activation product moving score bytes is told apart by :func:`op_roles`)."""
    if op.activation_product:
        if op.score_bytes:
            return "qk" if op.score_bytes == op.bytes_written else "pv"
        return "matmul" if op.op in ("bmm", "baddbmm") else "sdpa"
    if op.op in _SOFTMAX:
        return "softmax"
    if op.score_bytes:
        return "scores"
    if op.prep_bytes and op.op not in _COPIES:
        return "prep"
    if op.op in _COPIES:
        return "copy"
    if op.op in _MODULE_OPS and op.path:
        return _module_role(group_path(op.path))
    if op.op in _NORMS:
        return "norm"
    if op.op in _ACTIVATIONS:
        return "activation"
    if op.op.startswith(_POOLS):
        return "pool"
    if op.op.startswith(_RESIZES):
        return "resize"
    return "elementwise"


_LEAVES = re.compile(r"(\.(\d+|conv|bn|act|norm|linear))+$")


def group_path(path: str) -> str:
    """The module a leaf op belongs to: "query_proj.0" -> "query_proj", "m.0.cv1.conv" -> "m.0.cv1"."""
    return _LEAVES.sub("", path) or path


def _module_role(path: str) -> str:
    name = path.rsplit(".", 1)[-1].lower()
    if "qkv" in name:
        return "qkv_proj"
    down = any(w in name for w in ("dw", "down", "sr", "pool"))
    for role, words in (("q", ("q", "query", "to_q", "wq", "q_proj", "query_proj")),
                        ("k", ("k", "key", "to_k", "wk", "k_proj", "key_proj")),
                        ("v", ("v", "value", "to_v", "wv", "v_proj", "value_proj"))):
        if name in words or name.startswith(words[1]) or (down and name.split("_")[0] in words):
            return f"{role}_down" if down else f"{role}_proj"
    if down and "kv" in name:
        return "kv_down"
    if name in ("o", "out", "proj", "out_proj", "output_proj", "o_proj", "to_out", "wo"):
        return "out_proj"
    return "module"


def group_ops(ops: list[OpRecord]) -> list[tuple[str, str, list[OpRecord]]]:
    """(role, path, ops) per group, in the order the groups first ran."""
    groups: dict[tuple[str, str], list[OpRecord]] = {}
    for op, role in zip(ops, op_roles(ops)):
        path = group_path(op.path) if role.endswith(("_proj", "_down")) or role == "module" else op.path
        groups.setdefault((role, path), []).append(op)
    return [(role, path, members) for (role, path), members in groups.items()]


def _time(device: DeviceSpec, dtype: str, ops: list[OpRecord], attention: str) -> LayerRoofline:
    total = LayerRoofline(-1)
    for op in ops:
        total.add(op_roofline(device, dtype, op, attention))
    return total


def breakdown(costs: ModelCosts, model: Any, layer: int, device: DeviceSpec, *, attention: str | None = None,
              name: str = "", module: str = "") -> LayerBreakdown:
    """Layer ``layer`` of counted ``costs`` op group by op group on ``device``; ``model``: the built network (its
    attention modules are asked for their head counts), or None."""
    attention = attention_mode(device, attention)
    dtype = costs.dtype
    n = len(costs.layers)
    if not 0 <= layer < n:
        raise ArchscopeError(f"--layer {layer}: the model has layers 0-{n - 1}")
    ops = [op for op in costs.ops if op.layer == layer]
    groups: list[OpGroup] = []
    for role, path, members in group_ops(ops):
        t = _time(device, dtype, members, attention)
        label = ROLE_NAMES.get(role) or path or "(layer)"
        if role in ("elementwise", "copy", "pool", "resize", "activation", "norm"):
            label += f" ({', '.join(dict.fromkeys(op.op.lstrip('_') for op in members))})"
        groups.append(OpGroup(
            name=label, role=role, path=path, ops=list(dict.fromkeys(op.op for op in members)), calls=len(members),
            flops=t.flops, bytes=t.bytes, score_bytes=sum(op.score_bytes for op in members),
            predicted_ms=t.predicted_ms, bound=t.bound))
    whole = _time(device, dtype, ops, attention)
    result = LayerBreakdown(
        model=name, layer=layer, module=module, imgsz=list(costs.imgsz), batch=costs.batch, dtype=dtype,
        device=device.name, attention=attention, predicted_unit="relative" if device.relative_only else "ms",
        groups=groups, flops=whole.flops, bytes=whole.bytes, predicted_ms=whole.predicted_ms)
    if any(op.activation_product for op in ops):
        result.facts = _facts(ops, groups, model, layer, device, dtype, attention, whole.predicted_ms)
        result.findings = attention_findings(result)
    return result


def _heads(model: Any, layer: int, path: str) -> tuple[int | None, int | None, int | None]:
    """(num_heads, kv_heads, kv_strides) of the module the attention ran in, where it says."""
    if model is None:
        return None, None, None
    try:
        module = model.layers[layer]
        module = module.get_submodule(path) if path else module
    except (AttributeError, IndexError, TypeError):
        return None, None, None
    heads = getattr(module, "num_heads", None)
    kv = getattr(module, "kv_heads", heads)
    stride = getattr(module, "kv_strides", None)
    ok = [v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None for v in (heads, kv, stride)]
    return ok[0], ok[1], ok[2]


def _facts(ops: list[OpRecord], groups: list[OpGroup], model: Any, layer: int, device: DeviceSpec, dtype: str,
           attention: str, layer_ms: float) -> AttentionFacts:
    roles = op_roles(ops)
    qk = next((op for op, role in zip(ops, roles) if role == "qk"), None)
    anchor = qk or next(op for op in ops if op.activation_product)
    heads, kv_heads, stride = _heads(model, layer, anchor.path)
    keys = anchor.out_shape[-1] if qk is not None and anchor.out_shape else 0
    rows = anchor.out_shape[-2] if qk is not None and len(anchor.out_shape) >= 2 else 0
    group = heads // kv_heads if heads and kv_heads and heads % kv_heads == 0 else 1
    queries = rows // group if rows else 0
    k_bytes = sum(op.bytes_written for op, role in zip(ops, roles) if role == "k_proj")
    v_bytes = sum(op.bytes_written for op, role in zip(ops, roles) if role == "v_proj")
    kv_bytes = k_bytes + v_bytes
    mhsa = kv_bytes * group
    score_ms = sum(g.predicted_ms for g in groups if g.role in _SCORE_ROLES)
    kv_ms = sum(g.predicted_ms for g in groups if g.role in ("k_proj", "v_proj", "kv_down", "k_down", "v_down"))
    joint = not kv_bytes and any(g.role == "qkv_proj" for g in groups)
    if joint:
        kv_ms = sum(g.predicted_ms for g in groups if g.role == "qkv_proj")
    fewer = [_fewer_keys(op, role, k_bytes, v_bytes, 4) for op, role in zip(ops, roles)]
    kv2 = _time(device, dtype, fewer, attention).predicted_ms

    def share(t: float) -> float:
        return t / layer_ms if layer_ms > 0 else 0.0

    return AttentionFacts(
        heads=heads, kv_heads=kv_heads, queries=queries, keys=keys, kv_stride=stride,
        score_bytes=sum(op.score_bytes for op in ops), kv_bytes=kv_bytes, kv_bytes_mhsa=mhsa, score_ms=score_ms,
        kv_ms=kv_ms, kv2_ms=kv2, scores_share=share(score_ms), kv_share=share(kv_ms),
        eager_ms=_time(device, dtype, ops, "eager").predicted_ms,
        fused_ms=_time(device, dtype, ops, "fused").predicted_ms, joint_qkv=joint)


def _fewer_keys(op: OpRecord, role: str, k_bytes: int, v_bytes: int, factor: int) -> OpRecord:
    """``op`` with ``factor`` times fewer K/V tokens: the score matrices, the QK^T and PV FLOPs, the K and V
    tensors (and the K/V projections and downsampling that make them) shrink by ``factor``; Q, the output and the
    weights do not. The downsampling conv a larger kv_strides needs is not added (it is small: depthwise)."""

    def part(x: int) -> int:
        return x // factor

    if role in ("qk", "pv"):
        kv = k_bytes if role == "qk" else v_bytes
        rest = op.bytes_read - (op.score_bytes if role == "pv" else 0) - kv
        read = max(rest, 0) + part(kv) + (part(op.score_bytes) if role == "pv" else 0)
        written = part(op.bytes_written) if role == "qk" else op.bytes_written
        return replace(op, mac_flops=part(op.mac_flops), other_flops=part(op.other_flops), bytes_read=read,
                       bytes_written=written, score_bytes=part(op.score_bytes))
    if role in ("softmax", "scores", "k_proj", "v_proj", "kv_down", "k_down", "v_down"):
        return replace(op, mac_flops=part(op.mac_flops), other_flops=part(op.other_flops),
                       bytes_read=part(op.bytes_read), bytes_written=part(op.bytes_written),
                       score_bytes=part(op.score_bytes))
    return op


def _mb(n: float) -> str:
    return f"{n / 1e6:.3g} MB"


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def attention_findings(b: LayerBreakdown) -> list[str]:
    """The finding in words, from the figures in ``b.facts``."""
    f = b.facts
    if f is None:
        return []
    unit = "relative units" if b.predicted_unit == "relative" else "ms"
    lines = []
    if f.heads and f.kv_heads and f.kv_bytes:
        if f.kv_heads < f.heads:
            lines.append(
                f"MQA: {f.heads} query heads share {f.kv_heads} K/V head{'s' if f.kv_heads > 1 else ''}, so K and V "
                f"are {_mb(f.kv_bytes)} instead of MHSA's {_mb(f.kv_bytes_mhsa)} (divided by "
                f"{f.heads // f.kv_heads}: {_mb(f.kv_bytes_mhsa - f.kv_bytes)} less written, and read again by "
                f"QK^T and PV).")
        else:
            lines.append(
                f"MHSA: {f.heads} heads, each with its own K and V ({_mb(f.kv_bytes)}); sharing one K/V head (MQA) "
                f"would divide that by {f.heads}, saving {_mb(f.kv_bytes - f.kv_bytes // f.heads)} written, and as "
                f"much again read by QK^T and PV.")
    elif f.joint_qkv:
        lines.append("K and V come out of one QKV projection here, so what sharing K/V (MQA) would save cannot be "
                     "read off separately; MQA would shrink that projection's K and V part by the head count.")
    fused = b.attention == "fused"
    scores = (f"the score matrices ({_mb(f.score_bytes)} of traffic eager) stay on chip (--attention fused; "
              f"eager: {f.eager_ms:.3g} {unit})" if fused else
              f"the score matrices move {_mb(f.score_bytes)} (--attention eager; fused, on chip: {f.fused_ms:.3g} "
              f"{unit})")
    down = " and downsampling" if f.kv_stride and f.kv_stride > 1 else ""
    kv_name = "the QKV projection" if f.joint_qkv else f"the K/V projections{down}"
    what = "The scores outweigh the K/V traffic" if f.score_ms >= f.kv_ms else "K/V traffic outweighs the scores"
    lines.append(
        f"{what}: QK^T, softmax and PV take {_pct(f.scores_share)} of the layer's "
        f"{b.predicted_ms:.3g} {unit}, {kv_name} "
        f"{_pct(f.kv_share)}; {scores}.")
    if f.keys:
        saved = 1 - f.kv2_ms / b.predicted_ms if b.predicted_ms > 0 else 0.0
        already = (f"K/V are downsampled {f.kv_stride}x already ({f.queries:,} queries, {f.keys:,} keys); "
                   if f.kv_stride and f.kv_stride > 1 else f"{f.queries:,} queries attend to {f.keys:,} keys; ")
        lines.append(
            f"{already}K/V downsampling by 2 more (4x fewer keys: the scores, QK^T/PV FLOPs and K/V bytes all scale "
            f"with the key count) would take the layer from {b.predicted_ms:.3g} to {f.kv2_ms:.3g} {unit} "
            f"({'-' if saved >= 0 else '+'}{_pct(abs(saved))}).")
    return lines

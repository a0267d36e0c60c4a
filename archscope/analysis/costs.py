"""The per-operator cost table: how many FLOPs one operator call costs, from shapes alone.

This module is the single place where archscope decides what an operator costs. Costs are a registry keyed by
operator packets (``torch.ops.aten.mm``: the objects, never their names), filled with the :func:`op_cost` decorator
the way ``torch.utils.flop_counter`` fills its table with ``@register_flop_formula(aten.mm)``. A key that is not an
operator cannot exist: registering a string, or an ATen name this torch does not have, raises, and the name tables
below are resolved to packets at import, so a typo is an import error rather than a silently uncounted op. The
formulas themselves only read ``.shape`` and a few plain arguments, so they run on ``meta`` tensors.

Two kinds of FLOPs are kept apart:

``mac_flops``
    2 per multiply-add of the matrix-like operators, exactly as ``torch.utils.flop_counter.FlopCounterMode`` counts
    them: ``convolution`` ``2 * N * Cout * Hout * Wout * Cin/groups * kh * kw`` (transposed: the input's spatial
    size instead of the output's), ``mm``/``addmm`` ``2*M*K*N``, ``bmm``/``baddbmm`` ``2*B*M*K*N``, ``dot``, ``mv``,
    and every scaled-dot-product-attention kernel ``2*B*H*Lq*Lk*(Dqk + Dv)`` (the ``QK^T`` and ``PV`` products).
    ``matmul``, ``linear`` and ``einsum`` reach the dispatcher as ``mm``/``addmm``/``bmm`` and are counted there.
    One difference to ``FlopCounterMode`` (torch 2.13): it has no formula for
    ``_scaled_dot_product_flash_attention_for_cpu`` (the kernel ``F.scaled_dot_product_attention`` runs on CPU), so
    it reports 0 for SDPA on CPU; archscope counts it like the other SDPA kernels.

``other_flops``
    Everything else, with a documented cost per element (:func:`cost_table_markdown`). The unit is one elementary
    operation: each add, multiply, divide, comparison/select, or evaluation of a transcendental function (exp, log,
    tanh, erf, sqrt) counts 1. The bias add of a convolution, ``addmm`` or ``baddbmm`` (1 per output element) is
    counted here, not in ``mac_flops``, so that ``mac_flops`` stays comparable with ``FlopCounterMode``.

Operators that only move data (``cat``, ``clone``, ``copy_``, padding, ``_to_copy``, factories) cost 0 FLOPs but
move bytes; views (``view``, ``reshape`` without a copy, ``permute``, ``transpose``, ``expand``, ``split``,
``select``, ``slice`` ...) cost 0 FLOPs and 0 bytes. Operators this table does not know cost 0 FLOPs, still move
bytes, and are listed in the report (``ModelCosts.uncounted_ops``, ``totals.uncounted_ops`` in the JSON) so that
nothing is dropped silently.

Users add formulas for their own operators with :func:`register_op_cost` (``archscope.register_op_cost``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from math import prod
from typing import Any

import torch
from torch._ops import OpOverload, OpOverloadPacket

from archscope.vocab import CLASS_FEATURES, OP_CLASSES

aten = torch.ops.aten

# --------------------------------------------------------------------------------------------- the table

#: Elementwise operators: FLOPs per *output* element. In-place variants (``add_``, ``silu_`` ...) cost the same.
ELEMENTWISE: dict[str, int] = {
    # arithmetic: one operation per element
    "add": 1, "sub": 1, "rsub": 1, "mul": 1, "div": 1, "neg": 1, "abs": 1, "remainder": 1, "fmod": 1,
    "pow": 1, "square": 1, "reciprocal": 1, "sqrt": 1, "rsqrt": 1, "exp": 1, "exp2": 1, "expm1": 1, "log": 1,
    "log2": 1, "log10": 1, "log1p": 1, "sin": 1, "cos": 1, "tanh": 1, "erf": 1, "atan2": 1, "sign": 1,
    "floor": 1, "ceil": 1, "round": 1, "trunc": 1, "frac": 1, "floor_divide": 1,
    # comparisons and selections: one operation per element
    "relu": 1, "maximum": 1, "minimum": 1, "clamp_min": 1, "clamp_max": 1, "where": 1, "masked_fill": 1,
    "eq": 1, "ne": 1, "lt": 1, "le": 1, "gt": 1, "ge": 1, "logical_not": 1, "logical_and": 1, "logical_or": 1,
    "bitwise_and": 1, "bitwise_or": 1, "bitwise_not": 1, "threshold": 1,
    "clamp": 2,  # min and max
    "hardtanh": 2,  # ReLU6 = clamp(x, 0, 6)
    "leaky_relu": 2,  # compare + multiply
    "prelu": 2, "_prelu_kernel": 2,  # compare + multiply
    "addcmul": 2, "addcdiv": 2,  # multiply/divide + add
    "lerp": 3,  # a + w * (b - a)
    # activations, as their definitions read
    "sigmoid": 4,  # 1 / (1 + exp(-x)): neg, exp, add, divide
    "silu": 5,  # x * sigmoid(x)
    "hardsigmoid": 4,  # clamp(x + 3, 0, 6) / 6: add, max, min, divide
    "hardswish": 5,  # x * hardsigmoid(x)
    "gelu": 5,  # x/2 * (1 + erf(x / sqrt 2)): divide, erf, add, two multiplies (tanh form counted the same)
    "mish": 5,  # x * tanh(log(1 + exp(x))): exp, add, log, tanh, multiply
    "softplus": 3,  # log(1 + exp(x))
    "elu": 4,  # x > 0 ? x : a * (exp(x) - 1): compare, exp, subtract, multiply
    "celu": 5, "selu": 5,  # elu plus a scale
    "log_sigmoid_forward": 5,
    "glu": 5,  # a * sigmoid(b), per output element
    "cumsum": 1, "cumprod": 1,  # one add (multiply) per element
}

#: The :data:`ELEMENTWISE` operators that have no in-place ATen variant (there is no ``aten.rsub_``); every other
#: one is registered together with its ``name_`` variant. A test checks that these really have none.
NO_INPLACE_VARIANT = frozenset({
    "rsub", "maximum", "minimum", "where", "prelu", "_prelu_kernel", "softplus", "log_sigmoid_forward", "glu",
})

#: Normalisation, softmax and reductions.
#:
#: * ``batch_norm`` (inference, as PyTorch's CPU kernel runs it): mean, variance, weight and bias fold into one
#:   per-channel scale and shift, so each element costs a multiply and an add: **2 per element**.
#: * ``layer_norm`` / ``group_norm``: statistics 3 per element (sum; square and sum for the variance), normalise 2
#:   (subtract the mean, multiply by 1/std), affine 2 when it has a weight/bias: **7 per element** (5 without).
#: * ``softmax`` / ``log_softmax``: max (compare), subtract, exp, sum, divide (or log and subtract):
#:   **5 per element**.
#: * reductions (``sum``, ``mean``, ``amax``, ``var`` ...): **1 per input element** (``var``/``std``: 3).
#:
#: (Keys are cost names, not operators; the operators that use them are registered below.)
NORMALISATION: dict[str, int] = {
    "batch_norm": 2,
    "layer_norm": 7, "layer_norm_no_affine": 5,
    "group_norm": 7, "group_norm_no_affine": 5,
    "softmax": 5,
    "reduction": 1, "var": 3,
}

#: Pooling: **one FLOP per kernel element per output element** (a max pool's comparisons, an average pool's adds;
#: the average's one divide per output is folded in). Adaptive pools use the exact windows PyTorch slices, so a
#: global average pool costs one add per input element. ``mean`` over the spatial dims (which is what
#: ``adaptive_avg_pool2d(x, 1)`` dispatches to) is a reduction: one per input element.
POOLING = "kernel elements per output element"

#: Resizing: FLOPs per output element. Nearest-neighbour only copies (0). The interpolating modes are a weighted
#: sum of the neighbours (the weights are computed once per output row/column and not counted): linear 2 multiplies
#: + 1 add, bilinear 4 + 3, bicubic 16 + 15, trilinear 8 + 7; ``grid_sample`` (bilinear) 7.
RESIZE: dict[str, int] = {
    "upsample_nearest1d": 0, "upsample_nearest2d": 0, "upsample_nearest3d": 0,
    "_upsample_nearest_exact1d": 0, "_upsample_nearest_exact2d": 0, "_upsample_nearest_exact3d": 0,
    "upsample_linear1d": 3, "upsample_bilinear2d": 7, "_upsample_bilinear2d_aa": 7, "upsample_bicubic2d": 31,
    "_upsample_bicubic2d_aa": 31, "upsample_trilinear3d": 15,
    "grid_sampler_2d": 7,  # bilinear sampling at arbitrary points (RT-DETR's deformable attention)
}

#: Scaled-dot-product attention kernels: besides their ``mac_flops``, **6 per attention score** in ``other_flops``
#: (the scale multiply and the 5 of a softmax), plus 1 per score when a mask or bias is added.
SDPA_OTHER_PER_SCORE = 6


# ------------------------------------------------------------------------------------------- the registry
# A formula takes (args, kwargs, outputs) and returns (mac_flops, other_flops). ``args``/``kwargs`` are the op's
# arguments as the dispatcher passes them, ``outputs`` a list of its output tensors; only ``.shape`` and plain
# arguments are read (formulas are pure functions of shapes, and run on ``meta`` tensors).

Formula = Callable[[tuple, dict, list], "tuple[int, int]"]

#: "mac": a matrix-like operator (its FLOPs are multiply-adds); "other": every other operator that computes.
KINDS = ("mac", "other")


@dataclass(frozen=True, slots=True)
class OpCost:
    """What one operator costs: its kind and the formula that gives ``(mac_flops, other_flops)`` of one call."""

    op: OpOverloadPacket
    kind: str
    formula: Formula
    op_class: str = ""  # vocab.OP_CLASSES key ("" = none): which calibrated throughput the roofline uses


_REGISTRY: dict[OpOverloadPacket, OpCost] = {}
_BUILTIN: dict[OpOverloadPacket, OpCost] = {}  # archscope's own entries, to restore when a user's is removed


def as_packet(op: Any) -> OpOverloadPacket:
    """``op`` if it is an operator packet (``torch.ops.aten.mm``, ``torch.ops.mylib.foo``), else a clear TypeError.

    One overload (``aten.mm.default``) is refused rather than widened to its packet: costs are per operator and
    are looked up by ``func.overloadpacket``, so registering one overload would silently cover all of them.
    """
    if isinstance(op, OpOverloadPacket):
        return op
    if isinstance(op, OpOverload):
        raise TypeError(f"{op} is one overload of {op.overloadpacket}; op costs are per operator: register "
                        f"torch.ops.{op.overloadpacket}")
    raise TypeError(f"an op cost is keyed by an operator such as torch.ops.aten.mm, not {op!r} "
                    f"({type(op).__name__})")


def _aten(name: str) -> OpOverloadPacket:
    """The ATen packet called ``name``; a name this torch does not have is an error, never skipped."""
    packet = getattr(aten, name, None)
    if not isinstance(packet, OpOverloadPacket):
        raise LookupError(f"archscope's cost table names aten.{name}, which is not an operator in torch "
                          f"{torch.__version__}")
    return packet


def _packets(names: Iterable[str]) -> frozenset[OpOverloadPacket]:
    return frozenset(_aten(name) for name in names)


def _add(ops: Iterable[Any], kind: str, formula: Formula, *, replace: bool, op_class: str = "") -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if op_class and op_class not in OP_CLASSES:
        raise ValueError(f"op_class must be one of {', '.join(OP_CLASSES)} (or empty), not {op_class!r}")
    if not callable(formula):
        raise TypeError(f"the formula must be callable, not {formula!r}")
    packets = [as_packet(op) for op in ops]
    for packet in packets:  # check every op before registering any
        if packet in _REGISTRY and not replace:
            raise ValueError(f"{packet} already has an op cost; pass replace=True to override it")
    for packet in packets:
        _REGISTRY[packet] = OpCost(packet, kind, formula, op_class)


def op_cost(*ops: Any, kind: str, op_class: str = "", replace: bool = False) -> Callable[[Formula], Formula]:
    """Decorator: ``formula`` gives the ``(mac_flops, other_flops)`` of one call of each of ``ops``.

    ``@op_cost(aten.convolution, aten._convolution, kind="mac", op_class="conv")``. ``op_class`` (a key of
    :data:`archscope.vocab.OP_CLASSES`) says whose calibrated throughput the roofline uses for these ops. An op
    registered twice raises, unless ``replace=True``.
    """

    def register(formula: Formula) -> Formula:
        _add(ops, kind, formula, replace=replace, op_class=op_class)
        return formula

    return register


def register_op_cost(op: Any, formula: Callable[[tuple, dict, list], Any], *, kind: str = "other",
                     replace: bool = False, op_class: str = "") -> None:
    """Count ``op`` (an operator packet, e.g. ``torch.ops.mylib.myop``) with ``formula`` from now on.

    ``formula(args, kwargs, outs)`` sees the call's arguments and its list of output tensors (on ``meta``: read
    ``.shape``), and returns the call's FLOPs: an int, counted as ``kind`` ("other" or "mac", i.e. multiply-adds
    x 2), or a ``(mac_flops, other_flops)`` pair. A formula returning 0 marks an op as known to compute nothing.
    An op that already has a cost (archscope's own included) raises unless ``replace=True``;
    :func:`unregister_op_cost` takes a registration back. ``op_class`` (a key of ``archscope.vocab.OP_CLASSES``)
    lets a calibrated roofline time the op with that class's figures; without one it uses the device's one peak
    and bandwidth.
    """
    _add([op], kind, _as_pair(formula, kind), replace=replace, op_class=op_class)


def unregister_op_cost(op: Any) -> None:
    """Remove the cost registered for ``op``; archscope's own formula comes back if a user's had replaced it."""
    packet = as_packet(op)
    if packet not in _REGISTRY:
        raise KeyError(f"{packet} has no op cost")
    if packet in _BUILTIN:
        _REGISTRY[packet] = _BUILTIN[packet]
    else:
        del _REGISTRY[packet]


def _as_pair(formula: Callable, kind: str) -> Formula:
    """A user formula that may return an int, as one that returns (mac_flops, other_flops)."""

    def pair(args, kwargs, outs):
        flops = formula(args, kwargs, outs)
        if isinstance(flops, tuple):
            return int(flops[0]), int(flops[1])
        return (int(flops), 0) if kind == "mac" else (0, int(flops))

    pair.__wrapped__ = formula  # type: ignore[attr-defined]  # for introspection, as functools.wraps would set it
    return pair


def cost_of(op: OpOverloadPacket) -> OpCost | None:
    """The registered cost of ``op`` (an identity-hash lookup), or None."""
    return _REGISTRY.get(op)


def rule_for(op: OpOverloadPacket) -> Formula | None:
    """The formula of ``op``, or None when it has none."""
    cost = _REGISTRY.get(op)
    return None if cost is None else cost.formula


def registered_ops() -> dict[OpOverloadPacket, OpCost]:
    """A copy of the registry: every operator with a cost."""
    return dict(_REGISTRY)


# ------------------------------------------------------------------------------------------- the formulas


def _numel(t: Any) -> int:
    return prod(t.shape)


def _is_tensor(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype")


def _arg(args, kwargs, index, name, default=None):
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def conv_mac(x_shape, w_shape, out_shape, transposed: bool) -> int:
    """``FlopCounterMode``'s convolution formula: batch * spatial * prod(w_shape) * 2."""
    spatial = (x_shape if transposed else out_shape)[2:]
    return 2 * x_shape[0] * prod(spatial) * prod(w_shape)


@op_cost(aten.convolution, aten._convolution, aten.convolution_overrideable, aten.mkldnn_convolution, kind="mac",
         op_class="conv")
def _convolution(args, kwargs, outs):
    x, w = args[0], args[1]
    bias = _arg(args, kwargs, 2, "bias")
    transposed = bool(_arg(args, kwargs, 6, "transposed", False))
    out = outs[0]
    mac = conv_mac(list(x.shape), list(w.shape), list(out.shape), transposed)
    return mac, (_numel(out) if bias is not None else 0)


@op_cost(aten.cudnn_convolution, kind="mac", op_class="conv")
def _cudnn_convolution(args, kwargs, outs):  # cudnn_convolution(self, weight, padding, ...): no bias
    return conv_mac(list(args[0].shape), list(args[1].shape), list(outs[0].shape), False), 0


@op_cost(aten._slow_conv2d_forward, kind="mac", op_class="conv")
def _slow_conv(args, kwargs, outs):  # _slow_conv2d_forward(self, weight, kernel_size, bias, stride, padding)
    out = outs[0]
    return conv_mac(list(args[0].shape), list(args[1].shape), list(out.shape), False), \
        (_numel(out) if _arg(args, kwargs, 3, "bias") is not None else 0)


@op_cost(aten.mm, aten._scaled_mm, kind="mac", op_class="matmul")
def _mm(args, kwargs, outs):
    a, b = args[0], args[1]
    m, k = a.shape
    return 2 * m * k * b.shape[1], 0


@op_cost(aten.addmm, kind="mac", op_class="matmul")
def _addmm(args, kwargs, outs):
    a, b = args[1], args[2]
    m, k = a.shape
    return 2 * m * k * b.shape[1], _numel(outs[0])


@op_cost(aten.bmm, kind="mac", op_class="matmul")
def _bmm(args, kwargs, outs):
    a, b = args[0], args[1]
    bs, m, k = a.shape
    return 2 * bs * m * k * b.shape[2], 0


@op_cost(aten.baddbmm, kind="mac", op_class="matmul")
def _baddbmm(args, kwargs, outs):
    a, b = args[1], args[2]
    bs, m, k = a.shape
    return 2 * bs * m * k * b.shape[2], _numel(outs[0])


@op_cost(aten.dot, aten.vdot, kind="mac", op_class="matmul")
def _dot(args, kwargs, outs):
    return 2 * args[0].shape[0], 0


@op_cost(aten.mv, kind="mac", op_class="matmul")
def _mv(args, kwargs, outs):
    m, k = args[0].shape
    return 2 * m * k, 0


@op_cost(aten.addmv, kind="mac", op_class="matmul")
def _addmv(args, kwargs, outs):
    m, k = args[1].shape
    return 2 * m * k, m


def sdpa_mac(q_shape, k_shape, v_shape) -> tuple[int, int]:
    """(mac_flops, attention scores) for (B, H, L, D) query/key/value shapes, as ``FlopCounterMode`` counts it."""
    b, h, lq, dq = q_shape[0], q_shape[1], q_shape[-2], q_shape[-1]
    lk, dv = k_shape[-2], v_shape[-1]
    scores = b * h * lq * lk
    return 2 * scores * dq + 2 * scores * dv, scores


def _sdpa_bhld(mask_index: int | None, mask_name: str | None) -> Formula:
    """SDPA kernels with (B, H, L, D) operands; the mask (if the kernel takes one) is argument ``mask_index`` or
    keyword ``mask_name``."""

    def formula(args, kwargs, outs):
        q, k, v = args[0], args[1], args[2]
        mac, scores = sdpa_mac(list(q.shape), list(k.shape), list(v.shape))
        mask = None
        if mask_name is not None:
            mask = _arg(args, kwargs, mask_index if mask_index is not None else 10**6, mask_name)
        return mac, scores * (SDPA_OTHER_PER_SCORE + (1 if mask is not None else 0))

    return formula


op_cost(aten._scaled_dot_product_flash_attention_for_cpu, kind="mac", op_class="matmul")(_sdpa_bhld(None, "attn_mask"))
op_cost(aten._scaled_dot_product_flash_attention, kind="mac", op_class="matmul")(_sdpa_bhld(None, None))
op_cost(aten._scaled_dot_product_efficient_attention, aten._scaled_dot_product_cudnn_attention,
        kind="mac", op_class="matmul")(_sdpa_bhld(3, "attn_bias"))


@op_cost(aten._flash_attention_forward, aten._efficient_attention_forward, kind="mac", op_class="matmul")
def _sdpa_blhd(args, kwargs, outs):  # _flash_attention_forward / _efficient_attention_forward: (B, L, H, D)
    q, k, v = args[0], args[1], args[2]
    qs, ks, vs = list(q.shape), list(k.shape), list(v.shape)
    mac, scores = sdpa_mac([qs[0], qs[2], qs[1], qs[3]], [ks[0], ks[2], ks[1], ks[3]], [vs[0], vs[2], vs[1], vs[3]])
    return mac, scores * SDPA_OTHER_PER_SCORE


def _per_output_element(cost: int) -> Formula:
    """``cost`` FLOPs per element of the first output (elementwise operators, resizing)."""

    def formula(args, kwargs, outs):
        return 0, cost * _numel(outs[0])

    return formula


def _register_elementwise() -> None:
    """:data:`ELEMENTWISE` and its in-place variants, resolved to packets (a name torch lacks is an error)."""
    for name, cost in ELEMENTWISE.items():
        names = [name] if name in NO_INPLACE_VARIANT else [name, name + "_"]
        op_cost(*(_aten(n) for n in names), kind="other", op_class="elementwise")(_per_output_element(cost))


def _register_resize() -> None:
    for name, cost in RESIZE.items():
        op_cost(_aten(name), kind="other", op_class="resize")(_per_output_element(cost))


_register_elementwise()
_register_resize()


@op_cost(aten.native_batch_norm, aten._native_batch_norm_legit_no_training, aten._native_batch_norm_legit,
         aten.cudnn_batch_norm, aten.miopen_batch_norm, kind="other", op_class="softmax_norm")
def _batch_norm(args, kwargs, outs):
    return 0, NORMALISATION["batch_norm"] * _numel(outs[0])


@op_cost(aten.native_layer_norm, kind="other", op_class="softmax_norm")
def _layer_norm(args, kwargs, outs):  # native_layer_norm(input, normalized_shape, weight, bias, eps)
    affine = _arg(args, kwargs, 2, "weight") is not None or _arg(args, kwargs, 3, "bias") is not None
    return 0, NORMALISATION["layer_norm" if affine else "layer_norm_no_affine"] * _numel(args[0])


@op_cost(aten.native_group_norm, kind="other", op_class="softmax_norm")
def _group_norm(args, kwargs, outs):  # native_group_norm(input, weight, bias, N, C, HxW, group, eps)
    affine = _arg(args, kwargs, 1, "weight") is not None or _arg(args, kwargs, 2, "bias") is not None
    return 0, NORMALISATION["group_norm" if affine else "group_norm_no_affine"] * _numel(args[0])


@op_cost(aten._softmax, aten._log_softmax, aten._safe_softmax, aten.softmax, aten.log_softmax, kind="other",
         op_class="softmax_norm")
def _softmax(args, kwargs, outs):
    return 0, NORMALISATION["softmax"] * _numel(outs[0])


@op_cost(aten.sum, aten.mean, aten.amax, aten.amin, aten.prod, aten.any, aten.all, aten.argmax, aten.argmin,
         aten.logsumexp, aten.norm, aten.linalg_vector_norm, kind="other", op_class="softmax_norm")
def _reduction(args, kwargs, outs):
    return 0, NORMALISATION["reduction"] * _numel(args[0])


@op_cost(aten.max, aten.min, kind="other", op_class="softmax_norm")
def _reduction_or_binary(args, kwargs, outs):
    """``max``/``min``: a reduction (``max.dim``, ``max.default``) or, with two tensors, an elementwise select."""
    if len(args) > 1 and _is_tensor(args[1]):
        return 0, _numel(outs[0])
    return _reduction(args, kwargs, outs)


@op_cost(aten.var, aten.std, aten.var_mean, aten.std_mean, kind="other", op_class="softmax_norm")
def _var(args, kwargs, outs):
    return 0, NORMALISATION["var"] * _numel(args[0])


@op_cost(aten.max_pool1d, aten.max_pool2d, aten.max_pool3d, aten.max_pool2d_with_indices,
         aten.max_pool3d_with_indices, aten.avg_pool1d, aten.avg_pool2d, aten.avg_pool3d, kind="other",
         op_class="pooling")
def _pool(args, kwargs, outs):  # max_pool2d_with_indices / avg_pool2d (self, kernel_size, ...)
    kernel = args[1]
    kernel = [kernel] if isinstance(kernel, int) else list(kernel)
    out = outs[0]
    dims = len(out.shape) - 2 if len(kernel) == 1 else len(kernel)
    if len(kernel) == 1:
        kernel = kernel * max(dims, 1)
    return 0, prod(kernel) * _numel(out)


def adaptive_windows(in_size: int, out_size: int) -> int:
    """Total length of the windows ``adaptive_*_pool`` slices along one axis: [floor(j*I/O), ceil((j+1)*I/O))."""
    return sum(-(-(j + 1) * in_size // out_size) - (j * in_size // out_size) for j in range(out_size))


@op_cost(aten._adaptive_avg_pool2d, aten._adaptive_avg_pool3d, aten.adaptive_avg_pool1d, aten.adaptive_max_pool2d,
         aten.adaptive_max_pool1d, aten.adaptive_max_pool3d, kind="other", op_class="pooling")
def _adaptive_pool(args, kwargs, outs):
    x, out = args[0], outs[0]
    xs, os_ = list(x.shape), list(out.shape)
    spatial = len(args[1]) if not isinstance(args[1], int) else 1
    lead = prod(xs[: len(xs) - spatial])
    total = lead
    for i, o in zip(xs[-spatial:], os_[-spatial:]):
        total *= adaptive_windows(i, o)
    return 0, total


# ------------------------------------------------------------------------------------------------ backward
#: Backward kernels (what ``loss.backward()`` dispatches; :mod:`archscope.analysis.training`): FLOPs per element of
#: the gradient they write, from the derivative's formula. ``silu``: g*s*(1 + x*(1 - s)) with s = sigmoid(x) (4)
#: = 9; ``sigmoid``: g*y*(1 - y) = 3; ``tanh``: g*(1 - y*y) = 3; the norms: recompute x-hat (2), two reductions
#: sum(g) and sum(g*x-hat) (3) and g - mean - x-hat*mean, times invstd*weight (4) = 9; softmax: y*(g - sum(g*y)) = 4.
BACKWARD_ELEMENTWISE: dict[str, int] = {
    "threshold_backward": 1, "silu_backward": 9, "sigmoid_backward": 3, "tanh_backward": 3,
    "hardswish_backward": 4, "hardsigmoid_backward": 2, "hardtanh_backward": 2, "leaky_relu_backward": 2,
    "gelu_backward": 10, "elu_backward": 3, "mish_backward": 12, "softplus_backward": 5,
    "native_batch_norm_backward": 9, "native_layer_norm_backward": 9, "native_group_norm_backward": 9,
    "_softmax_backward_data": 4, "_log_softmax_backward_data": 4,
    "_adaptive_avg_pool2d_backward": 1,
}
#: Backward kernels charged per element of the incoming gradient (``args[0]``): pooling and resizing scatter each
#: one back (max pool 1, nearest resize 1 add; an average pool's kernel elements and bilinear's 7 as forward).
BACKWARD_PER_GRAD_OUT: dict[str, int] = {
    "max_pool2d_with_indices_backward": 1, "max_pool3d_with_indices_backward": 1,
    "upsample_nearest1d_backward": 1, "upsample_nearest2d_backward": 1, "upsample_nearest3d_backward": 1,
    "_upsample_nearest_exact2d_backward": 1, "upsample_bilinear2d_backward": 7,
}


@op_cost(aten.convolution_backward, kind="mac", op_class="conv")
def _convolution_backward(args, kwargs, outs):
    """The input gradient and the weight gradient each take exactly as many multiply-adds as the forward
    (``2*N*Cout*Hout*Wout*Cin/groups*kh*kw``); the bias gradient sums the incoming gradient (1 per element, in
    other). torch 2.13-2.14's ``FlopCounterMode`` formula ignores ``groups`` for the weight gradient and so counts a
    grouped or depthwise convolution's weight gradient ``groups`` times; this one does not."""
    grad_out, x, w = args[0], args[1], args[2]
    transposed = bool(_arg(args, kwargs, 7, "transposed", False))
    mask = _arg(args, kwargs, 10, "output_mask", (True, True, True))
    gshape = list(grad_out.shape)
    # the forward convolution's output is grad_out (transposed: its input is grad_out's spatial size's source)
    forward = conv_mac(list(x.shape), list(w.shape), gshape, transposed)
    return forward * (int(bool(mask[0])) + int(bool(mask[1]))), (_numel(grad_out) if mask[2] else 0)


def _per_grad_out(cost: int) -> Formula:
    def formula(args, kwargs, outs):
        return 0, cost * _numel(args[0])

    return formula


def _backward_class(name: str) -> str:
    """The op class (vocab.OP_CLASSES) of a backward kernel: its forward's."""
    if "norm" in name or "softmax" in name:
        return "softmax_norm"
    if "pool" in name:
        return "pooling"
    if "upsample" in name:
        return "resize"
    return "elementwise"


for _name, _cost in BACKWARD_ELEMENTWISE.items():
    op_cost(_aten(_name), kind="other", op_class=_backward_class(_name))(_per_output_element(_cost))
for _name, _cost in BACKWARD_PER_GRAD_OUT.items():
    op_cost(_aten(_name), kind="other", op_class=_backward_class(_name))(_per_grad_out(_cost))


_BUILTIN.update(_REGISTRY)

# ------------------------------------------------------------------------------ operators without a formula

#: Operators that move data but compute nothing: 0 FLOPs; their inputs are read and outputs written.
DATA_MOVEMENT: frozenset[OpOverloadPacket] = _packets([
    "cat", "stack", "clone", "copy", "copy_", "_to_copy", "contiguous", "constant_pad_nd", "reflection_pad1d",
    "reflection_pad2d", "reflection_pad3d", "replication_pad1d", "replication_pad2d", "replication_pad3d",
    "_pad_circular", "pad", "repeat", "repeat_interleave", "flip", "roll", "pixel_shuffle", "pixel_unshuffle",
    "channel_shuffle", "native_channel_shuffle", "index", "index_select", "gather", "scatter", "index_put",
    "index_put_", "masked_select", "take", "tril", "triu", "fill", "fill_", "zero_", "zeros", "zeros_like", "ones",
    "ones_like", "full", "full_like", "arange", "linspace", "scalar_tensor", "_unsafe_index", "unfold_copy",
    "im2col", "col2im", "nonzero", "sort", "topk", "one_hot", "new_zeros", "new_ones", "new_full", "eye",
    "bernoulli", "rand", "randn", "rand_like", "randn_like", "normal", "uniform_", "normal_", "meshgrid",
    "lift_fresh_copy", "_reshape_copy", "embedding", "unbind_copy", "as_strided_copy", "slice_scatter",
    "select_scatter", "diagonal_scatter", "narrow_copy", "split_with_sizes_copy", "expand_copy", "permute_copy",
    "view_copy", "_local_scalar_dense",
])

#: Operators that neither compute nor move data (allocations, aliases): 0 FLOPs and 0 bytes, in addition to every
#: operator PyTorch marks as a view. ``prim.layout`` is the one non-ATen operator (``tensor.layout`` under a mode).
NO_TRAFFIC: frozenset[OpOverloadPacket] = _packets([
    "empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "_unsafe_view", "detach", "alias",
    "lift_fresh", "_reshape_alias", "lift", "resize_", "set_", "_assert_async", "_assert_tensor_metadata",
    "sym_size", "sym_stride", "sym_numel", "sym_storage_offset", "dim", "_nested_tensor_size", "record_stream",
    "_functional_assert_async", "_print", "_assert_scalar", "is_same_size", "_has_compatible_shallow_copy_type",
]) | {torch.ops.prim.layout}

#: Operators whose outputs beyond the first are bookkeeping (pooling indices, saved statistics, RNG state): only
#: the first output counts as bytes written.
FIRST_OUTPUT_ONLY: frozenset[OpOverloadPacket] = _packets([
    "max_pool2d_with_indices", "max_pool3d_with_indices", "adaptive_max_pool2d", "adaptive_max_pool1d",
    "adaptive_max_pool3d", "native_batch_norm", "_native_batch_norm_legit_no_training", "_native_batch_norm_legit",
    "native_layer_norm", "native_group_norm",
    "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention", "_flash_attention_forward",
    "_efficient_attention_forward",
])

#: Matrix products whose operands are both activations (``QK^T``, ``PV``): the "attention matmuls". Weights reach
#: the dispatcher through ``convolution`` and ``mm``/``addmm`` (``nn.Linear``); ``bmm`` and the SDPA kernels come from
#: ``q @ k.transpose(...)``-style code and ``F.scaled_dot_product_attention``. Module-hook counters never see them.
#: The counting mode marks each such call's record (``OpRecord.activation_product``) as it counts it.
ACTIVATION_MATMULS: frozenset[OpOverloadPacket] = _packets([
    "bmm", "baddbmm", "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention", "_flash_attention_forward",
    "_efficient_attention_forward",
])


def classify(op: OpOverloadPacket) -> str:
    """'mac', 'other', 'data' (moves bytes, no FLOPs), 'none' (no bytes, no FLOPs) or 'unknown'."""
    cost = _REGISTRY.get(op)
    if cost is not None:
        return cost.kind
    if op in DATA_MOVEMENT:
        return "data"
    if op in NO_TRAFFIC:
        return "none"
    return "unknown"


#: The convolutions whose class depends on the call: depthwise (``op_class`` "depthwise_conv") when each group has
#: one input channel (weight ``[Cout, 1, kh, kw]``) and there is more than one group, else dense ("conv").
CLASS_BY_CALL: frozenset[OpOverloadPacket] = _packets([
    "convolution", "_convolution", "convolution_overrideable", "mkldnn_convolution", "cudnn_convolution",
    "_slow_conv2d_forward",
])


def op_class(op: OpOverloadPacket, args: tuple | list = ()) -> str:
    """The op class (a key of :data:`archscope.vocab.OP_CLASSES`, or "" for none) of one call of ``op``.

    The one mapping from ATen operators to the kinds a calibrated roofline times differently: the class each
    registered cost names (:func:`op_cost`), "copy" for :data:`DATA_MOVEMENT`, and for a convolution "depthwise_conv"
    or "conv" by its weight (``args``: the call's arguments; without them a convolution is "conv").
    """
    cost = _REGISTRY.get(op)
    if cost is not None:
        transposed = op in (aten.convolution, aten._convolution) and len(args) > 6 and args[6] is True
        if op in CLASS_BY_CALL and len(args) > 1 and not transposed and _is_depthwise(args[0], args[1]):
            return "depthwise_conv"
        return cost.op_class
    if op in DATA_MOVEMENT:
        return "copy"
    return ""


#: Matrix products: (index of the left operand, of the right operand) among their arguments.
_MATMUL_OPERANDS = {aten.mm: (0, 1), aten.bmm: (0, 1), aten.addmm: (1, 2), aten.baddbmm: (1, 2)}
_POOLS = frozenset([aten.max_pool2d_with_indices, aten.max_pool2d, aten.avg_pool2d, aten.max_pool1d,
                    aten.avg_pool1d, aten.max_pool3d_with_indices, aten.avg_pool3d])


#: ``operand_age`` of a weight while the forward runs: one forward's writes, known only at its end
#: (:func:`settle_operand_ages` puts it in).
WEIGHT_AGE = -1.0


def op_features(op_class: str, op: OpOverloadPacket, args: tuple | list, outs: list, flops: int,
                nbytes: int, operand_age: float | None = None) -> tuple[float, ...]:
    """The shape features of one call (``vocab.CLASS_FEATURES[op_class]``, in that order), or () when the call's
    arguments do not have the shapes the features read (the roofline then blends its class by bytes alone).

    The same function names a calibration kernel's features (``devices.calibrate``), so a model's op and the
    kernels measured for it are described alike. ``operand_age``: bytes written since the op's oldest operand was
    (:data:`WEIGHT_AGE` for a weight; None: the op's own bytes, as in a loop that calls it again and again)."""
    try:
        values = _features(op_class, op, args, outs, flops, nbytes)
    except (AttributeError, IndexError, TypeError, ValueError):
        return ()
    names = CLASS_FEATURES.get(op_class, ())
    if values is None:
        return ()
    shaped = tuple(float(max(v, 1e-3)) for v in values)
    if names and names[-1] == "operand_age":
        age = float(nbytes if operand_age is None else operand_age)
        shaped += (age if age == WEIGHT_AGE else max(age, 1.0),)
    return shaped if len(shaped) == len(names) else ()


def settle_operand_ages(ops: list, forward_bytes: int) -> list:
    """``ops`` with every :data:`WEIGHT_AGE` replaced by ``forward_bytes``: a weight was last read one forward ago,
    and a forward writes that many bytes."""
    import dataclasses

    out: list = []
    for op in ops:
        if op.features and op.features[-1] == WEIGHT_AGE:
            op = dataclasses.replace(op, features=op.features[:-1] + (float(max(forward_bytes, 1)),))
        out.append(op)
    return out


def _features(op_class: str, op: OpOverloadPacket, args, outs, flops: int, nbytes: int) -> tuple | None:
    if not outs:
        return None
    out: Any = outs[0]
    if op_class in ("conv", "depthwise_conv"):
        if op not in CLASS_BY_CALL or not (_is_tensor(args[1]) and _is_tensor(out)) or len(out.shape) < 3:
            return None
        w = args[1]
        pixels = out.numel() // out.shape[1]
        stride = prod(args[3]) if len(args) > 3 and isinstance(args[3], (list, tuple)) else 1
        area = prod(w.shape[2:])
        if op_class == "depthwise_conv":
            return out.shape[1], pixels, area, stride
        return prod(w.shape[1:]), out.shape[1], pixels, area, stride
    if op_class == "matmul":
        where = _MATMUL_OPERANDS.get(op)
        if where is None:
            return None
        a, b = args[where[0]], args[where[1]]
        return a.numel() // a.shape[-1], a.shape[-1], b.shape[-1]
    if op_class in ("softmax_norm", "elementwise"):
        return nbytes, flops / nbytes if nbytes else 0.0
    if op_class == "pooling":
        if op not in _POOLS or not isinstance(args[1], (list, tuple, int)):
            return None
        return nbytes, prod(args[1]) if isinstance(args[1], (list, tuple)) else args[1] ** 2
    if op_class == "resize":
        return nbytes, out.shape[-1]
    if op_class == "copy":
        strided = any(_is_tensor(t) and not t.is_contiguous() for t in _flat(args))
        return nbytes, 2 if strided else 1
    return None


def _flat(args) -> list[Any]:
    out: list[Any] = []
    for a in args:
        if isinstance(a, (list, tuple)):
            out.extend(a)
        else:
            out.append(a)
    return out


def _is_depthwise(x: Any, w: Any) -> bool:
    if not (_is_tensor(x) and _is_tensor(w)) or len(w.shape) < 3 or len(x.shape) < 3:
        return False
    return w.shape[1] == 1 and x.shape[1] > 1


def op_flops(op: OpOverloadPacket, args, kwargs, outs) -> tuple[int, int]:
    """(mac_flops, other_flops) of one call of ``op``; (0, 0) for data movement and unknown operators."""
    formula = rule_for(op)
    if formula is None:
        return 0, 0
    return formula(args, kwargs or {}, outs)


def cost_table_markdown() -> str:
    """The cost table as Markdown (for the README and ``archscope explain``)."""
    rows = [
        ("convolution", "mac",
         "2·N·Cout·Hout·Wout·Cin/groups·kh·kw (transposed: input spatial size); bias: +1/output in other"),
        ("mm / addmm", "mac", "2·M·K·N; addmm bias: +1/output in other"),
        ("bmm / baddbmm", "mac", "2·B·M·K·N; baddbmm bias: +1/output in other"),
        ("dot / mv", "mac", "2·K / 2·M·K"),
        ("SDPA (flash, flash_for_cpu, efficient, cudnn)", "mac",
         "2·B·H·Lq·Lk·(Dqk+Dv); other: 6/score (+1 with a mask)"),
        ("matmul, linear, einsum", "—", "counted as the mm/addmm/bmm they dispatch to"),
        ("batch_norm (inference)", "other", "2/element (folded scale and shift)"),
        ("layer_norm, group_norm", "other", "7/element (5 without affine)"),
        ("softmax, log_softmax", "other", "5/element"),
        ("sum, mean, amax, ... (reductions)", "other", "1/input element (var, std: 3)"),
        ("max/avg pooling", "other", "kernel elements/output element (adaptive: exact windows)"),
        ("upsample nearest / linear / bilinear / bicubic / trilinear; grid_sample", "other",
         "0 / 3 / 7 / 31 / 15 per output element; 7"),
    ]
    groups: dict[int, list[str]] = {}
    for name, cost in ELEMENTWISE.items():
        groups.setdefault(cost, []).append(name)
    for cost in sorted(groups):
        rows.append((", ".join(sorted(groups[cost])), "other", f"{cost}/output element"))
    rows.append(("cat, clone, copy, pad, _to_copy, factories, ...", "—", "0 FLOPs; bytes read + written"))
    rows.append(("views (view, permute, transpose, expand, split, slice, ...)", "—", "0 FLOPs, 0 bytes"))
    lines = ["| operator | kind | FLOPs |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)

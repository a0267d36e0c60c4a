"""Fast execution on the ``meta`` device: operators answered from their shapes alone.

Start-up cost (see the README's "Start-up" notes): on ``meta`` the common operators (convolution, batch norm,
elementwise, ``cat``, pooling, resizing, matrix products, softmax, layer norm) are answered with
``torch.empty(shape, device="meta")`` instead of running torch's meta kernels, several of which import
``torch.fx.experimental.symbolic_shapes`` and ``torch._dynamo`` on first use (more than a second). Defining any
``TorchDispatchMode`` subclass also wraps ``__torch_dispatch__`` with ``torch._disable_dynamo`` -- which imports
``torch._dynamo`` -- unless the subclass's private ``_should_skip_dynamo`` classmethod returns False; the modes here
and in :mod:`archscope.analysis.mode` do that (on torch versions without the hook the method is simply unused).
Operators without a shape rule run their real meta kernel, so the answer is always right, only possibly slower.

The builder uses :class:`shape_only` to propagate shapes; the counting mode uses :func:`shape_rule_for`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten

# ----------------------------------------------------------------------------------------- shape rules
# Each rule returns the op's output (meta tensors), or None to let the real meta kernel answer (and raise its own
# error message where the arguments are wrong).


def _meta(shape, dtype) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype, device="meta")


def _list(value, n: int) -> list[int]:
    if isinstance(value, int):
        return [value] * n
    value = list(value)
    return value * n if len(value) == 1 else value


def _plain_layout(x: torch.Tensor) -> bool:
    """Inputs whose CPU kernels (conv, batch norm, pooling, resize, pad) write a plain contiguous output: contiguous
    ones, and NCHW-ordered views such as channel slices. Channels-last-like or broadcast inputs are left to the
    kernels, which keep their layout."""
    if x.is_contiguous():
        return True
    return x.dim() == 4 and x.stride()[1] != 1 and 0 not in x.stride() and x.stride()[3] == 1


def _conv_shape(args, kwargs):
    x, w = args[0], args[1]
    if len(args) < 9 or kwargs or x.dim() != w.dim() or not _plain_layout(x):
        return None
    stride, padding, dilation, transposed, output_padding, groups = args[3:9]
    nd = x.dim() - 2
    stride, padding, dilation = _list(stride, nd), _list(padding, nd), _list(dilation, nd)
    if transposed:
        if x.shape[1] != w.shape[0]:
            return None
        c_out = w.shape[1] * groups
        out_pad = _list(output_padding, nd)
        sizes = [(x.shape[2 + i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (w.shape[2 + i] - 1)
                 + out_pad[i] + 1 for i in range(nd)]
    else:
        if x.shape[1] != w.shape[1] * groups or w.shape[0] % groups:
            return None
        c_out = w.shape[0]
        sizes = [(x.shape[2 + i] + 2 * padding[i] - dilation[i] * (w.shape[2 + i] - 1) - 1) // stride[i] + 1
                 for i in range(nd)]
    if min(sizes, default=1) < 1:
        return None
    return _meta((x.shape[0], c_out, *sizes), x.dtype)


def _like(x: torch.Tensor, dtype=None) -> torch.Tensor:
    """``torch.empty_like(x)`` (preserving a dense layout) without going through torch's Python reference
    implementation of ``empty_like``, which imports torch.fx.experimental.symbolic_shapes on meta."""
    dtype = dtype or x.dtype
    if x.is_contiguous():
        return torch.empty(x.shape, dtype=dtype, device="meta")
    stride = x.stride()
    if 0 not in stride and _dense(x.shape, stride):
        return torch.empty_strided(x.shape, stride, dtype=dtype, device="meta")
    return torch.empty(x.shape, dtype=dtype, device="meta")


def _dense(shape, stride) -> bool:
    expected = 1
    for size, st in sorted(zip(shape, stride), key=lambda p: p[1]):
        if size != 1 and st != expected:
            return False
        expected *= size
    return True


def _iter_output(shape, dtype, operands, scalar_operand: bool) -> torch.Tensor:
    """An elementwise op's output with the layout TensorIterator gives it on CPU (``fast_set_up`` when every
    operand has the output's shape and one common layout, else dimensions sorted by the operands' strides)."""
    shape = tuple(shape)
    nd = len(shape)
    if nd <= 1:
        return _meta(shape, dtype)
    if not scalar_operand and all(tuple(t.shape) == shape for t in operands):
        if all(t.is_contiguous() for t in operands):
            return _meta(shape, dtype)
        if nd == 4 and all(t.is_contiguous(memory_format=torch.channels_last) for t in operands):
            return torch.empty(shape, dtype=dtype, device="meta", memory_format=torch.channels_last)
        first = operands[0].stride()
        if all(_dense(t.shape, t.stride()) and t.stride() == first for t in operands):
            return torch.empty_strided(shape, first, dtype=dtype, device="meta")
    strides = []
    for t in operands:
        offset = nd - t.dim()
        st = [0] * nd
        for i, (size, stride) in enumerate(zip(t.shape, t.stride())):
            st[offset + i] = 0 if (size == 1 and shape[offset + i] != 1) else stride * t.element_size()
        strides.append(st)

    def should_swap(d0, d1):
        for st in strides:
            s0, s1 = st[d0], st[d1]
            if s0 == 0 or s1 == 0:
                continue
            if s0 < s1:
                return -1
            if s0 > s1:
                return 1
            if shape[d0] > shape[d1]:
                return 1
        return 0

    perm = list(range(nd - 1, -1, -1))  # perm[0]: the fastest-moving dimension
    for i in range(1, nd):
        d1 = i
        for d0 in range(i - 1, -1, -1):
            cmp = should_swap(perm[d0], perm[d1])
            if cmp > 0:
                perm[d0], perm[d1] = perm[d1], perm[d0]
                d1 = d0
            elif cmp < 0:
                break
    if perm == list(range(nd - 1, -1, -1)):
        return _meta(shape, dtype)
    out_stride = [0] * nd
    step = 1
    for d in perm:
        out_stride[d] = step
        step *= shape[d]
    return torch.empty_strided(shape, out_stride, dtype=dtype, device="meta")


def _unary_shape(args, kwargs):
    x = args[0]
    if not x.is_floating_point():
        return None
    return _iter_output(x.shape, x.dtype, [x], False)


def _inplace_shape(args, kwargs):
    x = args[0]
    for other in args[1:]:
        if isinstance(other, torch.Tensor) and _broadcast(x.shape, other.shape) != tuple(x.shape):
            return None
    return x


def _broadcast(a, b) -> tuple[int, ...] | None:
    a, b = tuple(a), tuple(b)
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            return None
    return tuple(out)


def _binary_shape(args, kwargs):
    a, b = args[0], args[1]
    if kwargs.keys() - {"alpha"} or len(args) > 3 or not isinstance(a, torch.Tensor):
        return None
    dtype = torch.result_type(a, b)
    if not dtype.is_floating_point:
        return None
    operands = [a]
    scalar = not isinstance(b, torch.Tensor)
    shape = tuple(a.shape)
    if not scalar:
        shape = _broadcast(a.shape, b.shape)
        if shape is None:
            return None
        operands.append(b)
    return _iter_output(shape, dtype, operands, scalar)


def _cat_shape(args, kwargs):
    tensors = [t for t in args[0] if not (t.dim() == 1 and t.shape[0] == 0)]
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    if not tensors or kwargs.keys() - {"dim"}:
        return None
    first = tensors[0]
    nd = first.dim()
    dim = dim + nd if dim < 0 else dim
    dtype = first.dtype
    total = 0
    for t in tensors:
        if t.dim() != nd or t.dtype != dtype:
            return None
        for i in range(nd):
            if i != dim and t.shape[i] != first.shape[i]:
                return None
        total += t.shape[dim]
    shape = list(first.shape)
    shape[dim] = total
    if all(t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last)
           for t in tensors):
        return None
    return _meta(shape, dtype)


def _batch_norm_shape(args, kwargs):
    x = args[0]
    training = args[5] if len(args) > 5 else kwargs.get("training")
    if training or x.dim() < 2 or not _plain_layout(x):
        return None
    # CPU returns empty saved statistics in inference (the meta kernel returns C-sized ones): follow the CPU.
    return _meta(x.shape, x.dtype), _meta((0,), x.dtype), _meta((0,), x.dtype)


def _pool_out(size, k, pad, stride, dil, ceil):
    out = (size + 2 * pad - dil * (k - 1) - 1 + (stride - 1 if ceil else 0)) // stride + 1
    if ceil and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pool_common(args, kwargs, with_dilation):
    x = args[0]
    if kwargs or x.dim() != 4 or not _plain_layout(x):
        return None
    k = _list(args[1], 2)
    stride = _list(args[2], 2) if len(args) > 2 and args[2] not in ([], ()) else k
    padding = _list(args[3], 2) if len(args) > 3 else [0, 0]
    if with_dilation:
        dilation = _list(args[4], 2) if len(args) > 4 else [1, 1]
        ceil = bool(args[5]) if len(args) > 5 else False
    else:
        dilation = [1, 1]
        ceil = bool(args[4]) if len(args) > 4 else False
    sizes = [_pool_out(x.shape[2 + i], k[i], padding[i], stride[i], dilation[i], ceil) for i in range(2)]
    if min(sizes) < 1 or any(p > kk // 2 for p, kk in zip(padding, k)):
        return None
    return (x.shape[0], x.shape[1], *sizes), x.dtype


def _max_pool_shape(args, kwargs):
    got = _pool_common(args, kwargs, True)
    if got is None:
        return None
    shape, dtype = got
    return _meta(shape, dtype), _meta(shape, torch.int64)


def _avg_pool_shape(args, kwargs):
    if len(args) > 6 and args[6] is not None:
        return None
    got = _pool_common(args, kwargs, False)
    return None if got is None else _meta(*got)


def _upsample_shape(args, kwargs, packet_name):
    x = args[0]
    nd = x.dim() - 2
    if kwargs or nd < 1 or not _plain_layout(x):
        return None
    # .vec(input, output_size, scale_factors) and .default(input, output_size, [align_corners,] scales...)
    output_size = args[1] if len(args) > 1 else None
    if output_size is not None:
        sizes = list(output_size)
    else:
        scales = args[-1] if packet_name.endswith(".vec") else None
        if scales is None:
            return None
        sizes = [int(math.floor(x.shape[2 + i] * float(scales[i]))) for i in range(nd)]
    if len(sizes) != nd or min(sizes) < 1:
        return None
    return _meta((*x.shape[:2], *sizes), x.dtype)


def _reduce_shape(args, kwargs):
    x = args[0]
    dims = args[1] if len(args) > 1 else kwargs.get("dim")
    keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
    if kwargs.keys() - {"dim", "keepdim"} or len(args) > 3 or not x.is_floating_point():
        return None
    nd = x.dim()
    if dims is None or (isinstance(dims, (list, tuple)) and len(dims) == 0):
        dims = list(range(nd))
    dims = {d + nd if d < 0 else d for d in _list(dims, 1)}
    shape = [1 if i in dims else s for i, s in enumerate(x.shape)] if keepdim else \
        [s for i, s in enumerate(x.shape) if i not in dims]
    return _meta(shape, x.dtype)


def _mm_shape(args, kwargs):
    a, b = args[0], args[1]
    if kwargs or a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[0] or a.dtype != b.dtype:
        return None
    return _meta((a.shape[0], b.shape[1]), a.dtype)


def _addmm_shape(args, kwargs):
    out = _mm_shape(args[1:3], kwargs.keys() - {"beta", "alpha"} and kwargs)
    if out is None or _broadcast(args[0].shape, out.shape) != tuple(out.shape):
        return None
    return out


def _bmm_shape(args, kwargs):
    a, b = args[0], args[1]
    if kwargs or a.dim() != 3 or b.dim() != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1] \
            or a.dtype != b.dtype:
        return None
    return _meta((a.shape[0], a.shape[1], b.shape[2]), a.dtype)


def _baddbmm_shape(args, kwargs):
    out = _bmm_shape(args[1:3], kwargs.keys() - {"beta", "alpha"} and kwargs)
    if out is None or _broadcast(args[0].shape, out.shape) != tuple(out.shape):
        return None
    return out


def _softmax_shape(args, kwargs):
    x = args[0]
    if not x.is_floating_point() or (len(args) > 2 and args[2] and x.dtype != torch.float32):
        return None
    return _meta(x.shape, x.dtype)


def _layer_norm_shape(args, kwargs):
    x, normalized = args[0], list(args[1])
    axis = x.dim() - len(normalized)
    if axis < 0 or list(x.shape[axis:]) != normalized or not x.is_floating_point():
        return None
    stat = (*x.shape[:axis], *([1] * len(normalized)))
    return _meta(x.shape, x.dtype), _meta(stat, x.dtype), _meta(stat, x.dtype)


def _sdpa_cpu_shape(args, kwargs):
    q, k, v = args[0], args[1], args[2]
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        return None
    b, h, lq, _ = q.shape
    out = _meta((b, h, lq, v.shape[-1]), q.dtype)
    lse = _meta((b, lq, h), torch.float32).transpose(1, 2)
    return out, lse


def _pad_shape(args, kwargs):  # constant_pad_nd(self, pad, value=0)
    x, pad = args[0], list(args[1])
    if kwargs or len(pad) % 2 or len(pad) // 2 > x.dim() or not _plain_layout(x):
        return None
    shape = list(x.shape)
    for i in range(len(pad) // 2):
        d = x.dim() - 1 - i
        shape[d] += pad[2 * i] + pad[2 * i + 1]
        if shape[d] < 0:
            return None
    return _meta(shape, x.dtype)


def _stack_shape(args, kwargs):
    tensors = list(args[0])
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    if not tensors or kwargs.keys() - {"dim"}:
        return None
    first = tensors[0]
    if any(tuple(t.shape) != tuple(first.shape) or t.dtype != first.dtype for t in tensors):
        return None
    nd = first.dim() + 1
    dim = dim + nd if dim < 0 else dim
    shape = list(first.shape)
    shape.insert(dim, len(tensors))
    return _meta(shape, first.dtype)


def _clone_shape(args, kwargs):
    fmt = kwargs.get("memory_format")
    if fmt is torch.contiguous_format:
        return _meta(args[0].shape, args[0].dtype)
    if fmt not in (None, torch.preserve_format):
        return None
    x = args[0]
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.empty(x.shape, dtype=x.dtype, device="meta", memory_format=torch.channels_last)
    if _dense(x.shape, x.stride()) and 0 not in x.stride():
        return _like(x)
    return _iter_output(x.shape, x.dtype, [x], False)


def _empty_shape(args, kwargs):
    device = kwargs.get("device")
    if device is None or torch.device(device).type != "meta" or kwargs.get("layout") not in (None, torch.strided) \
            or kwargs.get("memory_format") not in (None, torch.contiguous_format):
        return None
    if not all(isinstance(d, int) for d in args[0]):
        return None
    return _meta(tuple(args[0]), kwargs.get("dtype") or torch.get_default_dtype())


def _arange_shape(args, kwargs):
    device = kwargs.get("device")
    if device is None or torch.device(device).type != "meta" or kwargs.get("layout") not in (None, torch.strided):
        return None
    if len(args) == 1:
        start, end, step = 0, args[0], 1
    elif len(args) == 2:
        (start, end), step = args, 1
    elif len(args) == 3:
        start, end, step = args
    else:
        return None
    values = (start, end, step)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) or step == 0:
        return None
    dtype = kwargs.get("dtype")
    if dtype is None:
        dtype = torch.int64 if all(isinstance(v, int) for v in values) else torch.get_default_dtype()
    n = math.ceil((end - start) / step)
    if n < 0:
        return None
    return _meta((n,), dtype)


def _factory_shape(args, kwargs):  # zeros/ones/full/empty(size, ...)
    device = kwargs.get("device")
    if device is None or torch.device(device).type != "meta" or kwargs.get("layout") not in (None, torch.strided):
        return None
    size = args[0]
    if not all(isinstance(d, int) for d in size):
        return None
    dtype = kwargs.get("dtype")
    if dtype is None:
        if len(args) > 1 and isinstance(args[1], bool):
            dtype = torch.bool
        elif len(args) > 1 and isinstance(args[1], int):
            dtype = torch.int64
        else:
            dtype = torch.get_default_dtype()
    return _meta(tuple(size), dtype)


_UNARY = ("silu", "sigmoid", "relu", "hardswish", "hardsigmoid", "gelu", "mish", "tanh", "exp", "neg",
          "leaky_relu", "hardtanh", "elu", "softplus", "abs", "sqrt", "rsqrt", "reciprocal", "log", "erf",
          "sin", "cos", "clamp", "clamp_min", "clamp_max")
_BINARY = ("add", "sub", "mul", "div", "rsub", "maximum", "minimum", "pow")

SHAPE_RULES: dict[str, Callable] = {
    "convolution": _conv_shape,
    "native_batch_norm": _batch_norm_shape,
    "cat": _cat_shape,
    "max_pool2d_with_indices": _max_pool_shape,
    "avg_pool2d": _avg_pool_shape,
    "mean": _reduce_shape, "sum": _reduce_shape, "amax": _reduce_shape,
    "mm": _mm_shape, "addmm": _addmm_shape, "bmm": _bmm_shape, "baddbmm": _baddbmm_shape,
    "_softmax": _softmax_shape, "_safe_softmax": _softmax_shape, "_log_softmax": _softmax_shape,
    "native_layer_norm": _layer_norm_shape,
    "_scaled_dot_product_flash_attention_for_cpu": _sdpa_cpu_shape,
    "stack": _stack_shape, "clone": _clone_shape, "constant_pad_nd": _pad_shape, "empty": _empty_shape,
    "arange": _arange_shape, "zeros": _factory_shape, "ones": _factory_shape, "full": _factory_shape,
    **{name: _unary_shape for name in _UNARY},
    **{name + "_": _inplace_shape for name in _UNARY + _BINARY},
    **{name: _binary_shape for name in _BINARY},
}
_UPSAMPLE = ("upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "upsample_bilinear2d",
             "upsample_linear1d", "upsample_bicubic2d", "upsample_trilinear3d", "_upsample_nearest_exact2d")



def shape_rule_for(func: Any) -> Callable | None:
    """The shape rule of an ATen overload (``func``), or None when its real meta kernel must answer (every op
    outside the ``aten`` namespace: a user's ``mylib::add`` is not aten's ``add``)."""
    if getattr(func, "namespace", None) != "aten":
        return None
    name = func.overloadpacket.__name__
    if name in _UPSAMPLE:
        overload = f"{name}.{func._overloadname}"
        return lambda a, k, _n=overload: _upsample_shape(a, k, _n)
    return SHAPE_RULES.get(name)


class MetaShapeMode(TorchDispatchMode):
    """Answers every operator that has a shape rule from shapes; runs the others' meta kernels."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:  # torch >= 2.8 private hook: keep torch._dynamo out (see module doc)
        return False

    def __init__(self) -> None:
        super().__init__()
        self._rules: dict[Any, Callable | None] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func not in self._rules:
            self._rules[func] = shape_rule_for(func)
        rule = self._rules[func]
        out = rule(args, kwargs) if rule is not None else None
        return func(*args, **kwargs) if out is None else out


# ------------------------------------------------------------------------- SDPA on meta, routed as on CPU


def _sdpa_choice_like_cpu(q, k, v, attn_mask, dropout_p, is_causal, scale, enable_gqa) -> int:
    """The backend CPU would pick for these shapes/strides, asked of torch itself on empty CPU replicas."""

    from torch.utils._python_dispatch import _disable_current_modes

    def replica(t):
        if t is None:
            return None
        return torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device="cpu")

    try:
        with _disable_current_modes():  # asking is not part of the model: keep it out of the count
            mask = attn_mask
            if mask is not None:
                mask = torch.empty((), dtype=mask.dtype).expand(mask.shape) if mask.numel() > 1 << 22 \
                    else replica(mask)
            return int(torch._fused_sdp_choice(replica(q), replica(k), replica(v), mask, dropout_p, is_causal,
                                               scale=scale, enable_gqa=enable_gqa))
    except Exception:  # noqa: BLE001 - any doubt: the math path, which is what meta would run anyway
        return 0


class MetaSdpaAsCpu(torch.overrides.TorchFunctionMode):
    """On meta, ``F.scaled_dot_product_attention`` has no fused backend and falls back to its math decomposition,
    while on CPU it runs ``_scaled_dot_product_flash_attention_for_cpu``. This mode sends meta calls down the
    kernel CPU would choose, so meta and real CPU counts agree op for op."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if (func is torch.nn.functional.scaled_dot_product_attention
                or func is torch._C._nn.scaled_dot_product_attention):
            routed = self._route(*args, **kwargs)
            if routed is not None:
                return routed
        return func(*args, **kwargs)

    @staticmethod
    def _route(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
        if query.device.type != "meta" or enable_gqa or attn_mask is not None or query.dim() != 4:
            return None
        if _sdpa_choice_like_cpu(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa) != 1:
            return None
        return aten._scaled_dot_product_flash_attention_for_cpu(query, key, value, dropout_p, is_causal,
                                                                attn_mask=attn_mask, scale=scale)[0]




class shape_only:
    """Context manager for a plain (uncounted) forward on meta tensors that answers common operators from shapes,
    keeping torch's import-heavy meta kernels (and torch._dynamo) out of the process. Used by the builder's shape
    propagation; results are identical to running without it."""

    def __init__(self) -> None:
        self._modes = (MetaSdpaAsCpu(), MetaShapeMode())

    def __enter__(self):
        for mode in self._modes:
            mode.__enter__()
        return self

    def __exit__(self, *exc):
        for mode in reversed(self._modes):
            mode.__exit__(*exc)
        return False

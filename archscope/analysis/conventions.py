"""The GFLOPs that Ultralytics prints, reproduced so users can check archscope against numbers they know.

Two conventions, both module-hook counts of multiply-adds ("MACs") doubled, per image (batch 1):

**Current** (``gflops_ultralytics``): Ultralytics 8.4 with ``ultralytics-thop`` 2.2 (checked against 8.4.190 with
2.2.3). ``thop.profile`` hooks every module whose class (or any base class) has a rule, and a
``TorchFunctionMode`` adds the products run functionally (``torch.matmul``, ``@``, ``bmm``, ``einsum``,
``F.linear``, ``F.scaled_dot_product_attention``) while no module with a non-zero rule of its own is running.
Rules: convolution ``out elements * Cin/groups * kh*kw`` (transposed: ``in elements * Cout/groups * kh*kw``), no
bias; BatchNorm/InstanceNorm/LayerNorm/GroupNorm ``2 * input elements``, doubled when affine -- so after the final
doubling every norm costs **8 FLOPs per input element**, which is (with the adaptive average pool of ``Classify``)
the whole difference to ``FlopCounterMode``; ``Linear`` ``in_features * out elements``; adaptive average pool
``sum of its windows + out elements``; average pool ``sum of its windows + out elements``; ``nn.Softmax`` modules
``rows * (3n - 1)`` (functional ``softmax`` is not counted); ``nn.Upsample`` nearest 0, linear 5, bilinear 11,
bicubic 259, trilinear 31 per output element; ``PReLU`` 1 per element; ``nn.MultiheadAttention`` its projections,
products and softmax; activations, max pools, padding, dropout, containers 0. Ultralytics profiles 1-stride-tall
proxy images and extrapolates (exactly, for every model whose cost is a polynomial of degree <= 2 in the number of
stride cells, and it falls back to the full image otherwise), so archscope counts the full image directly.

**Legacy** (``gflops_legacy``): the YOLOv5 repository, the YOLOv10 repository and Ultralytics up to 8.2 with PyPI's
``thop`` 0.1.1: module hooks only (blind to functional matmuls and SDPA), rules matched on the *exact* class (a
subclass of ``nn.Conv2d`` is not counted), profiled on one square proxy image of ``max(max stride, 32)`` pixels and
scaled by area, ``GFLOPs = 2 * MACs(proxy) * (H / s) * (W / s)``. thop 0.1.1 rules: convolution ``out elements *
Cin/groups * kh*kw`` (also for transposed convolutions), no bias; BatchNorm/InstanceNorm/LayerNorm ``2 * input
elements``, doubled when affine; ``Linear`` ``in_features * out elements``; ``nn.Upsample`` nearest **1** per
output element (linear 5, bilinear 11, bicubic 259, trilinear 31); ``AvgPool`` 1 per output element; adaptive
average pool ``(in/out area + 1) * out elements``; ``nn.Softmax`` ``rows * (3n - 1)``; ``PReLU`` 1 per element;
``ReLU``, ``LeakyReLU``, max pools, ``Dropout``, ``ZeroPad2d`` 0; every other class 0. If the proxy forward fails,
Ultralytics 8.0-8.2 profile the full image instead; so does archscope.
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod

from torch import nn

from archscope.analysis.costs import adaptive_windows

Rule = Callable[[nn.Module, object, object], float]


def _first_tensor(args):
    for a in args:
        if hasattr(a, "shape"):
            return a
        if isinstance(a, (list, tuple)) and a and hasattr(a[0], "shape"):
            return a[0]
    return None


def _out_tensor(y):
    if hasattr(y, "shape"):
        return y
    if isinstance(y, (list, tuple)) and y and hasattr(y[0], "shape"):
        return y[0]
    return None


def _numel(t) -> int:
    return prod(t.shape)


# ----------------------------------------------------------------------------- ultralytics-thop 2.2.3 rules


def _zero(m, x, y) -> float:
    return 0


def _ul_conv(m, x, y) -> float:
    return _numel(y) * (x.shape[-(m.weight.dim() - 1)] // m.groups) * prod(m.weight.shape[2:])


def _ul_convt(m, x, y) -> float:
    return _numel(x) * (y.shape[-(m.weight.dim() - 1)] // m.groups) * prod(m.weight.shape[2:])


def _norm(m, x, y) -> float:
    flops = 2 * _numel(x)
    if getattr(m, "affine", False) or getattr(m, "elementwise_affine", False):
        flops *= 2
    return flops


def _prelu(m, x, y) -> float:
    return 0 if m.training else _numel(x)


def _softmax_ops(rows: int, n: int) -> int:
    return rows * (n + max(n - 1, 0) + n)


def _ul_softmax(m, x, y) -> float:
    dim = -3 if isinstance(m, nn.Softmax2d) else m.dim
    if dim is None:
        dim = 0 if x.dim() in (0, 1, 3) else 1
    n = x.shape[dim] if x.dim() else 1
    rows = _numel(x) // n if n else 0
    ops = _softmax_ops(rows, n)
    if isinstance(m, nn.Softmin):
        ops += _numel(x)
    elif isinstance(m, nn.LogSoftmax):
        ops += rows
    return ops


def _ul_avgpool(m, x, y) -> float:
    kernel = m.kernel_size
    if isinstance(kernel, int):
        kernel = (kernel,) * (3 if isinstance(m, nn.AvgPool3d) else 2)
    dims = len(kernel)
    stride = (m.stride,) * dims if isinstance(m.stride, int) else m.stride
    padding = (m.padding,) * dims if isinstance(m.padding, int) else m.padding
    windows = 1
    for size, output, k, s, p in zip(x.shape[-dims:], y.shape[-dims:], kernel, stride, padding):
        lower, upper = (-p, size + p) if m.count_include_pad else (0, size)
        windows *= sum(max(min(i * s - p + k, upper) - max(i * s - p, lower), 0) for i in range(output))
    return prod(x.shape[:-dims]) * windows + _numel(y)


def _ul_adaptive_avgpool(m, x, y) -> float:
    total = 1
    for i, o in zip(x.shape, y.shape):
        total *= o if i == o else adaptive_windows(i, o)
    return total + _numel(y)


_UL_UPSAMPLE = {"nearest": 0, "nearest-exact": 0, "linear": 5, "bilinear": 11, "bicubic": 259, "trilinear": 31}


def _ul_upsample(m, x, y) -> float:
    return _UL_UPSAMPLE.get(m.mode, 0) * _numel(y)


def _linear(m, x, y) -> float:
    return m.in_features * _numel(y)


def _bilinear(m, x, y) -> float:
    return (m.in1_features + 1) * m.in2_features * _numel(y)


def _ul_mha(m, args, y) -> float:
    """``nn.MultiheadAttention``: called with the module's positional args (query, key, value, ...)."""
    out, weights = y if isinstance(y, tuple) else (y, None)
    batch_first = getattr(m, "batch_first", False)
    tgt_len = out.shape[-2] if batch_first or out.dim() == 2 else out.shape[0]
    batch = 1 if out.dim() == 2 else out.shape[0 if batch_first else 1]
    appended = (m.bias_k is not None) + m.add_zero_attn
    if weights is not None:
        attended = weights.shape[-1]
    else:
        key = args[1] if len(args) > 1 else args[0]
        attended = (key.shape[-2] if batch_first or key.dim() == 2 else key.shape[0]) + appended
    projections = m.embed_dim * (2 * tgt_len * m.embed_dim + (attended - appended) * (m.kdim + m.vdim))
    attention = 2 * tgt_len * attended * m.embed_dim
    return batch * (projections + attention) + _softmax_ops(batch * m.num_heads * tgt_len, attended)


def _ul_rules() -> dict[type, Rule]:
    rules: dict[type, Rule] = {
        nn.modules.padding._ConstantPadNd: _zero, nn.modules.padding._ReflectionPadNd: _zero,
        nn.modules.padding._ReplicationPadNd: _zero, nn.modules.dropout._DropoutNd: _zero,
        nn.Conv1d: _ul_conv, nn.Conv2d: _ul_conv, nn.Conv3d: _ul_conv,
        nn.ConvTranspose1d: _ul_convt, nn.ConvTranspose2d: _ul_convt, nn.ConvTranspose3d: _ul_convt,
        nn.modules.batchnorm._NormBase: _norm, nn.LayerNorm: _norm, nn.GroupNorm: _norm,
        nn.PReLU: _prelu,
        nn.Softmax: _ul_softmax, nn.LogSoftmax: _ul_softmax, nn.Softmin: _ul_softmax, nn.Softmax2d: _ul_softmax,
        nn.ReLU: _zero, nn.ReLU6: _zero, nn.LeakyReLU: _zero,
        nn.MaxPool1d: _zero, nn.MaxPool2d: _zero, nn.MaxPool3d: _zero,
        nn.AdaptiveMaxPool1d: _zero, nn.AdaptiveMaxPool2d: _zero, nn.AdaptiveMaxPool3d: _zero,
        nn.FractionalMaxPool2d: _zero, nn.FractionalMaxPool3d: _zero, nn.modules.pooling._MaxUnpoolNd: _zero,
        nn.AvgPool1d: _ul_avgpool, nn.AvgPool2d: _ul_avgpool, nn.AvgPool3d: _ul_avgpool,
        nn.AdaptiveAvgPool1d: _ul_adaptive_avgpool, nn.AdaptiveAvgPool2d: _ul_adaptive_avgpool,
        nn.AdaptiveAvgPool3d: _ul_adaptive_avgpool,
        nn.Linear: _linear, nn.Bilinear: _bilinear,
        nn.Upsample: _ul_upsample, nn.UpsamplingBilinear2d: _ul_upsample, nn.UpsamplingNearest2d: _ul_upsample,
        nn.Sequential: _zero, nn.ModuleList: _zero, nn.ModuleDict: _zero, nn.ParameterList: _zero,
        nn.ParameterDict: _zero,
        nn.Identity: _zero, nn.Flatten: _zero, nn.Unflatten: _zero, nn.Unfold: _zero, nn.PixelShuffle: _zero,
        nn.PixelUnshuffle: _zero, nn.ChannelShuffle: _zero, nn.Embedding: _zero,
        nn.MultiheadAttention: _ul_mha,
    }
    if hasattr(nn, "RMSNorm"):
        rules[nn.RMSNorm] = _norm
    if hasattr(nn.modules.padding, "_CircularPadNd"):
        rules[nn.modules.padding._CircularPadNd] = _zero
    return rules


UL_RULES = _ul_rules()
_ul_cache: dict[type, Rule | None] = {}


def ultralytics_rule(cls: type) -> Rule | None:
    """The ultralytics-thop 2.2 rule for a module class (the nearest class in its MRO that has one)."""
    try:
        return _ul_cache[cls]
    except KeyError:
        pass
    rule = None
    for base in cls.__mro__:
        if base in UL_RULES:
            rule = UL_RULES[base]
            break
    _ul_cache[cls] = rule
    return rule


def ultralytics_suppresses_functional(module: nn.Module) -> bool:
    """True while this module runs, ultralytics-thop does not count functional products (it has its own rule)."""
    rule = ultralytics_rule(type(module))
    return rule is not None and rule is not _zero


# --------------------------------------------------------------------------------------- thop 0.1.1 rules


def _legacy_conv(m, x, y) -> float:
    return _numel(y) * (x.shape[1] // m.groups) * prod(m.weight.shape[2:])


def _legacy_softmax(m, x, y) -> float:
    n = x.shape[m.dim]
    return _softmax_ops(_numel(x) // n, n)


def _legacy_avgpool(m, x, y) -> float:
    return _numel(y)


def _legacy_adaptive_avgpool(m, x, y) -> float:
    kernel = prod(float(i) / float(o) for i, o in zip(x.shape[2:], y.shape[2:]))
    return int((kernel + 1) * _numel(y))


_LEGACY_UPSAMPLE = {"nearest": 1, "linear": 5, "bilinear": 11, "bicubic": 259, "trilinear": 31}


def _legacy_upsample(m, x, y) -> float:
    return _LEGACY_UPSAMPLE.get(m.mode, 0) * _numel(y)


LEGACY_RULES: dict[type, Rule] = {
    nn.ZeroPad2d: _zero,
    nn.Conv1d: _legacy_conv, nn.Conv2d: _legacy_conv, nn.Conv3d: _legacy_conv,
    nn.ConvTranspose1d: _legacy_conv, nn.ConvTranspose2d: _legacy_conv, nn.ConvTranspose3d: _legacy_conv,
    nn.BatchNorm1d: _norm, nn.BatchNorm2d: _norm, nn.BatchNorm3d: _norm, nn.LayerNorm: _norm,
    nn.InstanceNorm1d: _norm, nn.InstanceNorm2d: _norm, nn.InstanceNorm3d: _norm, nn.SyncBatchNorm: _norm,
    nn.PReLU: _prelu, nn.Softmax: _legacy_softmax,
    nn.ReLU: _zero, nn.ReLU6: _zero, nn.LeakyReLU: _zero,
    nn.MaxPool1d: _zero, nn.MaxPool2d: _zero, nn.MaxPool3d: _zero,
    nn.AdaptiveMaxPool1d: _zero, nn.AdaptiveMaxPool2d: _zero, nn.AdaptiveMaxPool3d: _zero,
    nn.AvgPool1d: _legacy_avgpool, nn.AvgPool2d: _legacy_avgpool, nn.AvgPool3d: _legacy_avgpool,
    nn.AdaptiveAvgPool1d: _legacy_adaptive_avgpool, nn.AdaptiveAvgPool2d: _legacy_adaptive_avgpool,
    nn.AdaptiveAvgPool3d: _legacy_adaptive_avgpool,
    nn.Linear: _linear, nn.Dropout: _zero,
    nn.Upsample: _legacy_upsample, nn.UpsamplingBilinear2d: _legacy_upsample,
    nn.UpsamplingNearest2d: _legacy_upsample,
    nn.Sequential: _zero, nn.PixelShuffle: _zero,
}


def legacy_rule(cls: type) -> Rule | None:
    """The thop 0.1.1 rule for a module class: exact class match only, as thop 0.1.1 does."""
    return LEGACY_RULES.get(cls)


# ------------------------------------------------------------------------------------------ accumulation


class ConventionCounter:
    """Collects, per YAML layer, the MACs each convention's module rules charge (``on_call`` of a tracker)."""

    def __init__(self, *, ultralytics: bool = True, legacy: bool = True):
        self.ultralytics: dict[int, float] = {}
        self.legacy: dict[int, float] = {}
        self.want_ul = ultralytics
        self.want_legacy = legacy
        self.failures: list[str] = []

    def on_call(self, module, layer, path, args, output) -> None:
        cls = type(module)
        x = None
        if self.want_ul:
            rule = ultralytics_rule(cls)
            if rule is _ul_mha:
                self.ultralytics[layer] = self.ultralytics.get(layer, 0) + _ul_mha(module, args, output)
            elif rule is not None and rule is not _zero:
                x = _first_tensor(args)
                y = _out_tensor(output)
                if x is not None and y is not None:
                    self.ultralytics[layer] = self.ultralytics.get(layer, 0) + rule(module, x, y)
        if self.want_legacy:
            rule = LEGACY_RULES.get(cls)
            if rule is not None and rule is not _zero:
                x = x if x is not None else _first_tensor(args)
                y = _out_tensor(output)
                if x is not None and y is not None:
                    try:
                        self.legacy[layer] = self.legacy.get(layer, 0) + rule(module, x, y)
                    except (IndexError, TypeError) as exc:  # thop 0.1.1 raises here too (e.g. Softmax(dim=None))
                        self.failures.append(f"{cls.__name__}: {exc}")

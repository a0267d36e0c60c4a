"""archscope's vocabulary, written once: element types, output formats, GFLOPs conventions, activations.

Every stage imports its words from here, so the CLI's choices, the API's checks, the device files' keys and the
analysis' byte counts cannot drift apart. No torch here (``torch_dtype`` imports it when called).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


# --------------------------------------------------------------------------------------------------------- dtypes
@dataclass(frozen=True)
class Dtype:
    """One element type: its canonical name, bytes per element, the torch dtype that holds it, its other spellings."""

    name: str
    bytes: int
    torch_name: str  # attribute of the ``torch`` module
    aliases: tuple[str, ...] = ()


DTYPES: dict[str, Dtype] = {d.name: d for d in (
    Dtype("fp32", 4, "float32", ("float32", "float", "f32", "single")),
    Dtype("tf32", 4, "float32"),  # a matmul mode of fp32 tensors: fp32 bytes, its own peak FLOP/s
    Dtype("fp16", 2, "float16", ("float16", "half", "f16")),
    Dtype("bf16", 2, "bfloat16", ("bfloat16",)),
    Dtype("fp8", 1, "float8_e4m3fn", ("float8", "float8_e4m3fn", "float8_e5m2")),
    Dtype("int8", 1, "int8", ("i8", "qint8", "uint8")),
    Dtype("fp64", 8, "float64", ("float64", "double")),
)}

#: ``--dtype`` of profile, compare, snapshot and check: the element size of bytes moved, memory and the roofline.
ANALYSIS_DTYPES = ("fp32", "fp16", "bf16", "int8")
#: ``--dtype`` of bench: what real weights and inputs are made of.
BENCH_DTYPES = ("fp32", "fp16", "bf16")
#: What calibrate can measure a matmul in.
CALIBRATE_DTYPES = ("fp32", "tf32", "fp16", "bf16", "int8")
#: The keys a device spec's ``peak_flops`` is documented with (a device file may add its own).
DEVICE_DTYPES = ("fp32", "tf32", "fp16", "bf16", "fp8", "int8")

#: How the roofline runs attention (``--attention``): "eager" kernels write the QK^T score matrices to memory and
#: read them back (softmax, PV); "fused" (flash-style) kernels keep them on chip and move only Q, K, V and the output.
ATTENTION_MODES = ("eager", "fused")

_SPELLINGS = {alias: d.name for d in DTYPES.values() for alias in (d.name, *d.aliases)}


def canonical_dtype(name: Any) -> str:
    """``"float16"`` / ``"torch.float16"`` -> ``"fp16"``; an unknown name comes back lower-cased (a device file may
    define its own)."""
    key = str(name).strip().lower().replace("torch.", "")
    return _SPELLINGS.get(key, key)


def dtype_bytes(name: str) -> int:
    """Bytes per element of a dtype (any spelling); an unknown dtype is an input error."""
    dtype = DTYPES.get(canonical_dtype(name))
    if dtype is None:
        from archscope.errors import ArchscopeError

        raise ArchscopeError(f"unknown dtype {name!r}; choose one of: {', '.join(sorted(DTYPES))}")
    return dtype.bytes


def torch_dtype(name: str) -> Any:
    """The torch dtype of a dtype name (imports torch)."""
    import torch

    return getattr(torch, DTYPES[canonical_dtype(name)].torch_name)


# ---------------------------------------------------------------------------------------------------- formats
#: Output formats of profile, compare and bench (the others: ``COMMAND_FORMATS``). ``markdown`` is read as ``md``.
FORMATS = ("table", "json", "csv", "md", "html")
FORMAT_ALIASES = {"markdown": "md"}
#: The formats each command writes: its ``--format`` offers these and no others (snapshot writes JSON only).
COMMAND_FORMATS: dict[str, tuple[str, ...]] = {
    "profile": FORMATS, "compare": FORMATS, "bench": FORMATS,
    "check": ("table", "json", "md"), "devices": ("table", "json"), "explain": ("table", "json", "md"),
    "sweep": ("table", "json", "csv", "md"),
}
FORMAT_BY_SUFFIX = {".json": "json", ".csv": "csv", ".md": "md", ".markdown": "md", ".html": "html",
                    ".htm": "html", ".txt": "table"}
#: Picture formats of ``--plot`` (matplotlib), by file suffix.
PLOT_FORMATS = {".png": "png", ".svg": "svg", ".html": "html", ".htm": "html"}

# ------------------------------------------------------------------------------------------ GFLOPs conventions
#: How GFLOPs are counted, as budgets and baselines name them: archscope's own count (every op), Ultralytics 8.4's
#: printed figure, and the hook-based legacy figure (thop 0.1.1 / Ultralytics <= 8.2, YOLOv5, YOLOv10).
CONVENTIONS = ("archscope", "ultralytics", "legacy")

# ------------------------------------------------------------------------------------------------- activations
#: The ``torch.nn`` activation classes a YAML may name: ``activation: nn.LeakyReLU(0.1)`` (literal arguments only)
#: or a row's module ``nn.SiLU``.
ACTIVATIONS = ("ReLU", "ReLU6", "SiLU", "GELU", "LeakyReLU", "Hardswish", "Hardsigmoid", "Mish", "Sigmoid", "Tanh",
               "ELU", "PReLU", "CELU", "SELU", "Softplus", "Identity")
#: The short names blocks take for them (EMO's ``act_layer`` spellings).
ACTIVATION_NAMES = {"relu": "ReLU", "relu6": "ReLU6", "silu": "SiLU", "gelu": "GELU", "sigmoid": "Sigmoid",
                    "hard_swish": "Hardswish", "none": "Identity"}

# ----------------------------------------------------------------------------------------------------- op classes
#: The kinds of operator whose achieved throughput differs on real hardware, as ``archscope calibrate`` measures
#: them and a device file's ``op_classes`` table holds them. ``analysis.costs`` names each ATen operator's class (its
#: one mapping); the counting engine writes it on every ``OpRecord`` (``op_class``); the roofline reads the class
#: figures from the device. An operator of no class ("") uses the device's one peak and bandwidth.
OP_CLASSES: dict[str, str] = {
    "conv": "dense and grouped convolution",
    "depthwise_conv": "depthwise convolution (one input channel per group)",
    "matmul": "mm, addmm, bmm and the attention kernels",
    "softmax_norm": "softmax, batch/layer/group norm, reductions",
    "elementwise": "activations and arithmetic, one output element at a time",
    "pooling": "max and average pooling",
    "resize": "upsampling and interpolation",
    "copy": "cat, clone, copy, pad and other data movement",
}

#: The shape features of each op class that its achieved rate depends on, in the order an ``OpRecord``'s
#: ``features`` and a calibrated device file's points hold them (``analysis.costs.op_features`` computes them; the
#: roofline blends the calibrated kernels nearest in these features). Why these: a CPU convolution runs as an
#: implicit GEMM whose speed follows its reduction length (``Cin/groups * kh * kw``: a 3-channel stem runs at a
#: tenth of a 64-channel 3x3 conv's rate), its output channels and pixels, and its kernel and stride (1x1 and 3x3
#: convolutions of equal bytes differ 2x); a matrix product follows its three dimensions; a resize follows its row
#: length (a 20-pixel row upsamples at a sixth of an 80-pixel row's bandwidth); an elementwise op or a norm follows
#: its FLOPs per byte (SiLU's exponential against an add); a copy whether it reads a strided (permuted) input. A
#: convolution's and a copy's ``operand_age`` is how many bytes the forward wrote since its oldest operand was last
#: touched (a weight: a whole forward ago): past the last-level cache that operand comes from memory (a concat of a
#: backbone feature at 640 px runs 3x slower than in a loop, the same concat at 320 px does not).
CLASS_FEATURES: dict[str, tuple[str, ...]] = {
    "conv": ("reduction", "out_channels", "out_pixels", "kernel_area", "stride", "operand_age"),
    "depthwise_conv": ("channels", "out_pixels", "kernel_area", "stride", "operand_age"),
    "matmul": ("rows", "reduction", "cols"),
    "softmax_norm": ("bytes", "flops_per_byte"),
    "elementwise": ("bytes", "flops_per_byte"),
    "pooling": ("bytes", "kernel_area"),
    "resize": ("bytes", "row_length"),
    "copy": ("bytes", "strided", "operand_age"),
}

#: How far a calibrated kernel's feature reaches when the roofline blends kernels: the width of a Gaussian in the
#: feature's logarithm (a factor). Kernel area and stride are near-categorical (a 3x3 kernel says little about a 1x1).
FEATURE_WIDTHS: dict[str, float] = {
    "bytes": 2.0, "reduction": 2.0, "out_channels": 2.0, "out_pixels": 2.5, "kernel_area": 1.2, "stride": 1.2,
    "channels": 2.0, "rows": 2.0, "cols": 2.0, "flops_per_byte": 1.5, "row_length": 1.4, "strided": 1.2,
    "operand_age": 1.5,
}

"""Plain data produced by the counting engine and consumed by roofline, reports and renderers.

Kept free of torch imports so reports can be loaded, compared and rendered without torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields


@dataclass(frozen=True, slots=True)
class OpRecord:
    """One ATen operator call seen during the counted forward."""

    op: str  # ATen overload packet name, e.g. "convolution", "bmm", "add"
    layer: int  # YAML layer index; -1 if outside every layer
    path: str  # sub-module path inside the layer, e.g. "m.0.attn.qkv" ("" = the layer module itself)
    mac_flops: int  # 2 per multiply-add (conv, linear, mm/bmm/matmul, einsum, SDPA)
    other_flops: int  # elementwise, norms, softmax, pooling, resize, conv/linear bias adds
    bytes_read: int  # every input tensor (activations and weights) at the analysed dtype
    bytes_written: int  # every output tensor at the analysed dtype
    out_shape: tuple[int, ...] = ()  # recorded only for bmm/baddbmm, whose output may be an attention score matrix
    # both operands are activations (bmm, SDPA: costs.ACTIVATION_MATMULS), as the counting mode marks it
    activation_product: bool = False
    # bytes of attention score matrices among bytes_read + bytes_written: the QK^T product's output, what the ops
    # between it and the PV product (softmax, scaling, masking) read and write of it, and PV's read of it. A fused
    # (flash-style) attention kernel keeps exactly these on chip. Marked by the counting mode, which follows the
    # score tensors from the product that makes them to the product that consumes them.
    score_bytes: int = 0
    # bytes a fused attention kernel also saves beyond the scores: this op only re-lays out or scales a Q, K or V
    # operand of QK^T/PV (a flash kernel reads them strided, with the scale folded in), or re-lays out the PV
    # output (the kernel writes it in the layout wanted). Marked by the counting mode like score_bytes.
    prep_bytes: int = 0
    op_class: str = ""  # vocab.OP_CLASSES key (analysis.costs.op_class; "" = none): whose calibrated figures apply
    # the call's shape features, vocab.CLASS_FEATURES[op_class] in order (analysis.costs.op_features; () = none):
    # which calibrated kernels of its class it resembles
    features: tuple[float, ...] = ()
    # bytes of its outputs too large for a heap to keep (analysis.liveness.FRESH_ALWAYS_BYTES): fresh from the
    # operating system on every call, a page fault for each page of them on a CPU
    fresh_bytes: int = 0

    @property
    def flops(self) -> int:
        return self.mac_flops + self.other_flops

    def bytes_as(self, attention: str) -> int:
        """Bytes moved when attention runs ``"eager"`` (score matrices in memory: every byte) or ``"fused"``
        (score matrices on chip and the operands read as they lie: :attr:`score_bytes` and :attr:`prep_bytes` left
        out)."""
        return self.bytes - self.score_bytes - self.prep_bytes if attention == "fused" else self.bytes

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written

    @property
    def attention_flops(self) -> int:
        """The MAC FLOPs of this call when it multiplies two activations (``bmm``, SDPA), else 0."""
        return self.mac_flops if self.activation_product else 0

    @property
    def attention_bytes_fused(self) -> int:
        """Bytes this attention matmul would move if the score matrix stayed on chip (fused/flash attention): a
        product whose output outweighs its inputs makes scores (``QK^T``), which are then neither written nor read
        back by the ``PV`` product; so such an op is charged its inputs minus one more read of its output."""
        if not self.attention_flops:
            return 0
        if self.bytes_written > self.bytes_read:
            return self.bytes_read - self.bytes_written
        return self.bytes


@dataclass(slots=True)
class CostTotals:
    """Additive costs of a layer, a sub-module, or the whole model."""

    flops: int = 0
    mac_flops: int = 0
    other_flops: int = 0
    bytes_unfused: int = 0
    attention_flops: int = 0  # part of mac_flops: activation-by-activation matmuls (QK^T, PV)
    attention_bytes: int = 0  # part of bytes_unfused: what those matmuls read and write
    attention_bytes_fused: int = 0  # the same with score matrices kept on chip (as fused attention kernels do)

    def merge(self, other: CostTotals) -> None:
        """Add another total field by field (every field is additive)."""
        for name in COST_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def add(self, op: OpRecord) -> None:
        self.flops += op.flops
        self.mac_flops += op.mac_flops
        self.other_flops += op.other_flops
        self.bytes_unfused += op.bytes
        self.attention_flops += op.attention_flops
        if op.attention_flops:
            self.attention_bytes += op.bytes
            self.attention_bytes_fused += op.attention_bytes_fused


#: The additive cost figures: each is a field of CostTotals and, under the same name, of a report's layers and
#: totals (``to_report`` copies them by name, so a new one is a field here, a line in ``add`` and a report field).
COST_FIELDS = tuple(f.name for f in fields(CostTotals))


@dataclass(slots=True)
class LayerCosts:
    """Everything the engine measures for one YAML layer."""

    index: int
    totals: CostTotals = field(default_factory=CostTotals)
    bytes_fused: int = 0  # layer inputs + weights + outputs only (as if everything inside stayed on chip)
    activation_bytes: int = 0  # bytes of the layer's output tensor(s)
    gflops_ultralytics: float = 0.0  # what Ultralytics 8.4 (ultralytics-thop 2.2) would print for this layer
    gflops_legacy: float = 0.0  # module-hook-only count of older Ultralytics / thop (blind to functional matmuls)
    submodules: dict[str, CostTotals] = field(default_factory=dict)  # path -> costs, every depth
    input_bytes: int = 0  # the layer's input tensor(s), as it received them
    param_bytes: int = 0  # the layer's parameters (each tensor once)
    live_bytes: int = 0  # layer outputs live while this layer runs (layer boundaries only: analysis.memory)
    peak_activation_bytes: int = 0  # the most activation bytes live at any op of this layer (analysis.liveness)
    score_bytes: int = 0  # the largest activation-by-activation bmm output: an attention score matrix, if any
    score_shape: tuple[int, ...] = ()  # its shape (last dim: the keys each query attends to)


@dataclass(slots=True)
class ModelCosts:
    dtype: str
    bytes_per_element: int
    layers: list[LayerCosts]
    ops: list[OpRecord]
    peak_activation_bytes: int  # the most bytes of live tensor storages at any op of the forward (analysis.liveness)
    outside: CostTotals = field(default_factory=CostTotals)  # ops not inside any layer (should be none)
    batch: int = 1
    imgsz: tuple[int, int] = (640, 640)
    real: bool = False  # counted on real CPU tensors rather than on meta
    peak_layer: int = -1  # the layer during which the peak occurs
    peak_path: str = ""  # the sub-module (path inside that layer) and operator whose output made the peak
    peak_op: str = ""
    # the old, coarser figure: live layer outputs only, at layer boundaries (analysis.memory)
    layer_boundary_peak_bytes: int = 0
    layer_boundary_peak_layer: int = -1
    input_bytes: int = 0  # the model input
    gflops_ultralytics: float = 0.0  # per image, what Ultralytics 8.4 prints (sum of the layers')
    gflops_legacy: float = 0.0  # per image, what thop 0.1.1-era Ultralytics / YOLOv5 / YOLOv10 printed
    legacy_proxy: int | None = None  # side of the square proxy image the legacy figure was scaled from (None: full)
    uncounted_ops: dict[str, int] = field(default_factory=dict)  # ops with no cost ("aten.foo") -> calls

    @property
    def totals(self) -> CostTotals:
        """The whole model: every layer plus anything outside the layers."""
        total = CostTotals()
        for part in [*(layer.totals for layer in self.layers), self.outside]:
            total.merge(part)
        return total

    @property
    def bytes_fused(self) -> int:
        return sum(layer.bytes_fused for layer in self.layers)

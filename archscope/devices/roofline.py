"""Roofline prediction: per-op time on a device, summed into layers and sub-modules. Pure Python, no torch.

Model (DESIGN.md, "What is counted"):

* an op's FLOPs = ``mac_flops + other_flops`` (a multiply-add = 2) and its bytes = ``bytes_read + bytes_written``
  (the *unfused* traffic: every tensor each op reads and writes);
* an op's time = ``max(FLOPs / peak_flops[dtype], bytes / bandwidth)``; it is **memory-bound** when the second term is
  strictly larger, otherwise compute-bound;
* a layer's (or sub-module's) predicted time is the sum of its ops' times, and its ``bound`` is the roof that
  accounts for more of that predicted time: ``memory_bound_ms`` (time of its memory-bound ops) against
  ``compute_bound_ms`` (time of its compute-bound ops); a tie goes to "compute", a layer with no time is "none".

``compute_ms`` and ``memory_ms`` are the two roofs alone, summed over the layer's ops (what the layer would take if
only compute, or only memory traffic, limited it); ``predicted_ms >= max(compute_ms, memory_ms)``.

Attention runs one of two ways (``attention``, default: the device's own, :attr:`DeviceSpec.attention`): ``"eager"``
charges every byte; ``"fused"`` leaves out each op's :attr:`OpRecord.score_bytes` (the score matrices, which a
flash-style kernel keeps on chip: only Q, K, V and the output move). Only which bytes count changes.

:func:`fused_roofline` is the optimistic per-layer variant on the *fused* bytes (layer inputs + weights + outputs).

On a device whose spec has a calibrated ``op_classes`` table at the dtype (``archscope calibrate``), an op of a class
in it (``OpRecord.op_class``, named by ``analysis.costs.op_class``) takes ``overhead_s + max(FLOPs / flops_per_s,
bytes / bytes_per_s)`` with that class's figures instead, the rate that drives the class being the one the
calibrated kernels nearest the op's shape features achieved (``OpRecord.features``, ``ClassRate.rate_at``); the
overhead is added to the larger roof. A device with a calibrated ``fresh_bytes_per_s`` (a CPU) also charges each
op's fresh memory (``OpRecord.fresh_bytes``: pages this forward had not touched, each a page fault) at that rate.

On a device whose spec is ``relative_only`` (the MobileNetV4 ridge-point presets) the "ms" are relative units: only
ratios between layers or models mean something.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from archscope.devices.spec import DeviceSpec
from archscope.errors import ArchscopeError
from archscope.vocab import ATTENTION_MODES, canonical_dtype

if TYPE_CHECKING:  # records are duck-typed here, so importing this module never pulls in the counting engine
    from archscope.analysis.records import LayerCosts, OpRecord

COMPUTE = "compute"
MEMORY = "memory"
NONE = "none"


def arithmetic_intensity(flops: float, nbytes: float) -> float | None:
    """FLOPs per byte moved; None when nothing is moved (intensity undefined, JSON-safe)."""
    return flops / nbytes if nbytes > 0 else None


def ridge_point(device: DeviceSpec, dtype: str) -> float:
    """FLOP/byte at which ``device``'s compute and memory roofs meet for ``dtype``."""
    return device.ridge_point(dtype)


def attainable_flops(device: DeviceSpec, dtype: str, intensity: float) -> float:
    """The roofline: FLOP/s reachable at ``intensity`` FLOP/byte, ``min(peak, bandwidth * intensity)``."""
    return min(device.peak(dtype), device.bandwidth * intensity)


def op_seconds(device: DeviceSpec, dtype: str, flops: float, nbytes: float) -> tuple[float, float]:
    """(compute seconds, memory seconds) of one op; its roofline time is the larger."""
    return flops / device.peak(dtype), nbytes / device.bandwidth


def class_op_seconds(device: DeviceSpec, dtype: str, op_class: str, flops: float, nbytes: float,
                     features: Sequence[float] = ()) -> tuple[float, float, float]:
    """(compute seconds, memory seconds, per-call overhead seconds) of one op of ``op_class`` with shape
    ``features``: with the class's calibrated figures when ``device`` has them at ``dtype``, else
    :func:`op_seconds` and no overhead."""
    rate = device.class_rate(dtype, op_class)
    if rate is None:
        compute_s, memory_s = op_seconds(device, dtype, flops, nbytes)
        return compute_s, memory_s, 0.0
    flops_per_s, bytes_per_s = rate.rate_at(nbytes, features)
    return flops / flops_per_s, nbytes / bytes_per_s, rate.overhead_s


def fresh_seconds(device: DeviceSpec, op: OpRecord, attention: str = "eager") -> float:
    """What writing the op's fresh memory (``OpRecord.fresh_bytes``) costs beyond a warm write on ``device``: 0
    without a calibrated ``fresh_bytes_per_s``, and 0 for the score matrices of fused attention (never in memory)."""
    rate = device.fresh_bytes_per_s
    fresh = getattr(op, "fresh_bytes", 0)
    if not rate or not fresh or (attention == "fused" and op.score_bytes):
        return 0.0
    return fresh / rate


@dataclass(frozen=True, slots=True)
class OpRoofline:
    op: str
    layer: int
    path: str
    flops: int
    bytes: int
    compute_ms: float
    memory_ms: float
    overhead_ms: float = 0.0  # the op class's calibrated per-call time (0 without an op_classes table)
    fresh_ms: float = 0.0  # page faults of its fresh memory (0 without a calibrated fresh_bytes_per_s)

    @property
    def predicted_ms(self) -> float:
        return max(self.compute_ms, self.memory_ms) + self.overhead_ms + self.fresh_ms

    @property
    def bound(self) -> str:
        return MEMORY if self.memory_ms > self.compute_ms else COMPUTE

    @property
    def intensity(self) -> float | None:
        return arithmetic_intensity(self.flops, self.bytes)


@dataclass(slots=True)
class LayerRoofline:
    """Roofline result for one YAML layer (or one sub-module; ``path`` is then its path inside the layer)."""

    index: int
    predicted_ms: float = 0.0  # sum over ops of max(compute, memory)
    compute_ms: float = 0.0  # sum over ops of flops / peak (the compute roof alone)
    memory_ms: float = 0.0  # sum over ops of bytes / bandwidth (the memory roof alone)
    compute_bound_ms: float = 0.0  # share of predicted_ms from compute-bound ops
    memory_bound_ms: float = 0.0  # share of predicted_ms from memory-bound ops
    flops: int = 0
    bytes: int = 0
    ops: int = 0
    path: str = ""

    @property
    def bound(self) -> str:
        if self.predicted_ms <= 0.0:
            return NONE
        return MEMORY if self.memory_bound_ms > self.compute_bound_ms else COMPUTE

    @property
    def intensity(self) -> float | None:
        return arithmetic_intensity(self.flops, self.bytes)

    def add(self, op: OpRoofline) -> None:
        t = op.predicted_ms
        self.predicted_ms += t
        self.compute_ms += op.compute_ms
        self.memory_ms += op.memory_ms
        if op.bound == MEMORY:
            self.memory_bound_ms += t
        else:
            self.compute_bound_ms += t
        self.flops += op.flops
        self.bytes += op.bytes
        self.ops += 1


@dataclass(slots=True)
class RooflineResult:
    device: str
    dtype: str
    peak_flops: float  # FLOP/s at dtype
    bandwidth: float  # bytes/s
    ridge_point: float  # FLOP/byte
    relative_only: bool  # True: times are relative units, not milliseconds
    layers: list[LayerRoofline]
    total: LayerRoofline  # every op, including any outside a layer (index -1)
    outside: LayerRoofline | None = None  # ops with layer == -1, if any
    submodules: dict[int, dict[str, LayerRoofline]] = field(default_factory=dict)  # only when asked for
    attention: str = "eager"  # how attention ran: "eager" (scores in memory) or "fused" (scores on chip)

    @property
    def predicted_ms(self) -> float:
        return self.total.predicted_ms

    def layer(self, index: int) -> LayerRoofline:
        for layer in self.layers:
            if layer.index == index:
                return layer
        raise KeyError(index)


def attention_mode(device: DeviceSpec, attention: str | None) -> str:
    """``attention`` checked, or the device's default when None."""
    mode = device.attention if attention is None else attention
    if mode not in ATTENTION_MODES:
        raise ArchscopeError(f"--attention must be {' or '.join(ATTENTION_MODES)}, got {mode!r}")
    return mode


def op_roofline(device: DeviceSpec, dtype: str, op: OpRecord, attention: str = "eager") -> OpRoofline:
    nbytes = op.bytes_as(attention)
    compute_s, memory_s, overhead_s = class_op_seconds(device, dtype, getattr(op, "op_class", ""), op.flops, nbytes,
                                                       getattr(op, "features", ()))
    return OpRoofline(op.op, op.layer, op.path, op.flops, nbytes, compute_s * 1e3, memory_s * 1e3, overhead_s * 1e3,
                      fresh_seconds(device, op, attention) * 1e3)


def _prefixes(path: str) -> list[str]:
    """"" -> [""]; "m.0.cv1" -> ["", "m", "m.0", "m.0.cv1"] (the layer itself, then every depth)."""
    if not path:
        return [""]
    parts = path.split(".")
    return [""] + [".".join(parts[: i + 1]) for i in range(len(parts))]


def roofline(
    device: DeviceSpec,
    dtype: str,
    ops: Iterable[OpRecord],
    *,
    layers: Iterable[int] | None = None,
    submodules: bool = False,
    attention: str | None = None,
) -> RooflineResult:
    """Predict every op's time on ``device`` at ``dtype`` and sum it per YAML layer.

    ``layers``: the layer indices to report, in order (layers without ops get zero rows); by default the indices the
    ops name, sorted. ``submodules=True`` also fills ``result.submodules[layer][path]`` for every sub-module path at
    every depth ("" is the layer itself), each summed the same way. ``attention``: "eager" or "fused" (default:
    the device's, :attr:`DeviceSpec.attention`).
    """
    attention = attention_mode(device, attention)
    dtype = canonical_dtype(dtype)
    peak = device.peak(dtype)  # raises a clear error for a dtype the device lacks
    per_layer: dict[int, LayerRoofline] = {}
    if layers is not None:
        for i in layers:
            per_layer.setdefault(i, LayerRoofline(i))
    total = LayerRoofline(-1)
    subs: dict[int, dict[str, LayerRoofline]] = {}
    for op in ops:
        r = op_roofline(device, dtype, op, attention)
        total.add(r)
        row = per_layer.get(op.layer)
        if row is None:
            row = per_layer[op.layer] = LayerRoofline(op.layer)
        row.add(r)
        if submodules:
            table = subs.setdefault(op.layer, {})
            for prefix in _prefixes(op.path):
                entry = table.get(prefix)
                if entry is None:
                    entry = table[prefix] = LayerRoofline(op.layer, path=prefix)
                entry.add(r)
    outside = per_layer.pop(-1, None)
    order = list(dict.fromkeys(layers)) if layers is not None else sorted(per_layer)
    asked = set(order)
    rows = [per_layer[i] for i in order if i in per_layer]
    rows += [per_layer[i] for i in sorted(per_layer) if i not in asked]  # ops naming a layer not asked for
    return RooflineResult(
        device=device.name,
        dtype=dtype,
        peak_flops=peak,
        bandwidth=device.bandwidth,
        ridge_point=peak / device.bandwidth,
        relative_only=device.relative_only,
        layers=rows,
        total=total,
        outside=outside,
        submodules=subs,
        attention=attention,
    )


def submodule_roofline(
    device: DeviceSpec, dtype: str, ops: Iterable[OpRecord], layer: int, attention: str | None = None
) -> dict[str, LayerRoofline]:
    """Per sub-module path of one layer, at every depth ("" = the whole layer)."""
    return roofline(device, dtype, (op for op in ops if op.layer == layer), submodules=True,
                    attention=attention).submodules.get(layer, {})


def fused_roofline(device: DeviceSpec, dtype: str, layers: Iterable[LayerCosts]) -> list[LayerRoofline]:
    """The optimistic variant: one roofline term per YAML layer, ``max(flops / peak, bytes_fused / bandwidth)``.

    ``bytes_fused`` is the layer's inputs + weights + outputs, as if everything inside the layer stayed on chip (the
    model the MobileNetV4 paper uses per layer: weight bytes + activation bytes). Real hardware lies between this and
    the per-op (unfused) :func:`roofline`.
    """
    peak = device.peak(dtype)
    rows = []
    for layer in layers:
        flops = layer.totals.flops
        compute_ms = flops / peak * 1e3
        memory_ms = layer.bytes_fused / device.bandwidth * 1e3
        t = max(compute_ms, memory_ms)
        memory = memory_ms > compute_ms
        rows.append(LayerRoofline(
            layer.index, predicted_ms=t, compute_ms=compute_ms, memory_ms=memory_ms,
            compute_bound_ms=0.0 if memory else t, memory_bound_ms=t if memory else 0.0,
            flops=flops, bytes=layer.bytes_fused, ops=0,
        ))
    return rows

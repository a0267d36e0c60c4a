"""Models side by side: totals with the delta and ratio against the first model, the layers that differ (aligned),
and the per-layer points of a roofline picture. Works on reports only (no torch), so report JSON files compare too.

Alignment: by layer index when every model has the first one's topology (same number of layers, same ``from``
indices; modules may differ, that is usually the change under study); otherwise by *stage*, the stride a layer works
at (input height / output height; heads, whose outputs are not feature maps, form the stage "head").
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from archscope.devices.spec import DeviceSpec, device_from_dict
from archscope.errors import ArchscopeError
from archscope.reports.profile import ModelReport, load_report
from archscope.spec.sources import parse_source
from archscope.util.shapes import feature_stride

SCHEMA = "archscope.compare/1"
HEAD = "head"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    kind: str  # how to show it: "count", "flops", "bytes", "intensity", "ms"
    cost: bool = True  # True: lower is better (coloured); False: informational


METRICS = (
    Metric("params", "params", "count"),
    Metric("flops", "GFLOPs", "flops"),
    Metric("mac_flops", "MAC GFLOPs", "flops"),
    Metric("attention_flops", "attention GFLOPs", "flops"),
    Metric("bytes_unfused", "MB moved (unfused)", "bytes"),
    Metric("bytes_fused", "MB moved (fused)", "bytes"),
    Metric("intensity_unfused", "FLOP/B (unfused)", "intensity", cost=False),
    Metric("intensity_fused", "FLOP/B (fused)", "intensity", cost=False),
    Metric("peak_activation_bytes", "peak activations MB", "bytes"),
    Metric("predicted_ms", "predicted ms", "ms"),
    Metric("measured_ms", "measured ms (median)", "ms"),
)


@dataclass
class Measurement:
    """Measured latency of one model (``archscope bench``): the median of the whole forward, and optionally per
    YAML layer."""

    median_ms: float
    layer_ms: dict[int, float] | None = None
    device: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.layer_ms is not None:
            d["layer_ms"] = {str(k): v for k, v in self.layer_ms.items()}  # JSON keys are strings
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        layers = data.get("layer_ms")
        return cls(float(data["median_ms"]), {int(k): float(v) for k, v in layers.items()} if layers else None,
                   data.get("device"))


@dataclass
class MetricRow:
    key: str
    label: str
    kind: str
    cost: bool
    values: list[float | None]
    deltas: list[float | None]  # value - first model's value (None for the first model)
    ratios: list[float | None]  # value / first model's value


@dataclass
class LayerCell:
    """One model's side of an aligned row: a single layer (index alignment) or all layers of a stage."""

    indices: list[int]
    modules: list[str]
    params: int
    flops: int | None
    attention_flops: int | None
    bytes_unfused: int | None
    predicted_ms: float | None
    measured_ms: float | None
    attention: list[bool] = field(default_factory=list)  # per layer in ``indices``: does it hold attention matmuls
    output: Any = None  # output shape, index alignment only


@dataclass
class AlignedRow:
    key: str  # "10" (index alignment), "stride 8" or "head" (stage alignment)
    cells: list[LayerCell | None]  # one per model; None where a model has nothing there
    changed: bool


@dataclass
class Point:
    """One layer on the roofline picture."""

    model: int
    layer: int
    module: str
    intensity: float  # FLOP/byte (unfused)
    flops_per_s: float  # achieved: measured when there is a per-layer measurement, else roofline-predicted
    measured: bool
    attention: bool


@dataclass
class Comparison:
    labels: list[str]
    sources: list[str]
    reports: list[ModelReport]
    device: DeviceSpec
    measurements: list[Measurement | None]
    predicted: str  # "per-op" (each report's own roofline), "per-layer" (estimated here), or "none"
    alignment: str  # "index" or "stage"
    totals: list[MetricRow]
    layers: list[AlignedRow]
    notes: list[str] = field(default_factory=list)
    schema: str = SCHEMA
    # the layers that differ, op by op (reports.breakdown.LayerBreakdown), model after model; filled by api.compare
    breakdowns: list[Any] = field(default_factory=list)

    @property
    def predicted_unit(self) -> str:
        return "relative" if self.device.relative_only else "ms"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "device": self.device.to_dict(),
            "predicted": self.predicted,
            "predicted_unit": self.predicted_unit,
            "alignment": self.alignment,
            "models": [{"label": label, "source": source, "measured": m.to_dict() if m else None}
                       for label, source, m in zip(self.labels, self.sources, self.measurements)],
            "totals": [asdict(row) for row in self.totals],
            "layers": [{"key": row.key, "changed": row.changed,
                        "cells": [asdict(c) if c else None for c in row.cells]} for row in self.layers],
            "notes": list(self.notes),
            "breakdowns": [b.to_dict() for b in self.breakdowns],
            "reports": [r.to_dict() for r in self.reports],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comparison:
        """Rebuild from the inputs kept in the JSON (reports, labels, device, measurements); the rest is derived."""
        if data.get("schema") != SCHEMA:
            raise ArchscopeError(f"not an {SCHEMA} file (schema {data.get('schema')!r})")
        models = data["models"]
        return compare_reports(
            [load_report(r) for r in data["reports"]],
            device=device_from_dict(data["device"]),
            labels=[m["label"] for m in models],
            sources=[m["source"] for m in models],
            measurements=[Measurement.from_dict(m["measured"]) if m.get("measured") else None for m in models],
        )


def compare_reports(
    reports: Sequence[ModelReport],
    *,
    device: DeviceSpec,
    labels: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    measurements: Sequence[Measurement | None] | None = None,
) -> Comparison:
    """Put ``reports`` side by side; the first is the reference for deltas and ratios."""
    reports = list(reports)
    if not reports:
        raise ArchscopeError("nothing to compare")
    sources = list(sources) if sources is not None else [r.model.path for r in reports]
    labels = list(labels) if labels is not None else model_labels(reports, sources)
    measurements = list(measurements) if measurements is not None else [None] * len(reports)
    predicted, layer_ms, notes = predictions(reports, device)
    totals = _totals(reports, layer_ms, measurements)
    alignment = "index" if same_topology(reports) else "stage"
    rows = _aligned(reports, layer_ms, measurements, alignment)
    for what, values in (("dtypes", {r.model.dtype for r in reports}),
                         ("image sizes", {tuple(r.model.imgsz) for r in reports}),
                         ("batch sizes", {r.model.batch for r in reports})):
        if len(values) > 1:
            notes.append(f"the models were analysed at different {what}: their figures are not like for like")
    fused = [r.model.fused for r in reports]
    if all(fused):
        notes.append("every model is the deployed one (fused, as Ultralytics' model.fuse() leaves it)")
    elif any(fused):
        notes.append("some models are the deployed ones (fused) and some are not: their figures are not like for "
                     "like (archscope compare --fuse profiles every YAML deployed)")
    if any(m is None for m in measurements) and any(m is not None for m in measurements):
        notes.append("measured latency only for model YAMLs (a report JSON cannot be run)")
    return Comparison(labels, sources, reports, device, measurements, predicted, alignment, totals, rows, notes)


def model_labels(reports: Sequence[ModelReport], sources: Sequence[str]) -> list[str]:
    """``name:scale``; where two coincide (before.json vs after.yaml), the file stems; then a ``#n`` suffix."""
    labels = [r.model.name + (f":{r.model.scale}" if r.model.scale else "") for r in reports]
    labels = [os.path.splitext(os.path.basename(parse_source(s).path))[0] if labels.count(label) > 1 else label
              for label, s in zip(labels, sources)]
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if labels.count(label) == 1 else f"{label}#{seen[label]}")
    return out


# --- predicted time --------------------------------------------------------------------------------------------------


def predictions(reports: Sequence[ModelReport], device: DeviceSpec) -> tuple[str, list[list[float | None]], list[str]]:
    """Per model, per layer predicted time on ``device``.

    Each report's own per-op roofline when all were profiled on this device; otherwise (a report JSON made without
    it, or on another device) every model gets the coarser per-layer estimate ``max(flops / peak, bytes / bandwidth)``
    so that the models stay comparable with one another.
    """
    if not all(r.analysed for r in reports):
        return "none", [[None] * len(r.layers) for r in reports], ["a report without costs (analysis off): no times"]
    if all(_has_own_prediction(r, device) for r in reports):
        return "per-op", [[layer.predicted_ms for layer in r.layers] for r in reports], []
    per_layer: list[list[float | None]] = []
    for r in reports:
        peak = device.peak(r.model.dtype)
        per_layer.append([max((layer.flops or 0) / peak, (layer.bytes_unfused or 0) / device.bandwidth) * 1e3
                          for layer in r.layers])
    note = (f"predicted times are per-layer roofline estimates on {device.name} (a report input was not profiled "
            f"on it); per-op predictions, as profile --device-spec gives them, are higher")
    return "per-layer", per_layer, [note]


def _has_own_prediction(report: ModelReport, device: DeviceSpec) -> bool:
    return (report.model.device_spec == device.name and report.totals.predicted_ms is not None
            and all(layer.predicted_ms is not None for layer in report.layers))


# --- totals ------------------------------------------------------------------------------------------------------


def _totals(reports, layer_ms, measurements) -> list[MetricRow]:
    rows = []
    for metric in METRICS:
        values = [_total(metric.key, r, ms, m) for r, ms, m in zip(reports, layer_ms, measurements)]
        if all(v is None for v in values):
            continue  # e.g. no measurements: no row
        base = values[0]
        deltas = [None] + [None if v is None or base is None else v - base for v in values[1:]]
        ratios = [None] + [None if v is None or not base else v / base for v in values[1:]]
        rows.append(MetricRow(metric.key, metric.label, metric.kind, metric.cost, values, deltas, ratios))
    return rows


def _total(key: str, report: ModelReport, layer_ms: list[float | None], measured: Measurement | None):
    t = report.totals
    if key == "predicted_ms":
        return None if any(v is None for v in layer_ms) else sum(layer_ms)
    if key == "measured_ms":
        return measured.median_ms if measured else None
    if key.startswith("intensity_"):
        return (t.arithmetic_intensity or {}).get(key.removeprefix("intensity_"))
    return getattr(t, key)


# --- layers ------------------------------------------------------------------------------------------------------


def same_topology(reports: Sequence[ModelReport]) -> bool:
    """Same number of layers and the same ``from`` wiring as the first model."""
    first = [layer.from_ for layer in reports[0].layers]
    return all([layer.from_ for layer in r.layers] == first for r in reports[1:])


def stage_of(layer, imgsz: Sequence[int]) -> int | str:
    """The stride a layer works at (input height / output height), or "head" for a non-feature-map output."""
    shape = layer.output_shape
    if isinstance(shape, list) and len(shape) == 4 and all(isinstance(d, int) for d in shape) and shape[2] > 0:
        return max(1, feature_stride(imgsz[0], shape[2]))
    return HEAD


def stage_label(stage: int | str) -> str:
    return HEAD if stage == HEAD else f"stride {stage}"


def _cell(report, indices, layer_ms, measured, *, output=False) -> LayerCell:
    layers = [report.layers[i] for i in indices]
    m_ms = measured.layer_ms if measured else None
    return LayerCell(
        indices=list(indices),
        modules=[layer.module for layer in layers],
        params=sum(layer.params for layer in layers),
        flops=_sum(layer.flops for layer in layers),
        attention_flops=_sum(layer.attention_flops or 0 for layer in layers) if report.analysed else None,
        bytes_unfused=_sum(layer.bytes_unfused for layer in layers),
        predicted_ms=_sum(layer_ms[i] for i in indices),
        measured_ms=_sum(m_ms.get(i) for i in indices) if m_ms else None,
        attention=[bool(layer.attention_flops) for layer in layers],
        output=layers[0].output_shape if output and layers else None,
    )


def _sum(values):
    values = list(values)
    return None if any(v is None for v in values) else sum(values)


def _aligned(reports, layer_ms, measurements, alignment) -> list[AlignedRow]:
    rows = []
    if alignment == "index":
        for i in range(len(reports[0].layers)):
            cells = [_cell(r, [i], ms, m, output=True) for r, ms, m in zip(reports, layer_ms, measurements)]
            first = reports[0].layers[i]
            changed = any(_layer_key(r.layers[i]) != _layer_key(first) for r in reports[1:])
            rows.append(AlignedRow(str(i), list(cells), changed))
        return rows
    stages_per_model = [[stage_of(layer, r.model.imgsz) for layer in r.layers] for r in reports]
    every = {s for stages in stages_per_model for s in stages}
    for stage in sorted(every, key=lambda s: (s == HEAD, 0 if s == HEAD else s)):
        stage_cells: list[LayerCell | None] = []
        for r, stages, ms, m in zip(reports, stages_per_model, layer_ms, measurements):
            indices = [i for i, s in enumerate(stages) if s == stage]
            stage_cells.append(_cell(r, indices, ms, m) if indices else None)
        first_cell = stage_cells[0]
        changed = any(_cell_key(c) != _cell_key(first_cell) for c in stage_cells[1:])
        rows.append(AlignedRow(stage_label(stage), stage_cells, changed))
    return rows


def _layer_key(layer) -> tuple:
    return (layer.module, repr(layer.args), layer.params, layer.flops, layer.bytes_unfused, repr(layer.output_shape))


def _cell_key(cell: LayerCell | None) -> tuple | None:
    return None if cell is None else (cell.modules, cell.params, cell.flops, cell.bytes_unfused)


# --- roofline picture --------------------------------------------------------------------------------------------


def roofline_points(comparison: Comparison) -> tuple[list[Point], int]:
    """Every layer with FLOPs and bytes as a point; also the number of layers left out (no FLOPs: Concat, nearest
    upsampling; such a layer has no place on a log-scale intensity axis)."""
    _, layer_ms, _ = predictions(comparison.reports, comparison.device)
    points, skipped = [], 0
    for k, (report, ms, measured) in enumerate(zip(comparison.reports, layer_ms, comparison.measurements)):
        timed = measured.layer_ms if measured and measured.layer_ms else {}
        for layer, predicted in zip(report.layers, ms):
            seconds = timed.get(layer.index, predicted)
            seconds = None if seconds is None else seconds / 1e3
            if not layer.flops or not layer.bytes_unfused or not seconds:
                skipped += 1
                continue
            points.append(Point(k, layer.index, layer.module, layer.flops / layer.bytes_unfused,
                                 layer.flops / seconds, layer.index in timed, bool(layer.attention_flops)))
    return points, skipped

"""BuiltModel (+ counted costs, + roofline) -> ModelReport. The only place that turns model objects into data."""

from __future__ import annotations

from typing import Any

from archscope.analysis.findings import block_notices
from archscope.analysis.records import COST_FIELDS, CostTotals
from archscope.build.builder import BuiltModel
from archscope.reports.profile import LayerReport, ModelInfo, ModelReport, Totals


def make_report(built: BuiltModel, *, dtype: str = "fp32", device_spec: str | None = None) -> ModelReport:
    """The foundation report: structure, parameters and shapes (no costs yet)."""
    model = built.model
    info = ModelInfo(
        path=built.spec.path,
        name=built.spec.name,
        scale=built.scaling.scale,
        imgsz=list(built.imgsz),
        batch=built.batch,
        ch=built.ch,
        nc=built.nc,
        dialect=built.spec.dialect,
        dtype=dtype,
        device_spec=device_spec,
        fused=built.fused,
    )
    layers = [
        LayerReport(
            index=layer.index,
            from_=layer.from_,
            n=layer.n,
            module=layer.module,
            args=_jsonable(layer.args),
            params=layer.params,
            output_shape=layer.output_shape,
        )
        for layer in built.layers
    ]
    totals = Totals(
        params=sum(p.numel() for p in model.parameters()),
        layers=leaf_module_count(model),
        yaml_layers=len(built.layers),
        buffers=sum(b.numel() for b in model.buffers()),
    )
    return ModelReport(info, totals, layers, findings=block_notices(built.layers))


def leaf_module_count(model) -> int:
    """Modules without children, each counted once (Ultralytics 8.3+ prints this as "layers")."""
    return sum(1 for m in model.modules() if next(m.children(), None) is None)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)  # e.g. an nn.Module passed as an activation


def _intensity(flops: int, unfused: int, fused: int) -> dict[str, float]:
    return {"unfused": flops / unfused if unfused else 0.0, "fused": flops / fused if fused else 0.0}


def add_costs(report: ModelReport, built: BuiltModel, costs, *, depth: int = 0) -> ModelReport:
    """Fill the cost fields of every layer (and its sub-modules down to ``depth``) and of the totals."""
    from archscope.reports.profile import SubmoduleReport

    for layer, lc in zip(report.layers, costs.layers):
        t = lc.totals
        _copy_costs(t, layer)
        layer.gflops_ultralytics = lc.gflops_ultralytics
        layer.gflops_legacy = lc.gflops_legacy
        layer.bytes_fused = lc.bytes_fused
        layer.arithmetic_intensity = _intensity(t.flops, t.bytes_unfused, lc.bytes_fused)
        layer.activation_bytes = lc.activation_bytes
        layer.peak_activation_bytes = lc.peak_activation_bytes
        layer.score_bytes, layer.score_shape = lc.score_bytes, list(lc.score_shape) or None
        module = built.model.layers[layer.index]
        layer.submodules = [
            SubmoduleReport(path=path, depth=path.count(".") + 1, module=type(sub).__name__,
                            params=sum(p.numel() for p in sub.parameters()), flops=c.flops, mac_flops=c.mac_flops,
                            other_flops=c.other_flops, bytes_unfused=c.bytes_unfused)
            for path, sub in module.named_modules(remove_duplicate=False)  # module order: cv1, m.0, ..., cv2
            if path and path.count(".") + 1 <= depth and path in lc.submodules
            for c in [lc.submodules[path]]
        ]
    total = costs.totals
    tt = report.totals
    _copy_costs(total, tt)
    tt.gflops_ultralytics, tt.gflops_legacy = costs.gflops_ultralytics, costs.gflops_legacy
    tt.bytes_fused = costs.bytes_fused
    tt.arithmetic_intensity = _intensity(total.flops, total.bytes_unfused, costs.bytes_fused)
    tt.activation_bytes = sum(lc.activation_bytes for lc in costs.layers)
    tt.peak_activation_bytes = costs.peak_activation_bytes
    tt.peak_layer, tt.peak_path, tt.peak_op = costs.peak_layer, costs.peak_path, costs.peak_op
    tt.layer_boundary_peak_bytes = costs.layer_boundary_peak_bytes
    tt.uncounted_ops = uncounted_list(costs.uncounted_ops)
    report.model.dtype = costs.dtype
    return report


def uncounted_list(calls: dict[str, int]) -> list[dict[str, Any]]:
    """``{"aten.foo": 3}`` as the report lists it: ``[{"op": "aten.foo", "calls": 3}]``, most calls first."""
    ordered = sorted(calls.items(), key=lambda item: (-item[1], item[0]))
    return [{"op": op, "calls": n} for op, n in ordered]


def _copy_costs(totals: CostTotals, target: LayerReport | Totals) -> None:
    """The additive figures, by name: a report's layers and totals carry every CostTotals field."""
    for name in COST_FIELDS:
        setattr(target, name, getattr(totals, name))


def add_roofline(report: ModelReport, result) -> ModelReport:
    """Per-layer predicted time and bound, and per-sub-module time where sub-modules are shown."""
    for layer, lr in zip(report.layers, result.layers):
        layer.predicted_ms = lr.predicted_ms
        layer.bound = lr.bound
        subs = result.submodules.get(layer.index, {})
        for sub in layer.submodules:
            if sub.path in subs:
                sub.predicted_ms = subs[sub.path].predicted_ms
    report.totals.predicted_ms = result.predicted_ms
    report.model.device_spec = result.device
    report.model.predicted_unit = "relative" if result.relative_only else "ms"
    report.model.attention = result.attention
    return report


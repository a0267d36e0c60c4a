"""BuiltModel (+ counted costs, + roofline) -> ModelReport. The only place that turns model objects into data."""

from __future__ import annotations

from typing import Any

from .build import BuiltModel
from .report import LayerReport, ModelInfo, ModelReport, Totals


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
    return ModelReport(info, totals, layers)


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

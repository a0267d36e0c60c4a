"""ModelReport: the plain, typed, versioned result of ``archscope profile``.

Everything downstream (renderers, compare, check, scripts reading the JSON) works on this data and never on the
model. ``to_dict()`` gives exactly the documented JSON; ``from_dict()`` reads it back. No torch import here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

SCHEMA = "archscope.report/1"


@dataclass
class ModelInfo:
    path: str
    name: str
    scale: str | None
    imgsz: list[int]  # [H, W]
    batch: int
    ch: int
    nc: int
    dialect: str = "ultralytics"
    dtype: str = "fp32"
    device_spec: str | None = None  # roofline device preset, when one was asked for
    predicted_unit: str | None = None  # "ms", or "relative" for presets known only by their ridge point


@dataclass
class SubmoduleReport:
    """Costs of one sub-module inside a layer (path relative to the layer, e.g. ``m.0.attn.qkv``)."""

    path: str
    depth: int
    module: str
    params: int
    flops: int
    mac_flops: int
    other_flops: int
    bytes_unfused: int
    predicted_ms: float | None = None


@dataclass
class LayerReport:
    index: int
    from_: Any
    n: int
    module: str
    args: list[Any]
    params: int
    output_shape: Any
    # filled in by the analysis engine (None when the report was made without it)
    flops: int | None = None
    mac_flops: int | None = None
    other_flops: int | None = None
    attention_flops: int | None = None  # part of mac_flops: matmuls of two activations (QK^T, PV)
    attention_bytes: int | None = None  # part of bytes_unfused: what those matmuls read and write
    attention_bytes_fused: int | None = None  # the same with the score matrices kept on chip (fused attention)
    gflops_ultralytics: float | None = None
    gflops_legacy: float | None = None
    bytes_unfused: int | None = None
    bytes_fused: int | None = None
    arithmetic_intensity: dict[str, float] | None = None  # {"unfused": flops/bytes, "fused": flops/bytes}
    activation_bytes: int | None = None
    score_bytes: int | None = None  # the largest attention score matrix the layer materialises (0: none)
    score_shape: list[int] | None = None  # its shape; the last dim is the number of keys each query attends to
    predicted_ms: float | None = None
    bound: str | None = None  # "compute" or "memory"
    submodules: list[SubmoduleReport] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["from"] = d.pop("from_")
        ordered = {"index": d.pop("index"), "from": d.pop("from"), **d}
        return ordered


@dataclass
class Totals:
    params: int
    layers: int  # leaf modules, deduplicated: the "layers" figure Ultralytics 8.3+ prints
    yaml_layers: int  # rows of backbone + head
    buffers: int = 0  # buffer elements (BatchNorm running statistics and the like), listed apart from params
    flops: int | None = None
    mac_flops: int | None = None
    other_flops: int | None = None
    attention_flops: int | None = None
    attention_bytes: int | None = None
    attention_bytes_fused: int | None = None
    gflops_ultralytics: float | None = None
    gflops_legacy: float | None = None
    bytes_unfused: int | None = None
    bytes_fused: int | None = None
    arithmetic_intensity: dict[str, float] | None = None
    activation_bytes: int | None = None
    peak_activation_bytes: int | None = None
    predicted_ms: float | None = None


@dataclass
class Finding:
    """Something about the model a user should act on, found in the figures (see ``archscope.diagnostics``)."""

    kind: str  # e.g. "quadratic-attention"
    layer: int
    message: str


@dataclass
class ModelReport:
    model: ModelInfo
    totals: Totals
    layers: list[LayerReport]
    crosscheck: list[dict[str, Any]] = field(default_factory=list)  # optional fvcore/thop totals
    findings: list[Finding] = field(default_factory=list)
    schema: str = SCHEMA

    @property
    def analysed(self) -> bool:
        return self.totals.flops is not None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "schema": self.schema,
            "model": asdict(self.model),
            "totals": asdict(self.totals),
            "layers": [layer.to_dict() for layer in self.layers],
            "findings": [asdict(f) for f in self.findings],
        }
        if self.crosscheck:
            out["crosscheck"] = list(self.crosscheck)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelReport":
        schema = data.get("schema")
        if schema != SCHEMA:
            raise ValueError(f"not an archscope report (schema {schema!r}, expected {SCHEMA!r})")
        layers = []
        for raw in data["layers"]:
            raw = dict(raw)
            raw["from_"] = raw.pop("from")
            subs = [SubmoduleReport(**s) for s in raw.pop("submodules", [])]
            layers.append(LayerReport(**_known(LayerReport, raw), submodules=subs))
        return cls(
            model=ModelInfo(**_known(ModelInfo, data["model"])),
            totals=Totals(**_known(Totals, data["totals"])),
            layers=layers,
            crosscheck=list(data.get("crosscheck", [])),
            findings=[Finding(**_known(Finding, f)) for f in data.get("findings", [])],
        )


def _known(cls, raw: dict[str, Any]) -> dict[str, Any]:
    """Keys this version knows: newer reports may carry more, which older readers ignore."""
    names = {f.name for f in fields(cls)} - {"submodules"}
    return {k: v for k, v in raw.items() if k in names}

"""ModelReport: the plain, typed, versioned result of ``archscope profile``.

Everything downstream (renderers, compare, check, scripts reading the JSON) works on this data and never on the
model. ``to_dict()`` gives exactly the documented JSON; ``from_dict()`` reads it back. No torch import here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from archscope.errors import ArchscopeError
from archscope.reports.schema import known_fields, require_schema
from archscope.reports.training import FitReport, TrainingReport
from archscope.util.show import text_of

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

SCHEMA = "archscope.report/2"
SCHEMA_PREFIX = "archscope.report/"


def _upgrade_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    """/1's ``peak_activation_bytes`` followed layer outputs only (at layer boundaries): /2 names that figure
    ``layer_boundary_peak_bytes`` and gives ``peak_activation_bytes`` the peak over the operator stream, which a /1
    report does not have (None), so a /1 baseline is never compared with a figure of another meaning."""
    data = dict(data)
    totals = dict(data.get("totals") or {})
    totals["layer_boundary_peak_bytes"] = totals.pop("peak_activation_bytes", None)
    data["totals"] = totals
    data["schema"] = "archscope.report/2"
    return data


# Older report schemas this version still reads, each with the function that lifts its dict to the next schema.
UPGRADES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"archscope.report/1": _upgrade_1_to_2}


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
    fused: bool = False  # the deployed model (--fuse): as Ultralytics' model.fuse() leaves it
    attention: str | None = None  # how the roofline ran attention: "eager" or "fused" (None: no roofline)


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
    peak_activation_bytes: int | None = None  # the most activation bytes live at any operator of this layer
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
    # the peak of live activation storages over the operator stream of the forward (report/2; see
    # archscope.analysis.liveness), and where it happens: layer index, sub-module path inside it, ATen operator
    peak_activation_bytes: int | None = None
    peak_layer: int | None = None
    peak_path: str | None = None
    peak_op: str | None = None
    # /1's coarser figure: live layer outputs at layer boundaries only (archscope.analysis.memory)
    layer_boundary_peak_bytes: int | None = None
    predicted_ms: float | None = None
    # operators seen that have no cost (counted as 0 FLOPs, their bytes still counted), most calls first:
    # [{"op": "aten.foo", "calls": 3}]; None in reports made without the engine or by older versions
    uncounted_ops: list[dict[str, Any]] | None = None


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
    # the options the report was made with (scale, imgsz, batch, dtype, nc, ch, device_spec), as the user gave them;
    # written by `archscope snapshot` so that `check --baseline` can rebuild the model the same way
    settings: dict[str, Any] | None = None
    training: TrainingReport | None = None  # profile --train: one training step (reports.training)
    fit: FitReport | None = None  # a device with a memory size: does it fit, and the largest batch
    schema: str = SCHEMA

    @property
    def analysed(self) -> bool:
        return self.totals.flops is not None

    def __str__(self) -> str:
        """The per-layer table and summary that ``archscope profile`` prints (``print(report)``)."""
        return text_of("profile", self)

    def __repr__(self) -> str:
        m, t = self.model, self.totals
        where = m.path + (f":{m.scale}" if m.scale else "")
        figures = [f"{len(self.layers)} layers", f"{t.params:,} params"]
        if t.flops is not None:
            figures.append(f"{t.flops / 1e9:.4g} GFLOPs")
        if t.predicted_ms is not None and m.device_spec:
            figures.append(f"{t.predicted_ms:.4g} {m.predicted_unit or 'ms'} on {m.device_spec}")
        return f"<ModelReport {where} {'x'.join(map(str, m.imgsz))} batch {m.batch}{' fused' if m.fused else ''}: " \
               f"{', '.join(figures)}>"

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
        if self.settings is not None:
            out["settings"] = dict(self.settings)
        if self.training is not None:
            out["training"] = self.training.to_dict()
        if self.fit is not None:
            out["fit"] = self.fit.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelReport:
        require_schema(data, SCHEMA, "report")
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
            settings=data.get("settings"),
            training=TrainingReport.from_dict(data["training"]) if data.get("training") else None,
            fit=FitReport.from_dict(data["fit"]) if data.get("fit") else None,
        )


def load_report(data: Any, *, file: str | None = None) -> ModelReport:
    """A report dict from any schema this version reads, or an ArchscopeError that says what the data is instead."""
    schema = data.get("schema") if isinstance(data, dict) else None
    if not isinstance(schema, str):
        raise ArchscopeError("not an archscope report (a JSON object with a 'schema' key)", file=file)
    while schema in UPGRADES:
        data = UPGRADES[schema](data)
        schema = data.get("schema")
    if schema != SCHEMA:
        raise ArchscopeError(_schema_problem(schema), file=file)
    try:
        return ModelReport.from_dict(data)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ArchscopeError(f"malformed archscope report ({_malformed(exc)})", file=file) from None


def _malformed(exc: Exception) -> str:
    """What is wrong with a report dict, in archscope's words (not the dataclass constructor's)."""
    import re

    if isinstance(exc, KeyError):
        return f"missing key {str(exc.args[0])[:40]!r}"
    text = str(exc)
    missing = re.findall(r"'(\w+)'", text) if "missing" in text and "required" in text else []
    if missing:
        return "missing key " + ", ".join(repr(m) for m in missing[:4])
    unexpected = re.search(r"unexpected keyword argument '(\w+)'", text)
    if unexpected:
        return f"unexpected key {unexpected.group(1)!r}"
    return "a section holds the wrong kind of value (a list, an object or a number where another is expected)"


MAX_REPORT_BYTES = 64_000_000  # a report JSON of the largest official model is under 1 MB


def read_report(path: str) -> ModelReport:
    """Load a report JSON file (``profile --format json``, ``snapshot``): a regular file, size-checked before it is
    read, and strict JSON (``NaN`` or ``Infinity`` is refused: no figure may be one)."""
    from archscope.util.files import read_input
    from archscope.util.jsonio import loads_strict

    raw = read_input(path, "a report JSON", MAX_REPORT_BYTES)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        data = loads_strict(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ArchscopeError("not UTF-8 text", file=path) from None
    except json.JSONDecodeError as exc:
        raise ArchscopeError(f"invalid JSON: {exc.msg}", file=path, line=exc.lineno) from None
    except RecursionError:
        raise ArchscopeError("invalid JSON: nested too deep for a report", file=path) from None
    except ValueError as exc:  # NaN / Infinity (loads_strict)
        raise ArchscopeError(f"invalid JSON: {exc} (a report's figures are finite numbers or null)",
                             file=path) from None
    return load_report(data, file=path)


def _schema_problem(schema: str) -> str:
    reads = ", ".join([SCHEMA, *UPGRADES])
    if schema.startswith(SCHEMA_PREFIX):
        version = schema[len(SCHEMA_PREFIX):]
        newer = version.isdigit() and int(version) > int(SCHEMA[len(SCHEMA_PREFIX):])
        who = "a newer archscope wrote it: upgrade archscope, or" if newer else "please"
        return (f"report schema {schema!r} is not one this archscope reads ({reads}); {who} re-create the file "
                f"with this version (archscope snapshot / profile --format json)")
    if schema.startswith("archscope."):
        return f"this is an {schema} file, not a model report (give a report from profile --format json or snapshot)"
    return f"not an archscope report (schema {schema!r})"


def _known(cls: type[DataclassInstance], raw: dict[str, Any]) -> dict[str, Any]:
    return known_fields(cls, raw, nested=("submodules",))

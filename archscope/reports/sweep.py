"""SweepReport: the plain, typed, versioned result of ``archscope sweep``.

One :class:`SweepPoint` per (model, image size, batch): the model's totals at that point as ``profile`` counts them
(FLOPs, bytes moved, attention figures, the roofline time on the sweep's device) and, with ``--bench``, the measured
median forward time (or why the point was not timed). :class:`Crossover` records where two models' time order flips
between sweep points. ``to_dict()`` gives exactly the documented JSON; ``from_dict()`` reads it back (keys a newer
version adds are ignored). No torch import here. Times are milliseconds, every figure is for the whole batch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from archscope.reports.schema import known_fields, require_schema
from archscope.util.show import text_of

SCHEMA = "archscope.sweep/1"

#: The per-point figures a sweep records (SweepPoint fields), in the order the CSV writes them.
FIGURES = ("params", "flops", "mac_flops", "attention_flops", "bytes_unfused", "bytes_fused", "attention_bytes",
           "attention_bytes_fused", "peak_activation_bytes", "predicted_ms", "measured_ms")


@dataclass
class SweepModel:
    label: str  # how the tables, the plot and the findings name it (unique within the sweep)
    path: str
    name: str
    scale: str | None
    params: int


@dataclass
class SweepPoint:
    model: str  # a SweepModel's label
    imgsz: list[int]  # [H, W]
    batch: int
    params: int
    flops: int
    mac_flops: int  # the multiply-add part of flops (a multiply-add counts 2)
    attention_flops: int
    bytes_unfused: int
    bytes_fused: int
    attention_bytes: int
    attention_bytes_fused: int
    peak_activation_bytes: int
    predicted_ms: float | None = None  # roofline time of the whole batch on the sweep's device
    measured_ms: float | None = None  # --bench: median forward time of the batch
    measured_runs: int | None = None
    not_measured: str | None = None  # --bench: why this point was not timed (does not fit memory, ...)
    # --layer N: that YAML layer's own figures at this point (None without --layer)
    layer_module: str | None = None
    layer_flops: int | None = None
    layer_bytes_unfused: int | None = None
    layer_attention_bytes: int | None = None
    layer_attention_bytes_fused: int | None = None
    layer_predicted_ms: float | None = None
    layer_measured_ms: float | None = None  # --bench --layer: the layer timed alone (bench --per-layer's median)

    @property
    def size(self) -> int:
        """The image size the x axis shows: the side of a square image, else the larger side."""
        return max(self.imgsz)


@dataclass
class Crossover:
    """Where ``first`` and ``second`` swap places in time (``basis``: "predicted" or "measured") at one batch size.

    ``at_px`` is the image size where the time ratio second/first crosses 1, interpolated linearly between the two
    sweep points around the flip (``between_px``); ``faster_below`` is the model that is faster below it. A pair
    whose order never flips has ``at_px`` None and ``faster_below`` the model that is faster at every size swept."""

    first: str
    second: str
    batch: int
    basis: str
    at_px: float | None
    between_px: list[int] | None
    faster_below: str | None
    faster_above: str | None
    ratio_range: list[float]  # min and max of second/first over the sizes both have
    message: str


@dataclass
class SweepReport:
    models: list[SweepModel]
    points: list[SweepPoint]
    device_spec: str
    predicted_unit: str  # "ms", or "relative" for a preset known only by its ridge point
    dtype: str
    imgsz: list[int]  # the sizes swept, as asked (squares)
    batches: list[int]
    crossovers: list[Crossover] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)  # the crossovers in words, then anything else to say
    notes: list[str] = field(default_factory=list)  # how the sweep ran (jobs, seconds, bench settings)
    bench: dict[str, Any] | None = None  # --bench: the torch device, threads, runs, warm-up
    layer: int | None = None  # --layer N: the times compared (series, crossovers, plot) are that layer's
    attention: str = "eager"  # how the roofline ran attention (--attention; the device's default when not given)
    schema: str = SCHEMA

    def series(self, model: str, batch: int, basis: str = "predicted") -> list[tuple[int, float]]:
        """(image size, time) of ``model`` at ``batch`` in size order, the points without that time left out; the
        time of the sweep's ``layer`` where it has one, else the whole model's."""
        key = "predicted_ms" if basis == "predicted" else "measured_ms"
        if self.layer is not None:
            key = f"layer_{key}"
        out = [(p.size, getattr(p, key)) for p in self.points if p.model == model and p.batch == batch]
        return sorted((s, t) for s, t in out if t is not None)

    def point(self, model: str, size: int, batch: int) -> SweepPoint | None:
        return next((p for p in self.points if p.model == model and p.size == size and p.batch == batch), None)

    def __str__(self) -> str:
        return text_of("sweep", self)

    def __repr__(self) -> str:
        return (f"<SweepReport {len(self.models)} models x {len(self.imgsz)} sizes x {len(self.batches)} batches: "
                f"{len(self.points)} points on {self.device_spec}>")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": self.schema,
            "device_spec": self.device_spec,
            "predicted_unit": self.predicted_unit,
            "dtype": self.dtype,
            "attention": self.attention,
            "imgsz": list(self.imgsz),
            "batches": list(self.batches),
            "models": [asdict(m) for m in self.models],
            "points": [asdict(p) for p in self.points],
            "crossovers": [asdict(c) for c in self.crossovers],
            "findings": list(self.findings),
            "notes": list(self.notes),
        }
        if self.bench is not None:
            out["bench"] = dict(self.bench)
        if self.layer is not None:
            out["layer"] = self.layer
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepReport:
        require_schema(data, SCHEMA, "sweep report")
        return cls(
            models=[SweepModel(**known_fields(SweepModel, m)) for m in data["models"]],
            points=[SweepPoint(**known_fields(SweepPoint, p)) for p in data["points"]],
            device_spec=data["device_spec"],
            predicted_unit=data.get("predicted_unit", "ms"),
            dtype=data["dtype"],
            attention=data.get("attention", "eager"),
            imgsz=list(data["imgsz"]),
            batches=list(data["batches"]),
            crossovers=[Crossover(**known_fields(Crossover, c)) for c in data.get("crossovers", [])],
            findings=list(data.get("findings", [])),
            notes=list(data.get("notes", [])),
            bench=data.get("bench"),
            layer=data.get("layer"),
        )

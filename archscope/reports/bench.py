"""BenchReport: the plain, typed, versioned result of ``archscope bench``.

Renderers, ``compare --bench`` and scripts reading the JSON work on this data only. ``to_dict()`` gives exactly the
documented JSON; ``from_dict()`` reads it back (keys a newer version adds are ignored). No torch import here.
Times are milliseconds, rates per second, ``flops``/``bytes`` are for the whole batch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from archscope.reports.schema import known_fields, require_schema
from archscope.util.show import text_of

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

SCHEMA = "archscope.bench/1"


@dataclass
class BenchModel:
    path: str
    name: str
    scale: str | None
    imgsz: list[int]  # [H, W]
    ch: int
    nc: int
    params: int
    yaml_layers: int


@dataclass
class BenchEnvironment:
    archscope: str
    torch: str
    python: str
    platform: str
    device: str  # the torch device timed: "cpu", "cuda:0", "mps"
    device_name: str  # "NVIDIA A100-SXM4-80GB", or the CPU model on cpu
    cpu_model: str
    threads: int  # torch intra-op threads during the run
    dtype: str
    memory_available_bytes: int | None = None  # on the timed device, just before the run
    load_average: list[float] | None = None  # 1, 5, 15 minutes, where the OS tells it
    timestamp: str = ""


@dataclass
class BenchSettings:
    device: str  # as asked: auto, cpu, cuda:1, mps
    dtype: str
    batches: list[int]
    imgsz: list[int]
    channels_last: bool
    fuse: bool
    compile: bool
    warmup: int
    runs: int  # at least this many timed runs ...
    min_time: float  # ... and at least this many seconds of them
    max_runs: int
    seed: int
    per_layer: bool
    threads: int | None = None  # as asked (None: torch's default)
    device_spec: str | None = None  # roofline device of the per-layer prediction
    device_spec_origin: str | None = None  # "option", "saved default (PATH)" or "generic preset"
    outlier_rule: str = ""


@dataclass
class LayerTiming:
    """One YAML layer, timed alone (device synchronised before and after it) inside full forwards."""

    index: int
    from_: Any
    module: str
    median_ms: float
    mean_ms: float
    share: float  # of the sum of all layers' median times
    flops: int
    bytes: int  # unfused bytes moved (the analysis' bytes_unfused)
    achieved_flops_per_s: float | None
    achieved_bytes_per_s: float | None
    predicted_ms: float | None = None  # roofline on settings.device_spec
    vs_predicted: float | None = None  # median_ms / predicted_ms: how far from the roofline (1 = on it)
    bound: str | None = None  # which roof the prediction hits: "compute" or "memory"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["from"] = d.pop("from_")
        return {"index": d.pop("index"), "from": d.pop("from"), **d}


@dataclass
class BatchStats:
    """Whole-model statistics at one batch size."""

    batch: int
    median_ms: float
    mean_ms: float
    p10_ms: float
    p90_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    runs: int  # timed runs, outliers included
    outliers: int  # timed runs left out of the statistics (settings.outlier_rule)
    images_per_s: float  # batch / median
    flops: int  # of one forward of the whole batch, from the analysis
    bytes: int  # unfused bytes moved by one forward, from the analysis
    achieved_flops_per_s: float  # flops / median
    achieved_bytes_per_s: float  # bytes / median
    memory_estimate_bytes: int  # weights + peak activations (util.memory.inference_memory), checked before allocating
    predicted_ms: float | None = None  # whole-model roofline time on settings.device_spec
    samples_ms: list[float] = field(default_factory=list)  # every timed run, in order
    layers: list[LayerTiming] | None = None  # with --per-layer
    layer_runs: int | None = None  # forwards timed layer by layer
    layers_sum_ms: float | None = None  # sum of the layers' medians; minus median_ms = the per-layer overhead
    # the activation peak of one extra, untimed forward (archscope.measure.peak: weights not included, the input
    # included), how it was measured, and the analysis' estimate of the same (its peak_activation_bytes)
    peak_measured_bytes: int | None = None
    peak_method: str | None = None
    peak_estimate_bytes: int | None = None

    @property
    def peak_error(self) -> float | None:
        """How far the estimate is from the measurement: estimate / measured - 1 (0.02 = the estimate is 2 % over)."""
        if not self.peak_measured_bytes or self.peak_estimate_bytes is None:
            return None
        return self.peak_estimate_bytes / self.peak_measured_bytes - 1.0

    @property
    def layer_overhead(self) -> float | None:
        """How much longer the layer-by-layer sum is than the whole-model median (0.1 = 10 %)."""
        if self.layers_sum_ms is None or not self.median_ms:
            return None
        return self.layers_sum_ms / self.median_ms - 1.0

    @property
    def prediction_error(self) -> PredictionError | None:
        """How far the roofline prediction is from this batch's measurement (with --per-layer and a prediction)."""
        return prediction_error(self)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["layers"] = None if self.layers is None else [layer.to_dict() for layer in self.layers]
        d["layer_overhead"] = self.layer_overhead  # derived, for readers of the JSON; ignored by from_dict
        error = self.prediction_error
        d["prediction_error"] = None if error is None else asdict(error)  # derived likewise
        return d


@dataclass(frozen=True)
class PredictionError:
    """Prediction against measurement for one batch (:mod:`archscope.util.stats`): over the layers with both a
    predicted and a measured time, the geometric median error factor ``exp(median |log(pred / meas)|)`` and the
    Spearman rank correlation; and the whole model's ``predicted_ms / median_ms``."""

    layers: int  # layers compared
    median_factor: float | None
    rank_correlation: float | None
    whole_model_ratio: float | None  # predicted / measured, whole forward


def prediction_error(stats: BatchStats) -> PredictionError | None:
    """The :class:`PredictionError` of one batch; None without per-layer rows or predictions."""
    from archscope.util.stats import median_factor, paired, spearman

    if not stats.layers:
        return None
    pairs = paired([r.predicted_ms for r in stats.layers], [r.median_ms for r in stats.layers])
    if not pairs:
        return None
    pred, meas = [p for p, _ in pairs], [m for _, m in pairs]
    whole = stats.predicted_ms / stats.median_ms if stats.predicted_ms and stats.median_ms else None
    return PredictionError(len(pairs), median_factor(pred, meas), spearman(pred, meas), whole)


@dataclass
class BenchReport:
    model: BenchModel
    environment: BenchEnvironment
    settings: BenchSettings
    batches: list[BatchStats]
    notes: list[str] = field(default_factory=list)
    schema: str = SCHEMA

    # Shortcuts for a one-batch run (what `archscope compare --bench` reads): the statistics blocks, the first
    # batch's per-layer rows, and the torch device that was timed.
    @property
    def stats(self) -> list[BatchStats]:
        return self.batches

    @property
    def layers(self) -> list[LayerTiming] | None:
        return self.batches[0].layers if self.batches else None

    @property
    def device(self) -> str:
        return self.environment.device

    def __str__(self) -> str:
        """The statistics table (and per-layer tables) that ``archscope bench`` prints (``print(report)``)."""
        return text_of("bench", self)

    def __repr__(self) -> str:
        m = self.model
        where = m.path + (f":{m.scale}" if m.scale else "")
        timed = ", ".join(f"batch {s.batch} median {s.median_ms:.4g} ms" for s in self.batches)
        return f"<BenchReport {where} {'x'.join(map(str, m.imgsz))} on {self.environment.device} " \
               f"{self.environment.dtype}: {timed or 'no runs'}>"

    def batch(self, size: int) -> BatchStats:
        """The statistics at batch ``size`` (KeyError if it was not timed)."""
        for stats in self.batches:
            if stats.batch == size:
                return stats
        raise KeyError(size)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "model": asdict(self.model),
            "environment": asdict(self.environment),
            "settings": asdict(self.settings),
            "batches": [stats.to_dict() for stats in self.batches],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchReport:
        require_schema(data, SCHEMA, "bench report")
        batches = []
        for raw in data["batches"]:
            raw = dict(raw)
            layers = raw.pop("layers", None)
            if layers is not None:
                layers = [LayerTiming(from_=row.get("from"), **_known(LayerTiming, row)) for row in layers]
            batches.append(BatchStats(**_known(BatchStats, raw), layers=layers))
        return cls(
            model=BenchModel(**_known(BenchModel, data["model"])),
            environment=BenchEnvironment(**_known(BenchEnvironment, data["environment"])),
            settings=BenchSettings(**_known(BenchSettings, data["settings"])),
            batches=batches,
            notes=list(data.get("notes", [])),
        )


def _known(cls: type[DataclassInstance], raw: dict[str, Any]) -> dict[str, Any]:
    return known_fields(cls, raw, nested=("layers", "from_"))

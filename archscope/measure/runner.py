"""Timed forward passes of a built model on CPU, CUDA or MPS, whole and per YAML layer, beside the analysis.

The measuring rules live in :mod:`archscope.timing`; this module picks the device (and its synchronize, timing
events and free memory), checks that the run fits before allocating anything, prepares the real model (seeded
weights, BN folding, dtype, channels-last, ``torch.compile``) and turns the samples into a :class:`BenchReport`.
torch is imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import datetime as _dt
import platform
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from archscope.build.fuse import DeploySummary, deploy, deployed_copy
from archscope.errors import ArchscopeError
from archscope.measure import timing, trust
from archscope.reports.bench import BatchStats, BenchEnvironment, BenchModel, BenchReport, BenchSettings, LayerTiming
from archscope.util.memory import MEMORY_HEADROOM, host_available_bytes, inference_memory
from archscope.util.text import one_line
from archscope.vocab import torch_dtype

# progress(phase, done, total): total is None while the number of runs is not known yet (--min-time)
Progress = Callable[[str, int, "int | None"], None]


@dataclass(frozen=True)
class BenchOptions:
    batches: tuple[int, ...] = (1,)
    device: str = "auto"
    dtype: str = "fp32"
    channels_last: bool = False
    fuse: bool = False
    compile: bool = False
    threads: int | None = None
    warmup: int = 3
    runs: int = 10
    min_time: float = 1.0
    max_runs: int = timing.MAX_RUNS
    seed: int = 0
    per_layer: bool = False


@dataclass
class Target:
    """A device to time on: its torch name, what to call it, how to time it and how much memory it has free."""

    device: str
    name: str
    stopwatch: timing.Stopwatch
    available_bytes: Callable[[], int | None]
    # measure_peak(forward, x, model) -> PeakMeasure | None: one untimed forward's activation peak (measure.peak)
    measure_peak: Callable[[Callable[[], Any], Any, Any], Any] | None = None


# ------------------------------------------------------------------------------------------------------ devices


def resolve_device(device: str, *, cuda_count: Callable[[], int] | None = None,
                   mps_available: Callable[[], bool] | None = None) -> str:
    """``auto`` -> cuda, else mps, else cpu; ``cuda:N`` checked against the GPUs present; an ArchscopeError for a
    device that is not here. The two probes default to torch's and exist for tests."""
    import torch

    cuda_count = cuda_count or (lambda: torch.cuda.device_count() if torch.cuda.is_available() else 0)
    mps_available = mps_available or (lambda: bool(getattr(torch.backends, "mps", None)
                                                   and torch.backends.mps.is_available()))
    text = device.strip().lower()
    kind, _, index = text.partition(":")
    if text == "auto":
        return "cuda:0" if cuda_count() else "mps" if mps_available() else "cpu"
    if text == "cpu":
        return "cpu"
    if kind == "cuda" and (index == "" or index.isdigit()):
        gpus = cuda_count()
        if not gpus:
            raise ArchscopeError(f"--device {device}: torch sees no CUDA GPU on this machine (torch "
                                 f"{torch.__version__}); use --device cpu")
        n = int(index or 0)
        if n >= gpus:
            raise ArchscopeError(f"--device {device}: this machine has {gpus} CUDA GPU(s), cuda:0 to cuda:{gpus - 1}")
        return f"cuda:{n}"
    if text == "mps":
        if not mps_available():
            raise ArchscopeError(f"--device mps: torch has no MPS (Apple GPU) backend on this machine "
                                 f"({platform.system()} {platform.machine()}); use --device cpu")
        return "mps"
    raise ArchscopeError(f"--device must be auto, cpu, cuda, cuda:N or mps, got {device!r}{roofline_hint(device)}")


def roofline_hint(device: str) -> str:
    """``"; ... --device-spec a100"`` when a torch-device option was given a roofline preset or device file."""
    from archscope.devices.presets import load_device

    try:
        load_device(device)
    except ArchscopeError:
        return ""
    return (f"; {device!r} is a roofline device: --device is the torch device to time on, the roofline device is "
            f"--device-spec {device}")


def target_for(device: str) -> Target:
    """The stopwatch and memory probe for a resolved device: CUDA events on CUDA, wall clock elsewhere."""
    from functools import partial

    import torch

    from archscope.devices.calibrate import backend_for
    from archscope.measure import peak

    backend = backend_for(device)
    measure = partial(peak.measure_peak, device)  # (forward, x, model) -> PeakMeasure | None
    if device.startswith("cuda"):
        dev = torch.device(device)
        return Target(device, torch.cuda.get_device_name(dev),
                      timing.EventStopwatch(backend.synchronize, lambda: torch.cuda.Event(enable_timing=True)),
                      lambda: int(torch.cuda.mem_get_info(dev)[0]), measure)
    if device == "mps":
        return Target(device, f"Apple MPS ({cpu_model()})", timing.SyncStopwatch(backend.synchronize),
                      _mps_free_bytes, measure)
    return Target("cpu", cpu_model(), timing.SyncStopwatch(backend.synchronize), host_available_bytes, measure)


def _mps_free_bytes() -> int | None:
    import torch

    limit = getattr(torch.mps, "recommended_max_memory", None)
    used = getattr(torch.mps, "driver_allocated_memory", None)
    return int(limit() - used()) if limit and used else host_available_bytes()


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


# ------------------------------------------------------------------------------------------------------- memory


@dataclass(frozen=True)
class MemoryNeed:
    """What a forward needs, by the one estimate ``profile``'s fit and ``check --max-peak-memory`` use too
    (:func:`archscope.util.memory.inference_memory`): weights and buffers plus the report's activation peak."""

    weights: int
    activations: int  # the report's peak_activation_bytes

    @property
    def total(self) -> int:
        return inference_memory(self.weights, self.activations)


def memory_need(weight_elements: int, costs) -> MemoryNeed:
    return MemoryNeed(weight_elements * costs.bytes_per_element, costs.peak_activation_bytes)


def check_memory(need: MemoryNeed, available: int | None, *, device: str, batch: int, imgsz, dtype: str) -> None:
    """Refuse, before anything is allocated, a run that would not fit (or would swap)."""
    if available is None or need.total <= MEMORY_HEADROOM * available:
        return
    gib = 2**30
    raise ArchscopeError(
        f"batch {batch} at {imgsz[0]}x{imgsz[1]} {dtype} needs about {need.total / gib:.2f} GiB on {device} "
        f"(weights {need.weights / gib:.2f} + peak activations {need.activations / gib:.2f} GiB, as profile "
        f"estimates it) but only {available / gib:.2f} GiB is free; use a smaller --batch or --imgsz")


# -------------------------------------------------------------------------------------------------------- model


class Prepared(NamedTuple):
    eager: Any  # the ArchModel, run layer by layer for --per-layer
    whole: Any  # what is timed whole: the same model, or torch.compile of it
    deployed: DeploySummary | None  # what --fuse changed (None without it)


def prepare_model(built, options: BenchOptions, device: str) -> Prepared:
    """The real model to time: seeded weights made on CPU (the same values on every device), deployed if asked
    (:func:`archscope.build.fuse.deploy` with the real folding arithmetic, on the CPU fp32 weights), then moved to
    the device, dtype and memory format."""
    import torch

    from archscope.build.materialize import materialize

    model = materialize(built, device="cpu", seed=options.seed)
    deployed = deploy(model) if options.fuse else None
    dtype = torch_dtype(options.dtype)
    model = model.to(device=device, dtype=dtype)
    if options.channels_last:
        model = model.to(memory_format=torch.channels_last)
    whole = model
    if options.compile:
        try:
            whole = torch.compile(model)
        except Exception as exc:  # noqa: BLE001 - e.g. no compiler backend for this platform
            raise ArchscopeError(f"--compile: torch.compile is not usable here ({one_line(exc, limit=200)})") from None
    return Prepared(model, whole, deployed)


def make_input(built, batch: int, options: BenchOptions, device: str):
    """Seeded uniform [0, 1) images (like normalised pixels): defined values, never denormals."""
    import torch

    generator = torch.Generator().manual_seed(options.seed)
    x = torch.rand(batch, built.ch, *built.imgsz, generator=generator)
    x = x.to(device=device, dtype=torch_dtype(options.dtype))
    return x.contiguous(memory_format=torch.channels_last) if options.channels_last else x


# ---------------------------------------------------------------------------------------------------------- run


@dataclass
class Analysis:
    """What the analysis says about one batch size: costs, the roofline (optional) and the memory need."""

    batch: int
    costs: Any  # ModelCosts
    need: MemoryNeed
    roofline: Any = None  # RooflineResult on the roofline device


def analyse_batches(built, options: BenchOptions, roofline_device=None) -> list[Analysis]:
    """Count every batch size on meta (cheap) before any real tensor exists."""
    from archscope.analysis.analyze import analyze

    weights = sum(p.numel() for p in built.model.parameters()) + sum(b.numel() for b in built.model.buffers())
    out = []
    for batch in options.batches:
        costs = analyze(replace(built, batch=batch), dtype=options.dtype, legacy=False)
        result = None
        if roofline_device is not None:
            from archscope.devices.roofline import roofline

            # the timed forward is PyTorch eager: explicit matmul + softmax write their scores (SDPA ops carry none)
            result = roofline(roofline_device, options.dtype, costs.ops, layers=range(len(built.layers)),
                              attention="eager")
        out.append(Analysis(batch, costs, memory_need(weights, costs), result))
    return out


def run_bench(built, options: BenchOptions, *, target: Target, roofline_device=None,
              roofline_origin: str | None = None, notes: list[str] | None = None,
              progress: Progress | None = None, probe: trust.Probe | None = None) -> BenchReport:
    """Check memory, prepare the model, time every batch (whole, then per layer if asked), and report.

    ``probe`` reads the machine's load and CPU clocks for the trust warnings (:mod:`archscope.measure.trust`),
    which end the notes; the default reads the real OS."""
    import torch

    notes = list(notes or [])
    probe = probe or trust.Probe()
    # --fuse: the figures (FLOPs, bytes, roofline, parameters) are the deployed model's, counted on a meta copy
    _report(progress, "counting FLOPs", 0, None)
    analysed = deployed_copy(built) if options.fuse else built
    analyses = analyse_batches(analysed, options, roofline_device)
    available = target.available_bytes()
    for a in analyses:  # the whole list first: refuse before the first allocation, not after batch 1 ran
        check_memory(a.need, available, device=target.device, batch=a.batch, imgsz=built.imgsz, dtype=options.dtype)
    report_model = BenchModel(path=built.spec.path, name=built.spec.name, scale=built.scaling.scale,
                              imgsz=list(built.imgsz), ch=built.ch, nc=built.nc, params=analysed.params,
                              yaml_layers=len(built.layers))
    previous_threads = torch.get_num_threads()
    if options.threads is not None:
        torch.set_num_threads(options.threads)
    try:
        environment = _environment(target, options, available, probe.load_average())
        _report(progress, "making the weights", 0, None)
        eager, whole, deployed = prepare_model(built, options, target.device)
        if deployed is not None:
            notes.append(f"--fuse: the deployed model, as Ultralytics' model.fuse() leaves it: {deployed.describe()}")
        if options.compile and options.per_layer:
            notes.append("per-layer times are of the eager model: torch.compile optimises across layers, so the "
                         "compiled model is timed whole only")
        batches = []
        before = probe.cpu_state()
        with torch.inference_mode():
            for a in analyses:
                batches.append(_time_batch(built, eager, whole, a, options, target, progress))
        after = probe.cpu_state()
    finally:
        torch.set_num_threads(previous_threads)
    notes += trust.assess(batches, device=target.device, load=environment.load_average, cores=probe.cores(),
                          before=before, after=after)
    settings = BenchSettings(
        device=options.device, dtype=options.dtype, batches=list(options.batches), imgsz=list(built.imgsz),
        channels_last=options.channels_last, fuse=options.fuse, compile=options.compile, warmup=options.warmup,
        runs=options.runs, min_time=options.min_time, max_runs=options.max_runs, seed=options.seed,
        per_layer=options.per_layer, threads=options.threads,
        device_spec=roofline_device.name if roofline_device is not None else None,
        device_spec_origin=roofline_origin, outlier_rule=timing.OUTLIER_RULE)
    return BenchReport(report_model, environment, settings, batches, notes)


def time_forward(forward: Callable[[], Any], stopwatch: timing.Stopwatch, options: BenchOptions, *,
                 progress: Progress | None = None, label: str = "") -> list[float]:
    """Warm up, then the timed runs of ``forward`` (seconds each) by the options' runs/min-time rule. Call it
    inside ``torch.inference_mode()``. The benchmarks use it to time any module the way ``bench`` does."""
    total_runs = None if options.min_time > 0 else options.runs
    phase = f"{label}: warm-up"
    _report(progress, phase, 0, options.warmup)
    timing.warm_up(forward, stopwatch.synchronize, options.warmup,
                   on_call=lambda done: _report(progress, phase, done, options.warmup))
    return timing.sample(forward, stopwatch, runs=options.runs, min_time=options.min_time,
                         max_runs=options.max_runs,
                         on_run=lambda done, _: _report(progress, f"{label}: timing", done, total_runs))


def _time_batch(built, eager, whole, a: Analysis, options: BenchOptions, target: Target, progress) -> BatchStats:
    x = make_input(built, a.batch, options, target.device)
    label = f"batch {a.batch}"
    with _forward_errors(options, target, a.batch):
        samples = time_forward(lambda: whole(x), target.stopwatch, options, progress=progress, label=label)
    summary = timing.summarize(samples)
    totals = a.costs.totals
    median_s = summary.median
    stats = BatchStats(
        batch=a.batch, median_ms=median_s * 1e3, mean_ms=summary.mean * 1e3, p10_ms=summary.p10 * 1e3,
        p90_ms=summary.p90 * 1e3, std_ms=summary.std * 1e3, min_ms=summary.min * 1e3, max_ms=summary.max * 1e3,
        runs=summary.runs, outliers=summary.outliers, images_per_s=a.batch / median_s,
        flops=totals.flops, bytes=totals.bytes_unfused, achieved_flops_per_s=totals.flops / median_s,
        achieved_bytes_per_s=totals.bytes_unfused / median_s, memory_estimate_bytes=a.need.total,
        predicted_ms=a.roofline.predicted_ms if a.roofline is not None else None,
        samples_ms=[s * 1e3 for s in samples])
    if target.measure_peak is not None:  # one more forward, untimed, of the eager model the estimate is of
        _report(progress, f"{label}: measuring peak memory", 0, None)
        with _forward_errors(options, target, a.batch):
            measured = target.measure_peak(lambda: eager(x), x, eager)
        if measured is not None:
            stats.peak_measured_bytes, stats.peak_method = measured.bytes, measured.method
            stats.peak_estimate_bytes = a.costs.peak_activation_bytes
    if options.per_layer:
        with _forward_errors(options, target, a.batch):
            _per_layer(stats, built, eager, x, a, options, target, progress, label)
    return stats


def _per_layer(stats: BatchStats, built, eager, x, a: Analysis, options, target, progress, label):
    sync = target.stopwatch.synchronize
    total_runs = None if options.min_time > 0 else options.runs
    phase = f"{label}: per-layer warm-up"
    _report(progress, phase, 0, options.warmup)
    timing.warm_up(lambda: eager.run(x), sync, options.warmup,
                   on_call=lambda done: _report(progress, phase, done, options.warmup))
    forwards = timing.sample_layers(lambda wrap: eager.run(x, wrap=wrap), target.stopwatch, runs=options.runs,
                                    min_time=options.min_time, max_runs=options.max_runs,
                                    on_run=lambda done, _: _report(progress, f"{label}: per layer", done,
                                                                   total_runs))
    summaries = [timing.summarize([f[i] for f in forwards]) for i in range(len(built.layers))]
    layer_sum = sum(s.median for s in summaries)
    rows = []
    for layer, lc, s in zip(built.layers, a.costs.layers, summaries):
        flops, nbytes = lc.totals.flops, lc.totals.bytes_unfused
        predicted = bound = None
        if a.roofline is not None:
            lr = a.roofline.layer(layer.index)
            predicted, bound = lr.predicted_ms, lr.bound
        rows.append(LayerTiming(
            index=layer.index, from_=layer.from_, module=layer.module, median_ms=s.median * 1e3,
            mean_ms=s.mean * 1e3, share=s.median / layer_sum if layer_sum else 0.0, flops=flops, bytes=nbytes,
            achieved_flops_per_s=flops / s.median if s.median > 0 else None,
            achieved_bytes_per_s=nbytes / s.median if s.median > 0 else None,
            predicted_ms=predicted, vs_predicted=s.median * 1e3 / predicted if predicted else None, bound=bound))
    stats.layers, stats.layer_runs, stats.layers_sum_ms = rows, len(forwards), layer_sum * 1e3


def _report(progress: Progress | None, phase: str, done: int, total: int | None) -> None:
    if progress is not None:
        progress(phase, done, total)


class _forward_errors:
    """A real forward that fails (a dtype the device has no kernel for, out of memory, a compiler missing) becomes
    one clear ArchscopeError instead of a traceback."""

    def __init__(self, options: BenchOptions, target: Target, batch: int):
        self.options, self.target, self.batch = options, target, batch

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or isinstance(exc, (ArchscopeError, KeyboardInterrupt)):
            return False
        from archscope.build.graph import LayerFailure

        where = ""
        if isinstance(exc, LayerFailure):
            where, exc = f" in layer {exc.index}", exc.error
        text = one_line(exc, limit=200)
        o, dev = self.options, self.target.device
        if "out of memory" in text.lower():
            raise ArchscopeError(f"out of memory on {dev}{where} at batch {self.batch}: {text}; use a smaller "
                                 f"--batch or --imgsz") from None
        if o.compile and (type(exc).__module__.startswith(("torch._dynamo", "torch._inductor"))
                          or "inductor" in text.lower()):
            raise ArchscopeError(f"--compile failed on {dev}{where}: {text}; run without --compile") from None
        hint = "; try --dtype fp32" if o.dtype != "fp32" else ""
        raise ArchscopeError(f"the {o.dtype} forward failed on {dev}{where} at batch {self.batch}: {text}{hint}") \
            from None


def _environment(target: Target, options: BenchOptions, available: int | None,
                 load_average: tuple[float, ...] | None) -> BenchEnvironment:
    import torch

    from archscope._version import __version__

    load = [round(v, 2) for v in load_average] if load_average else None
    return BenchEnvironment(
        archscope=__version__, torch=torch.__version__, python=platform.python_version(),
        platform=f"{platform.system()} {platform.release()} {platform.machine()}", device=target.device,
        device_name=target.name, cpu_model=cpu_model(), threads=torch.get_num_threads(), dtype=options.dtype,
        memory_available_bytes=available, load_average=load,
        timestamp=_dt.datetime.now().astimezone().isoformat(timespec="seconds"))



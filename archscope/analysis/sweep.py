"""The sweep engine: every (model, image size, batch) point counted on the meta device, as ``profile`` counts it.

A point is one build on ``meta`` and one counting forward (no weights, no activations: tens of milliseconds), so a
sweep of hundreds of points takes seconds. ``jobs > 1`` spreads the points over that many worker processes
(``concurrent.futures`` with the ``spawn`` start method: a worker imports torch and archscope once, about 2 s, then
takes its share of the points in a few chunks); the points come back in the order they were asked for, whatever
the number of workers. Timing points (``--bench``) is not done here (see ``archscope.api.sweep``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from archscope.errors import ArchscopeError
from archscope.reports.sweep import SweepPoint

MAX_POINTS = 20_000  # a sweep bigger than this is a typo in a range, not a study

SIZES_HELP = "a comma-separated list of square sizes such as 224,256,320 or a range start:stop:step such as 256:1280:64"


def parse_sizes(value: str | int | Sequence[int]) -> list[int]:
    """``"224,256,320"`` -> [224, 256, 320]; ``"256:1280:128"`` -> 256, 384, ..., 1280 (stop included); both may
    be mixed (``"224,256:512:128"``). Ascending, no repeats; every size a positive integer (square images)."""
    if isinstance(value, bool):
        raise ArchscopeError(f"--imgsz must be {SIZES_HELP}, got {value!r}")
    if isinstance(value, int):
        parts: list[str] = [str(value)]
    elif isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
    else:
        parts = [str(v) for v in value]
    sizes: list[int] = []
    for part in parts:
        fields = part.split(":")
        if not all(f.strip().isdigit() for f in fields) or len(fields) not in (1, 3):
            raise ArchscopeError(f"--imgsz must be {SIZES_HELP}, got {str(value)!r}")
        numbers = [int(f) for f in fields]
        if len(numbers) == 1:
            sizes.append(numbers[0])
            continue
        start, stop, step = numbers
        if step < 1 or stop < start:
            raise ArchscopeError(f"--imgsz range {part!r}: needs start <= stop and a step >= 1 (start:stop:step)")
        if (stop - start) // step + 1 > MAX_POINTS:
            raise ArchscopeError(f"--imgsz range {part!r} has more than {MAX_POINTS:,} sizes")
        sizes += list(range(start, stop + 1, step))
    if any(s < 1 for s in sizes):
        raise ArchscopeError(f"--imgsz sizes must be positive, got {str(value)!r}")
    return sorted(set(sizes))


@dataclass(frozen=True)
class PointTask:
    """One point to count: a model file (with its scale) at one square image size and batch."""

    label: str
    path: str
    scale: str | None
    size: int
    batch: int
    nc: int | None = None
    ch: int | None = None


@dataclass(frozen=True)
class SweepSettings:
    dtype: str = "fp32"
    device_spec: str | None = "cpu"  # roofline device: a preset name or a device file (None: no predicted time)
    fuse: bool = False
    blocks: tuple[str, ...] = ()  # user block files or modules, registered in every worker too
    layer: int | None = None  # also record this YAML layer's own figures at every point
    attention: str | None = None  # how the roofline runs attention (vocab.ATTENTION_MODES); None: the device's


def evaluate(task: PointTask, settings: SweepSettings) -> SweepPoint:
    """Count one point: the same build, counting and roofline as ``archscope.profile`` (no legacy-convention proxy
    forward, no sub-modules: a sweep reports totals)."""
    from archscope.analysis.analyze import analyze
    from archscope.analysis.to_report import add_costs, add_roofline, make_report

    try:
        built = _built(task, settings)
        costs = analyze(built, dtype=settings.dtype, legacy=False)
    except ArchscopeError as exc:  # which point of the sweep, then what went wrong there
        raise ArchscopeError(f"at imgsz {task.size}, batch {task.batch}: {exc.message}", file=exc.file or task.path,
                             line=exc.line, layer=exc.layer, module=exc.module) from None
    report = add_costs(make_report(built, dtype=settings.dtype), built, costs)
    if settings.device_spec is not None:
        from archscope.devices.roofline import roofline

        add_roofline(report, roofline(_device(settings.device_spec), settings.dtype, costs.ops,
                                      layers=range(len(built.layers)), attention=settings.attention))
    t = report.totals
    extra: dict[str, Any] = {}
    if settings.layer is not None:
        if not 0 <= settings.layer < len(report.layers):
            raise ArchscopeError(f"--layer {settings.layer}: the model has layers 0 to {len(report.layers) - 1}",
                                 file=task.path)
        row = report.layers[settings.layer]
        extra = dict(layer_module=row.module, layer_flops=row.flops, layer_bytes_unfused=row.bytes_unfused,
                     layer_attention_bytes=row.attention_bytes, layer_attention_bytes_fused=row.attention_bytes_fused,
                     layer_predicted_ms=row.predicted_ms)
    return SweepPoint(model=task.label, imgsz=[task.size, task.size], batch=task.batch, params=t.params,
                      flops=t.flops or 0, mac_flops=t.mac_flops or 0, attention_flops=t.attention_flops or 0,
                      bytes_unfused=t.bytes_unfused or 0,
                      bytes_fused=t.bytes_fused or 0, attention_bytes=t.attention_bytes or 0,
                      attention_bytes_fused=t.attention_bytes_fused or 0,
                      peak_activation_bytes=t.peak_activation_bytes or 0, predicted_ms=t.predicted_ms,
                      **extra)


_BUILT: dict[tuple, object] = {}  # per process: each model is built once, then only re-shaped for every point


def _built(task: PointTask, settings: SweepSettings):
    """The model of ``task`` at its size and batch: built (and deployed with ``fuse``) on its first point, then the
    same modules with the shape pass run again (``archscope.build.builder.resized``) for every other point."""
    from archscope.build.builder import BuildOptions, build_model, resized

    key = (task.path, task.scale, task.nc, task.ch, settings.fuse)
    if key not in _BUILT:
        built = build_model(_spec(task.path), BuildOptions(scale=task.scale, nc=task.nc, ch=task.ch,
                                                           imgsz=(task.size, task.size), batch=task.batch))
        if settings.fuse:
            from archscope.build.fuse import deploy_built

            built = deploy_built(built)
        _BUILT[key] = built
        return built
    return resized(_BUILT[key], (task.size, task.size), task.batch)  # type: ignore[arg-type]


_SPECS: dict[str, object] = {}  # per process: a model file is read and parsed once, whatever the number of points
_DEVICES: dict[str, object] = {}


def _spec(path: str):
    from archscope.spec.model_spec import load_spec

    if path not in _SPECS:
        _SPECS[path] = load_spec(path)
    return _SPECS[path]


def _device(name: str):
    from archscope.devices.presets import load_device

    if name not in _DEVICES:
        _DEVICES[name] = load_device(name)
    return _DEVICES[name]


def _load_blocks(blocks: Sequence[str]) -> None:
    from archscope.build.plugins import load_blocks

    for item in blocks:
        load_blocks(item)


def _worker_start(blocks: tuple[str, ...]) -> None:
    """A fresh (spawned) worker: the user's blocks registered, as in the parent."""
    _load_blocks(blocks)


def _evaluate_chunk(tasks: list[PointTask], settings: SweepSettings) -> list[SweepPoint]:
    return [evaluate(task, settings) for task in tasks]


def chunks(tasks: Sequence[PointTask], jobs: int) -> list[list[PointTask]]:
    """``tasks`` in at most ``4 * jobs`` contiguous chunks of nearly equal size (a few per worker keeps the workers
    busy to the end without paying the inter-process hand-over for every point)."""
    count = min(len(tasks), 4 * jobs) or 1
    size, extra = divmod(len(tasks), count)
    out, start = [], 0
    for k in range(count):
        end = start + size + (1 if k < extra else 0)
        out.append(list(tasks[start:end]))
        start = end
    return [c for c in out if c]


def run_points(tasks: Sequence[PointTask], settings: SweepSettings, *, jobs: int = 1) -> list[SweepPoint]:
    """Every task counted, in the order given; ``jobs`` worker processes (1: in this process)."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ArchscopeError(f"--jobs must be a positive integer, got {jobs!r}")
    if len(tasks) > MAX_POINTS:
        raise ArchscopeError(f"a sweep of {len(tasks):,} points is more than {MAX_POINTS:,}: fewer sizes or models")
    for cache in (_BUILT, _SPECS, _DEVICES):  # files may have changed since the last sweep in this process
        cache.clear()
    if settings.device_spec is not None:
        _device(settings.device_spec).peak(settings.dtype)  # an unknown preset or dtype: said before any work
    for task in dict.fromkeys(t.path for t in tasks):
        _spec(task)  # a bad file: said once, before any worker starts
    _load_blocks(settings.blocks)
    jobs = min(jobs, len(tasks)) or 1
    if jobs == 1:
        return _evaluate_chunk(list(tasks), settings)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pieces = chunks(tasks, jobs)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_worker_start,
                             initargs=(tuple(settings.blocks),)) as pool:
        futures = [pool.submit(_evaluate_chunk, piece, settings) for piece in pieces]
        try:
            results = [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return [point for piece in results for point in piece]


def available_cpus() -> int:
    """CPUs this process may run on (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1

"""Calibration: measure this machine's matmul FLOP/s per dtype, streaming bandwidth and, per op class, what each kind
of operator achieves, as a DeviceSpec.

``import archscope.devices.calibrate`` does not import torch; :func:`calibrate` imports it when called.

The model of a calibrated roofline (what :func:`measure_classes` fits and ``DeviceSpec.op_classes`` holds): one op of
class ``c`` (``vocab.OP_CLASSES``; ``analysis.costs.op_class`` maps each ATen operator to one) that archscope counts
at ``F`` FLOPs and ``B`` bytes (unfused: every input and output once), with shape features ``s``
(``vocab.CLASS_FEATURES``: a convolution's implicit-GEMM reduction length, output channels and pixels, kernel and
stride; a matmul's M, K, N; an elementwise op's bytes and FLOPs per byte; ...), takes

    t = overhead_c + max(F / flops_per_s_c(s), B / bytes_per_s_c(s)) + fresh / fresh_bytes_per_s

* One of the two rates *drives* the class (:data:`CLASS_DRIVER`): the compute rate for convolutions, matrix products
  and pooling (whose cost is its kernel elements), the bandwidth for norms/softmax, elementwise, resize and copies.
  The other is the device's one figure (the matmul peak, the copy bandwidth), so every op still meets both roofs.
* The driving rate depends on the op's shape far more than on its size: on this project's CPU a 3-channel stem
  convolution runs at 10 GFLOP/s, a 1x1 convolution at 40-90, a 3x3 one at 140-190, and a 20-pixel row upsamples at a
  sixth of an 80-pixel row's bandwidth. Each class is timed on real kernels (:func:`class_cases`: 10-50 shapes per
  class, those small YOLOs run at 256-640 px, fp32, batch 1); each kernel's achieved rate, ``quantity / (t -
  overhead)``, is kept in the device file with its features (``points``), and an op's rate is their geometric mean
  weighted by a Gaussian in the logarithm of every feature (``ClassRate.rate_at``; widths ``vocab.FEATURE_WIDTHS``):
  the kernels most like the op decide.
* ``overhead_c`` is the time of one tiny call of the class (``ClassCase.floor``: a 4x4 map), what any call costs from
  Python (3-6 us here); without one, the intercept of a straight line through the class's points (:func:`fit_line`).
* Convolutions and concatenations read operands a network wrote long before (a weight: a forward ago; a neck's
  backbone feature), from the cache or from memory depending on how much the forward wrote since: their features end
  in ``operand_age``, those bytes, and each of their kernels is timed three ways (:class:`ColdCall`): in a loop (age:
  its own bytes) and after 16 and 64 MiB of other traffic (:data:`EVICTIONS`) with its first input read again, as a
  layer finds the tensor the layer before it wrote. Hot loops run them 10-40 % (a concat up to 3x) faster than a
  forward at 640 px does; at 320 px, where a forward writes less than the cache holds, they do not. The other
  classes read what the op before them wrote: a loop. Before timing, the allocator is settled as a forward leaves it
  (:func:`settle_allocator`), so no kernel's scratch buffer page-faults on every call.
* ``fresh`` is the op's fresh memory (``OpRecord.fresh_bytes``: outputs too large for a heap to keep, mapped anew
  on every call, see :mod:`archscope.analysis.liveness`; an attention layer's score matrices at 640 px), and
  ``fresh_bytes_per_s`` what writing such memory costs beyond a warm write (:func:`measure_fresh`: a page fault per
  4 KiB page, 2-4 GB/s here). No calibration kernel's output reaches that size, so the class rates hold warm writes.
* Each case's time is the median of its timed trials (not the best, as for the peaks), under
  ``torch.inference_mode()``: ``bench`` reports medians of forwards run that way, and on a shared machine the best
  trial is a moment the timed model seldom gets.

The figures hold for the thread count they were measured with (``threads``; ``bench --threads``) and at fp32.
"""

from __future__ import annotations

import datetime as _dt
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from archscope.devices.spec import DeviceSpec
from archscope.errors import ArchscopeError
from archscope.vocab import CALIBRATE_DTYPES, canonical_dtype, torch_dtype


@dataclass
class Backend:
    """What calibrate needs from a device: a torch device string and a way to wait for queued work."""

    device: str  # "cpu", "cuda", "cuda:1", "mps"
    synchronize: Callable[[], None] = field(default=lambda: None)


def backend_for(device: str) -> Backend:
    """The Backend for a torch device string; a clear error when that device is not there."""
    import torch

    kind = device.split(":", 1)[0].lower()
    if kind == "cpu":
        return Backend("cpu", lambda: None)
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ArchscopeError(f"device '{device}' is not available: torch sees no CUDA GPU here")
        dev = torch.device(device)
        return Backend(str(dev), lambda: torch.cuda.synchronize(dev))
    if kind == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ArchscopeError(f"device '{device}' is not available: torch has no MPS backend here")
        return Backend("mps", torch.mps.synchronize)
    hint = ""
    try:
        from archscope.devices.presets import load_device

        load_device(device)
        hint = f" ('{device}' is a roofline preset: calibrate measures the torch device it runs on)"
    except ArchscopeError:
        pass
    raise ArchscopeError(f"cannot calibrate device '{device}': use cpu, cuda[:N] or mps{hint}")


def time_best(
    fn: Callable[[], Any],
    *,
    synchronize: Callable[[], None],
    clock: Callable[[], float],
    iters: int,
    trials: int,
) -> float:
    """Best (lowest) seconds per call of ``fn`` over ``trials`` trials of ``iters`` calls each.

    The device is synchronised before each trial starts and before its clock is read at the end, so queued
    asynchronous work (CUDA, MPS) is inside the timed interval.
    """
    best = math.inf
    for _ in range(max(1, trials)):
        synchronize()
        t0 = clock()
        for _ in range(max(1, iters)):
            fn()
        synchronize()
        dt = clock() - t0
        best = min(best, dt / max(1, iters))
    return best


def _time_once(fn: Callable[[], Any], synchronize: Callable[[], None], clock: Callable[[], float]) -> float:
    synchronize()
    t0 = clock()
    fn()
    synchronize()
    return max(clock() - t0, 1e-9)


def _plan(one: float, budget: float, trials: int) -> tuple[int, int]:
    """Calls per trial and number of trials that fit ``budget`` seconds, given ``one`` second per call (>= 1 each)."""
    trials = max(1, min(trials, int(budget / one)))
    iters = int(max(1, min(1000, budget / (trials * one))))
    return iters, trials


#: Calibrate repeats each measurement this many times and reports the spread of the repeats ...
REPEATS = 3
#: ... and warns when they disagree by more than this share of their median: (max - min) / median.
SPREAD_LIMIT = 0.20


@dataclass
class Calibration:
    """What calibrate measured: the preset (median of the repeats), every repeat's figure and the warnings."""

    spec: DeviceSpec
    repeats: dict[str, list[float]]  # "fp32" -> FLOP/s of each repeat; "bandwidth" -> bytes/s of each repeat
    warnings: list[str] = field(default_factory=list)

    def spread(self, key: str) -> float:
        """(max - min) / median of the repeats of ``key``."""
        values = self.repeats[key]
        median = _median(values)
        return (max(values) - min(values)) / median if median > 0 else 0.0


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def spread_warnings(repeats: dict[str, list[float]], limit: float = SPREAD_LIMIT) -> list[str]:
    """One line for each measurement whose repeats disagree by more than ``limit`` of their median."""
    out = []
    for key, values in repeats.items():
        median = _median(values)
        if len(values) < 2 or median <= 0:
            continue
        spread = (max(values) - min(values)) / median
        if spread > limit:
            unit, scale = ("GB/s", 1e9) if key == "bandwidth" else ("GFLOP/s", 1e9)
            figures = " / ".join(f"{v / scale:.1f}" for v in values)
            out.append(f"calibrate's {len(values)} {key} measurements disagree: {figures} {unit} (spread "
                       f"{spread:.0%} of the median, limit {limit:.0%}); the machine is busy or throttling: the "
                       f"saved figure (the median) is not to be trusted; run it again on a quiet machine")
    return out


def calibrate(
    device: str = "cpu",
    dtypes: Iterable[str] = ("fp32", "bf16"),
    seconds: float = 3.0,
    *,
    name: str | None = None,
    class_seconds: float = 0.0,
    classes: Iterable[str] | None = None,
    threads: int | None = None,
    matmul_size: int | None = None,
    stream_bytes: int | None = None,
    trials: int = 3,
    repeats: int = REPEATS,
    backend: Backend | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> DeviceSpec:
    """The preset of :func:`measure` (its arguments): what ``archscope calibrate`` saves."""
    return measure(device, dtypes, seconds, name=name, matmul_size=matmul_size, stream_bytes=stream_bytes,
                   trials=trials, repeats=repeats, backend=backend, clock=clock, class_seconds=class_seconds,
                   classes=classes, threads=threads).spec


def measure(
    device: str = "cpu",
    dtypes: Iterable[str] = ("fp32", "bf16"),
    seconds: float = 3.0,
    *,
    name: str | None = None,
    class_seconds: float = 0.0,
    classes: Iterable[str] | None = None,
    threads: int | None = None,
    matmul_size: int | None = None,
    stream_bytes: int | None = None,
    trials: int = 3,
    repeats: int = REPEATS,
    backend: Backend | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Calibration:
    """Measure achieved matmul FLOP/s per dtype and streaming bandwidth on this machine, as a DeviceSpec.

    * compute: square ``n x n`` matmuls (``2 n^3`` FLOPs each), one warm-up call, then the best of ``trials`` timed
      trials; ``n`` doubles from 128 until one call takes ~10 ms at ``n`` >= 512 (2048 on a GPU; cap 2048 / 8192),
      or until a bigger size would not fit the budget, unless ``matmul_size`` is given.
    * bandwidth: ``dst.copy_(src)`` of a large buffer (``stream_bytes``; 128 MiB on CPU, 512 MiB on a GPU), counted as
      bytes read + bytes written, best of ``trials``.
    * ``seconds`` is the total budget (after importing torch), shared equally among the dtypes and the bandwidth
      test; a dtype whose single call is slower than its share still gets one timed call.
    * every figure is measured ``repeats`` times (each a best of ``trials``, in an equal share of its budget); the
      preset holds the median, the Calibration every repeat, and a warning for each figure whose repeats disagree
      by more than :data:`SPREAD_LIMIT` of their median (:func:`spread_warnings`).

    * ``class_seconds`` > 0 also measures the op classes (:func:`measure_classes` on :func:`class_cases`, those
      of ``classes`` or all) in that many more seconds, and saves them as the preset's fp32 ``op_classes`` table.
    * ``threads``: torch's intra-op threads while measuring (CPU; restored afterwards); the figures hold for bench
      runs with the same ``--threads``.

    These are *achieved* figures (what torch reaches here), lower than datasheet peaks; ``backend`` and ``clock``
    exist so tests can fake the device's synchronize and the time.
    """
    import torch

    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ArchscopeError(f"--threads must be a positive integer, got {threads!r}")
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return measure(device, dtypes, seconds, name=name, matmul_size=matmul_size, stream_bytes=stream_bytes,
                           trials=trials, repeats=repeats, backend=backend, clock=clock,
                           class_seconds=class_seconds, classes=classes)
        finally:
            torch.set_num_threads(before)
    if classes is not None:
        unknown = [c for c in classes if c not in CLASS_DRIVER]
        if unknown:
            raise ArchscopeError(f"unknown op class '{unknown[0]}': choose from {', '.join(CLASS_DRIVER)}")

    backend = backend or backend_for(device)
    canon = list(dict.fromkeys(canonical_dtype(d) for d in dtypes))
    bad = [d for d in canon if d not in CALIBRATE_DTYPES]
    if bad:
        raise ArchscopeError(f"cannot calibrate dtype '{bad[0]}': choose from {', '.join(CALIBRATE_DTYPES)}")
    if seconds <= 0:
        raise ArchscopeError("calibrate needs a positive time budget (seconds)")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ArchscopeError(f"--repeats must be a positive integer, got {repeats!r}")
    measured: dict[str, list[float]] = {}
    dev = backend.device
    on_gpu = not dev.startswith("cpu")
    sync = backend.synchronize
    peaks: dict[str, float] = {}
    details: list[str] = []
    deadline = clock() + seconds
    phases_left = len(canon) + 1

    def next_budget() -> float:
        # each phase gets an equal share of what is left, so probing and warm-up stay inside the total budget
        nonlocal phases_left
        share = max(deadline - clock(), 0.0) / phases_left
        phases_left -= 1
        return share

    for dtype in canon:
        tdtype = torch_dtype(dtype)
        budget = next_budget()
        prev_tf32 = None
        if dev.startswith("cuda"):
            prev_tf32 = torch.backends.cuda.matmul.allow_tf32
            torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
        try:
            def make(n: int, dtype: str = dtype, tdtype: Any = tdtype) -> Callable[[], Any]:
                if dtype == "int8":
                    mm = getattr(torch, "_int_mm", None)
                    if mm is None:
                        raise RuntimeError("torch._int_mm is missing in this torch")
                    a = torch.randint(-8, 8, (n, n), dtype=torch.int8, device=dev)
                    b = torch.randint(-8, 8, (n, n), dtype=torch.int8, device=dev)
                    return lambda: mm(a, b)
                a = torch.randn(n, n, device=dev).to(tdtype)
                b = torch.randn(n, n, device=dev).to(tdtype)
                return lambda: torch.mm(a, b)

            phase_end = clock() + budget
            if matmul_size is not None:
                n = int(matmul_size)
                fn = make(n)
                one = _time_once(fn, sync, clock)  # warm-up, and the per-call estimate
            else:
                # Grow n from 128 until one call takes ~10 ms at n >= 512 (2048 on a GPU) or a size cap, but stop
                # early when the next size (8x the work) would not fit the budget: slow dtypes (bf16 emulated on
                # an older CPU) stay small instead of overrunning.
                n, floor, cap = (128, 2048, 8192) if on_gpu else (128, 512, 2048)
                while True:
                    fn = make(n)
                    fn()  # first touch / kernel selection
                    # best of two, so one noisy call cannot stop the growth
                    one = min(_time_once(fn, sync, clock), _time_once(fn, sync, clock))
                    calls = trials * repeats + 1
                    if n >= cap or (one > 0.01 and n >= floor) or one * 8 * calls > phase_end - clock():
                        break
                    n *= 2
            iters, trials_here = _plan(one, (phase_end - clock()) / repeats, trials)
            per_calls = [time_best(fn, synchronize=sync, clock=clock, iters=iters, trials=trials_here)
                         for _ in range(repeats)]
        except RuntimeError as e:
            raise ArchscopeError(
                f"cannot calibrate {dtype} matmul on {dev}: {str(e).splitlines()[0] if str(e) else e}"
            ) from None
        finally:
            if prev_tf32 is not None:
                torch.backends.cuda.matmul.allow_tf32 = prev_tf32
        measured[dtype] = [2.0 * n**3 / max(t, 1e-12) for t in per_calls]
        peaks[dtype] = _median(measured[dtype])
        details.append(f"{dtype}: {n}x{n} matmul x{iters}, best of {trials_here}, median of {repeats}")

    nbytes = int(stream_bytes or (512 << 20 if on_gpu else 128 << 20))
    numel = max(1, nbytes // 4)
    src = torch.ones(numel, dtype=torch.float32, device=dev)
    dst = torch.empty_like(src)
    copy = lambda: dst.copy_(src)  # noqa: E731
    copy()  # first touch of dst
    iters, trials_here = _plan(_time_once(copy, sync, clock), (deadline - clock()) / repeats, trials)
    moved = 2 * numel * 4  # read src + write dst
    measured["bandwidth"] = [moved / max(time_best(copy, synchronize=sync, clock=clock, iters=iters,
                                                   trials=trials_here), 1e-12) for _ in range(repeats)]
    bandwidth = _median(measured["bandwidth"])
    details.append(f"bandwidth: copy of {numel * 4 / 2**20:.0f} MiB (read + write) x{iters}, best of {trials_here}, "
                   f"median of {repeats}")

    op_classes: dict[str, Any] = {}
    if class_seconds > 0:
        if not on_gpu:
            settle_allocator()
        with torch.inference_mode():  # as bench runs its forwards
            found = measure_classes(class_cases(classes), class_seconds, device=dev, synchronize=sync, clock=clock,
                                    trials=trials, repeats=repeats, evict=None if on_gpu else cache_evictor())
        peak32 = peaks.get("fp32") or next(iter(peaks.values()))
        op_classes["fp32"] = class_rates(found.fits.values(), peak32, bandwidth)
        details.append("op classes (fp32, batch 1; seconds = overhead + quantity / rate, fitted over sizes): "
                       + found.details())
    fresh = None
    if class_seconds > 0 and not on_gpu:
        fresh = measure_fresh(clock=clock)
        details.append("fresh memory: " + (f"{fresh / 1e9:.3g} GB/s beyond a warm write (a fresh 48 MiB buffer "
                                           "filled, against a kept one)" if fresh else
                                           "no cost beyond a warm write (this allocator keeps its memory)"))
    threads_now = torch.get_num_threads() if not on_gpu else None
    when = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    where = dev + (f", {threads_now} thread{'s' if threads_now != 1 else ''}" if threads_now else "")
    warnings = spread_warnings(measured)
    spec = DeviceSpec(
        name=name or f"calibrated-{dev.replace(':', '')}",
        peak_flops=peaks,
        bandwidth=bandwidth,
        source=f"measured by archscope calibrate on {when} (torch {torch.__version__}, {where}): " + "; ".join(details),
        notes="Achieved throughput of torch matmul and tensor copy here, not datasheet peaks."
        + (" The op_classes table holds each kind of op's own achieved figures (archscope.devices.calibrate)."
           if op_classes else "")
        + "".join(f" Warning: {w}." for w in warnings),
        **_host_memory(dev),
        op_classes=op_classes,
        fresh_bytes_per_s=fresh,
    )
    return Calibration(spec, measured, warnings)


#: The fresh-memory measurement's buffer: above the 32 MiB a heap stops keeping (analysis.liveness), so every
#: allocation of it comes from the operating system.
FRESH_TEST_BYTES = 48 << 20


def measure_fresh(*, calls: int = 9, clock: Callable[[], float] = time.perf_counter,
                  nbytes: int = FRESH_TEST_BYTES) -> float | None:
    """Bytes/s at which this process writes memory fresh from the operating system, beyond a warm write: the median
    time to allocate and fill ``nbytes`` (fresh pages: a page fault each on the first write) less the median time to
    fill a buffer kept between calls. None when the difference is within 5 % of the warm fill (an allocator that
    keeps its memory: fresh memory costs nothing extra). CPU only; torch must be importable."""
    import torch

    numel = nbytes // 4
    kept = torch.empty(numel)
    kept.fill_(1.0)

    def fresh_fill() -> None:
        torch.empty(numel).fill_(1.0)

    def warm_fill() -> None:
        kept.fill_(1.0)

    fresh_fill()
    fresh_t = _median([_time_once(fresh_fill, lambda: None, clock) for _ in range(calls)])
    warm_t = _median([_time_once(warm_fill, lambda: None, clock) for _ in range(calls)])
    extra = fresh_t - warm_t
    return None if extra <= 0.05 * warm_t else nbytes / extra


def _host_memory(dev: str) -> dict:
    """A calibrated CPU's memory size: this machine's ``MemTotal`` (Linux); nothing elsewhere or for a GPU."""
    if dev != "cpu":
        return {}
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return {"memory_bytes": int(line.split()[1]) * 1024,
                            "memory_source": "MemTotal of /proc/meminfo on the calibrated machine"}
    except (OSError, ValueError, IndexError):
        pass
    return {}
# ------------------------------------------------------------------------------------------------- op classes
#: What drives each class's time: "flops" (its compute rate is fitted) or "bytes" (its bandwidth is fitted).
CLASS_DRIVER: dict[str, str] = {
    "conv": "flops", "depthwise_conv": "flops", "matmul": "flops", "pooling": "flops",
    "softmax_norm": "bytes", "elementwise": "bytes", "resize": "bytes", "copy": "bytes",
}


@dataclass
class ClassCase:
    """One calibration kernel: its class, a label, archscope's FLOPs and bytes of one call, and ``make(device)``,
    which allocates the operands there and returns the call to time."""

    op_class: str
    label: str
    flops: int
    bytes: int
    make: Callable[[str], Callable[[], Any]]  # torch device -> the call to time
    floor: bool = False  # a tiny call: its time is the class's per-call overhead, not a rate
    # its shape features (vocab.CLASS_FEATURES of its class), written out like flops and bytes; a test checks them
    # against what the counting engine records for the same call (analysis.costs.op_features)
    features: tuple[float, ...] = ()


class ColdCall:
    """A calibration call whose operands a network wrote long before (:func:`measure_classes` also times it after
    other traffic has pushed them out of the caches); ``touch`` reads its first input again first, as a layer finds
    the tensor the layer before it wrote."""

    def __init__(self, call: Callable[[], Any], touch: Callable[[], Any]):
        self.call, self.touch = call, touch

    def __call__(self) -> Any:
        return self.call()


@dataclass
class ClassFit:
    """A class's fitted figures and the points they came from: (label, flops, bytes, measured seconds)."""

    op_class: str
    driver: str  # "flops" or "bytes"
    rate: float  # FLOP/s or bytes/s, whichever drives the class: the straight-line fit over every size
    overhead_s: float
    points: list[tuple[str, int, int, float]]
    features: dict[str, tuple[float, ...]] = field(default_factory=dict)  # label -> its shape features, if any

    def quantity(self, flops: float, nbytes: float) -> float:
        return float(flops if self.driver == "flops" else nbytes)

    def achieved(self, flops: float, nbytes: float, t: float) -> float:
        """The driver's rate of one point: its quantity over its time less the overhead (at least half left)."""
        return self.quantity(flops, nbytes) / max(t - self.overhead_s, 0.5 * t)

    def by_size(self) -> tuple[tuple[float, float], ...]:
        """(bytes, achieved driver rate) of each point."""
        out = []
        for _, flops, nbytes, t in self.points:
            if self.quantity(flops, nbytes) > 0 and nbytes > 0 and t > 0:
                out.append((float(nbytes), self.achieved(flops, nbytes, t)))
        return tuple(sorted(out))

    def by_shape(self) -> tuple[tuple[float, ...], ...]:
        """(shape features..., achieved driver rate) of each point whose features are known."""
        out = []
        for label, flops, nbytes, t in self.points:
            where = self.features.get(label)
            if where and self.quantity(flops, nbytes) > 0 and t > 0:
                out.append((*where, self.achieved(flops, nbytes, t)))
        return tuple(out)

    def to_rate(self, peak_flops: float, bandwidth: float) -> Any:
        """The ClassRate of the device file: the driver's rate by shape, and by size for ops whose shapes give no
        features (a backward convolution, a fused attention kernel); the device's one figure for the other roof."""
        from archscope.devices.spec import ClassRate
        from archscope.vocab import CLASS_FEATURES

        flops, nbytes = (self.rate, bandwidth) if self.driver == "flops" else (peak_flops, self.rate)
        shaped = self.by_shape()
        if shaped:
            return ClassRate(flops, nbytes, self.overhead_s, self.driver, self.by_size(), CLASS_FEATURES[self.op_class],
                             shaped)
        return ClassRate(flops, nbytes, self.overhead_s, self.driver, self.by_size())

    def max_error(self, peak_flops: float = math.inf, bandwidth: float = math.inf) -> float:
        """The worst factor between the model and a calibration point (1.0 = exact)."""
        rate = self.to_rate(peak_flops, bandwidth)
        worst = 1.0
        for label, flops, nbytes, t in self.points:
            f, b = rate.rate_at(nbytes, self.features.get(label, ()))
            p = rate.overhead_s + max(flops / f, nbytes / b)
            if p > 0 and t > 0:
                worst = max(worst, p / t, t / p)
        return worst


def fit_line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(rate, overhead seconds) of ``seconds = overhead + quantity / rate`` through (quantity, seconds) points, by
    least squares on relative error; the overhead is never negative. A ValueError when no rate fits."""
    pts = [(q, t) for q, t in points if q > 0 and t > 0]
    if not pts:
        raise ValueError("no calibration point with a positive quantity and time")
    # minimise sum(((o + a q - t) / t)^2): with u = 1/t, v = q/t the normal equations of (o, a) against 1
    suu = sum(1 / t**2 for _, t in pts)
    suv = sum(q / t**2 for q, t in pts)
    svv = sum(q * q / t**2 for q, t in pts)
    su = sum(1 / t for _, t in pts)
    sv = sum(q / t for q, t in pts)
    det = suu * svv - suv * suv
    if len(pts) >= 2 and det > 0:
        o = (su * svv - sv * suv) / det
        a = (suu * sv - suv * su) / det
        if o >= 0 and a > 0:
            return 1 / a, o
    a = sv / svv  # through the origin
    return 1 / a, 0.0


def fit_class(op_class: str, points: list[tuple[str, int, int, float]], *, floor_s: float | None = None,
              features: dict[str, tuple[float, ...]] | None = None) -> ClassFit:
    """Fit one class from (label, flops, bytes, seconds) points on the quantity :data:`CLASS_DRIVER` names.

    ``floor_s``: the measured time of the class's tiny calls, taken as its per-call overhead (the straight line's
    intercept, fitted on large kernels, says little about it: 0.4 us for a copy, where any call from Python costs
    3 us or more); without it the fitted intercept. ``features``: each point's shape features, by label."""
    driver = CLASS_DRIVER[op_class]
    rate, overhead = fit_line([(float(f if driver == "flops" else b), t) for _, f, b, t in points])
    if floor_s is not None:
        overhead = floor_s
    return ClassFit(op_class, driver, rate, overhead, list(points), dict(features or {}))


def class_rates(fits: Iterable[ClassFit], peak_flops: float, bandwidth: float) -> dict[str, Any]:
    """The ``op_classes`` table of one dtype: each fit's rates (:meth:`ClassFit.to_rate`)."""
    return {f.op_class: f.to_rate(peak_flops, bandwidth) for f in fits}


def _floats(*values: float) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def _per_byte(case: ClassCase) -> ClassCase:
    """An elementwise, norm or softmax case with its features: its bytes and FLOPs per byte."""
    case.features = _floats(case.bytes, case.flops / case.bytes)
    return case


def _conv_case(cin: int, cout: int, k: int, hw: int, stride: int = 1, depthwise: bool = False,
               floor: bool = False) -> ClassCase:
    groups = cin if depthwise else 1
    pad = k // 2 if k % 2 else k // 2 - 1  # "same" for odd kernels; YOLOv5's 6x6 stem pads 2
    ho = (hw + 2 * pad - k) // stride + 1
    w_elems = cout * (cin // groups) * k * k
    flops = 2 * ho * ho * w_elems  # archscope's convolution: 2 * N * Hout * Wout * prod(weight); no bias
    nbytes = 4 * (cin * hw * hw + w_elems + cout * ho * ho)

    def make(dev: str) -> Callable[[], Any]:
        import torch

        x = torch.randn(1, cin, hw, hw, device=dev)
        w = torch.randn(cout, cin // groups, k, k, device=dev)
        return ColdCall(lambda: torch.nn.functional.conv2d(x, w, None, stride, pad, 1, groups), x.sum)

    kind = "depthwise_conv" if depthwise else "conv"
    shape = (cout, ho * ho, k * k, stride * stride) if depthwise else (cin * k * k, cout, ho * ho, k * k,
                                                                        stride * stride)
    return ClassCase(kind, f"{kind} {cin}->{cout} k{k} s{stride} {hw}x{hw}", flops, nbytes, make, floor,
                     _floats(*shape, nbytes))


def _mm_case(b: int, m: int, k: int, n: int, floor: bool = False) -> ClassCase:
    flops = 2 * b * m * k * n
    nbytes = 4 * b * (m * k + k * n + m * n)

    def make(dev: str) -> Callable[[], Any]:
        import torch

        x, y = torch.randn(b, m, k, device=dev), torch.randn(b, k, n, device=dev)
        return (lambda: torch.bmm(x, y)) if b > 1 else (lambda: torch.mm(x[0], y[0]))

    return ClassCase("matmul", f"{'bmm' if b > 1 else 'mm'} {b}x{m}x{k}x{n}", flops, nbytes, make, floor,
                     _floats(b * m, k, n))


def _norm_cases() -> list[ClassCase]:
    def bn(c: int, hw: int, floor: bool = False) -> ClassCase:
        n = c * hw * hw

        def make(dev: str) -> Callable[[], Any]:
            import torch

            x, stats = torch.randn(1, c, hw, hw, device=dev), [torch.rand(c, device=dev) + 0.5 for _ in range(4)]
            return lambda: torch.nn.functional.batch_norm(x, stats[0], stats[1], stats[2], stats[3], False)

        return _per_byte(ClassCase("softmax_norm", f"batch_norm {c} {hw}x{hw}", 2 * n, 4 * (2 * n + 4 * c), make,
                                   floor))

    def softmax(b: int, lq: int, lk: int) -> ClassCase:
        n = b * lq * lk

        def make(dev: str) -> Callable[[], Any]:
            import torch

            x = torch.randn(b, lq, lk, device=dev)
            return lambda: torch.softmax(x, -1)

        return _per_byte(ClassCase("softmax_norm", f"softmax {b}x{lq}x{lk}", 5 * n, 8 * n, make))

    return [bn(8, 4, floor=True), bn(16, 160), bn(32, 160), bn(64, 80), bn(128, 40), bn(256, 20), bn(64, 10),
            bn(16, 320), bn(128, 80), softmax(4, 100, 100), softmax(4, 400, 400), softmax(2, 1600, 1600),
            softmax(8, 49, 49)]


def _elementwise_cases() -> list[ClassCase]:
    def unary(name: str, flops: int, c: int, hw: int, floor: bool = False) -> ClassCase:
        n = c * hw * hw

        def make(dev: str) -> Callable[[], Any]:
            import torch

            x, fn = torch.randn(1, c, hw, hw, device=dev), getattr(torch.nn.functional, name)
            return lambda: fn(x)

        return _per_byte(ClassCase("elementwise", f"{name} {c} {hw}x{hw}", flops * n, 8 * n, make, floor))

    def add(c: int, hw: int) -> ClassCase:
        n = c * hw * hw

        def make(dev: str) -> Callable[[], Any]:
            import torch

            x, y = torch.randn(1, c, hw, hw, device=dev), torch.randn(1, c, hw, hw, device=dev)
            return lambda: x + y

        return _per_byte(ClassCase("elementwise", f"add {c} {hw}x{hw}", n, 12 * n, make))

    def scale(c: int, hw: int) -> ClassCase:
        n = c * hw * hw

        def make(dev: str) -> Callable[[], Any]:
            import torch

            x = torch.randn(1, c, hw, hw, device=dev)
            return lambda: x * 0.5

        return _per_byte(ClassCase("elementwise", f"mul (scalar) {c} {hw}x{hw}", n, 8 * n, make))

    return [unary("silu", 5, 4, 4, floor=True), unary("silu", 5, 16, 160), unary("silu", 5, 32, 160),
            unary("silu", 5, 64, 80), unary("silu", 5, 256, 20), unary("silu", 5, 64, 10), unary("silu", 5, 64, 160),
            unary("sigmoid", 4, 64, 40), unary("sigmoid", 4, 16, 160), unary("relu", 1, 64, 80),
            unary("relu", 1, 128, 20), add(32, 80), add(128, 20), add(32, 160), add(64, 10), scale(64, 40),
            scale(16, 160), scale(128, 10)]


def _pool_cases() -> list[ClassCase]:
    # A max-pool's speed depends on its data (on CPU, an input that was pooled already, with its runs of equal
    # maxima, pools about twice as fast as noise): SPP/SPPF chain three k5 pools, so the k5 cases come both ways.
    def pool(c: int, hw: int, k: int, stride: int, pooled: bool = False, floor: bool = False) -> ClassCase:
        pad = k // 2 if stride == 1 else 0
        ho = (hw + 2 * pad - k) // stride + 1

        def make(dev: str) -> Callable[[], Any]:
            import torch

            x = torch.randn(1, c, hw, hw, device=dev)
            if pooled:
                x = torch.nn.functional.max_pool2d(x, k, stride, pad)
            return lambda: torch.nn.functional.max_pool2d(x, k, stride, pad)

        nbytes = 4 * (c * hw * hw + c * ho * ho)
        return ClassCase("pooling", f"max_pool k{k} s{stride} {c} {hw}x{hw}{' (pooled input)' if pooled else ''}",
                         k * k * c * ho * ho, nbytes, make, floor, _floats(nbytes, k * k))

    k5 = [(64, 20), (128, 20), (64, 40), (32, 80), (256, 10)]
    return [pool(4, 4, 2, 2, floor=True), *(pool(c, hw, 5, 1) for c, hw in k5),
            *(pool(c, hw, 5, 1, pooled=True) for c, hw in k5), pool(32, 80, 2, 2), pool(16, 160, 2, 2),
            pool(64, 40, 3, 2), pool(128, 20, 9, 1, pooled=True), pool(128, 20, 13, 1, pooled=True)]


def _resize_cases() -> list[ClassCase]:
    def nearest(c: int, hw: int, floor: bool = False) -> ClassCase:
        n_in, n_out = c * hw * hw, c * 4 * hw * hw

        def make(dev: str) -> Callable[[], Any]:
            import torch

            x = torch.randn(1, c, hw, hw, device=dev)
            return lambda: torch.nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")

        nbytes = 4 * (n_in + n_out)
        return ClassCase("resize", f"upsample_nearest x2 {c} {hw}x{hw}", 0, nbytes, make, floor,
                         _floats(nbytes, 2 * hw))

    return [nearest(4, 4, floor=True), nearest(256, 20), nearest(128, 40), nearest(64, 80), nearest(32, 20),
            nearest(64, 10), nearest(32, 80), nearest(512, 10), nearest(128, 20), nearest(16, 160)]


def _copy_cases() -> list[ClassCase]:
    def cat(parts: int, c: int, hw: int, floor: bool = False) -> ClassCase:
        n = parts * c * hw * hw

        def make(dev: str) -> Callable[[], Any]:
            import torch

            xs = [torch.randn(1, c, hw, hw, device=dev) for _ in range(parts)]
            # in a network the first input was just written and the others long before: a neck's concat joins
            # the layer before with a backbone feature, read back from memory
            return ColdCall(lambda: torch.cat(xs, 1), xs[0].sum)

        return ClassCase("copy", f"cat {parts}x{c} {hw}x{hw}", 0, 8 * n, make, floor, _floats(8 * n, 1, 8 * n))

    def permuted(c: int, hw: int) -> ClassCase:
        n = c * hw * hw

        def make(dev: str) -> Callable[[], Any]:
            import torch

            x = torch.randn(1, c, hw, hw, device=dev).permute(0, 2, 3, 1)
            return lambda: x.contiguous()

        return ClassCase("copy", f"clone (permuted) {c} {hw}x{hw}", 0, 8 * n, make, features=_floats(8 * n, 2, 8 * n))

    return [cat(2, 4, 4, floor=True), cat(2, 64, 40), cat(3, 32, 80), cat(2, 128, 20), cat(4, 16, 160),
            cat(2, 32, 160), cat(2, 64, 10), cat(2, 128, 80), permuted(64, 40), permuted(32, 160), permuted(256, 20),
            permuted(16, 20)]


#: Dense convolutions (Cin, Cout, k, input size, stride): 1x1 and 3x3 at the channel counts and map sizes small
#: YOLOs run at 640 and below, stride-2 downsamplers, and 3-channel stems (3x3 and YOLOv5's 6x6).
DENSE_CONVS = [
    (16, 16, 1, 160, 1), (32, 32, 1, 160, 1), (48, 32, 1, 80, 1), (64, 64, 1, 160, 1), (64, 64, 1, 80, 1),
    (64, 64, 1, 20, 1), (128, 64, 1, 40, 1), (64, 256, 1, 40, 1), (256, 64, 1, 20, 1), (256, 256, 1, 20, 1),
    (128, 128, 1, 40, 1), (256, 256, 1, 7, 1), (16, 64, 1, 80, 1),
    (8, 16, 3, 160, 1), (16, 16, 3, 160, 1), (32, 32, 3, 160, 1), (32, 32, 3, 80, 1), (64, 64, 3, 40, 1),
    (64, 64, 3, 80, 1), (128, 128, 3, 20, 1), (128, 128, 3, 40, 1), (256, 256, 3, 10, 1), (256, 64, 3, 20, 1),
    (64, 16, 3, 80, 1),
    (16, 32, 3, 320, 2), (32, 64, 3, 160, 2), (32, 64, 3, 80, 2), (64, 128, 3, 40, 2), (64, 128, 3, 80, 2),
    (128, 256, 3, 40, 2), (256, 256, 3, 20, 2),
    (3, 16, 3, 320, 2), (3, 16, 3, 640, 2), (3, 32, 3, 640, 2), (3, 16, 6, 640, 2), (3, 32, 6, 320, 2),
    (3, 16, 3, 256, 2),
    # the deep layers at 256-320 px: few pixels, many channels
    (32, 32, 1, 64, 1), (64, 64, 1, 32, 1), (128, 128, 1, 16, 1), (256, 128, 1, 8, 1),
    (32, 32, 3, 64, 1), (64, 64, 3, 32, 1), (128, 128, 3, 16, 1), (256, 256, 3, 8, 1),
    (16, 32, 3, 128, 2), (32, 64, 3, 64, 2), (64, 128, 3, 32, 2), (128, 256, 3, 16, 2),
]
#: Depthwise convolutions (channels, k, input size, stride).
DEPTHWISE_CONVS = [(32, 3, 160, 1), (64, 3, 160, 1), (64, 3, 80, 1), (128, 3, 40, 1), (256, 3, 20, 1), (512, 3, 10, 1),
                   (256, 5, 20, 1), (64, 5, 80, 1), (128, 5, 40, 1), (32, 3, 160, 2), (64, 3, 80, 2), (128, 3, 40, 2),
                   (256, 3, 20, 2), (128, 7, 20, 1), (128, 3, 16, 1), (256, 3, 8, 1), (64, 3, 32, 1)]
#: Matrix products (batch, M, K, N): linear layers and attention's QK^T / PV at 20x20 to 40x40 maps, head dims 8-64.
MATMULS = [(1, 400, 128, 128), (1, 1600, 256, 256), (1, 100, 256, 256), (4, 400, 32, 400), (4, 400, 400, 32),
           (2, 1600, 32, 1600), (4, 1600, 1600, 32), (8, 100, 32, 100), (2, 400, 64, 400), (2, 400, 400, 64),
           (1, 1600, 64, 1600), (1, 1600, 1600, 64), (288, 49, 8, 49), (288, 49, 49, 8)]


def class_cases(classes: Iterable[str] | None = None) -> list[ClassCase]:
    """The calibration kernels of each class (fp32, batch 1), at shapes a small YOLO runs at 640 and below, and
    one tiny call per class (``floor``: its per-call overhead). No output reaches 32 MiB (the size a heap stops
    keeping: such an output would time page faults, which the fresh-memory figure prices apart)."""
    cases = [
        _conv_case(16, 16, 1, 4, floor=True),
        *(_conv_case(cin, cout, k, hw, stride) for cin, cout, k, hw, stride in DENSE_CONVS),
        _conv_case(16, 16, 3, 4, depthwise=True, floor=True),
        *(_conv_case(c, c, k, hw, stride, depthwise=True) for c, k, hw, stride in DEPTHWISE_CONVS),
        _mm_case(1, 8, 8, 8, floor=True), *(_mm_case(*shape) for shape in MATMULS),
        *_norm_cases(), *_elementwise_cases(), *_pool_cases(), *_resize_cases(), *_copy_cases(),
    ]
    wanted = None if classes is None else set(classes)
    return [c for c in cases if wanted is None or c.op_class in wanted]


def _cold_times(fn: Callable[[], Any], touch: Callable[[], Any], evict: Callable[[], None],
                synchronize: Callable[[], None], clock: Callable[[], float], share: float, calls: int) -> list[float]:
    """Seconds of single calls of ``fn``, each after ``evict()`` and ``touch()`` (at least 3, at most ``calls``, as
    many as fit ``share`` seconds with the evictions)."""
    times: list[float] = []
    start = clock()
    while len(times) < 3 or (len(times) < calls and clock() - start < share):
        evict()
        touch()
        times.append(_time_once(fn, synchronize, clock))
    return times


def settle_allocator(nbytes: int = (32 << 20) - (1 << 20)) -> None:
    """Free one buffer just under the 32 MiB a heap stops keeping, as a model's forward frees its activations.

    glibc's malloc maps every allocation above its threshold anew from the operating system, and raises the
    threshold to the largest block freed so far (up to 32 MiB). A fresh process has the 128 KiB default, so a
    convolution's internal scratch buffer there page-faults on every call; in a forward, where multi-megabyte
    activations come and go, it does not. Measured here: a 3->32-channel stem at 640 px takes 22 ms a call before,
    4.3 ms after; the same in archscope bench, whose forwards free such tensors before the timed ones."""
    import torch

    block = torch.empty(nbytes // 4)
    block.fill_(0.0)
    del block


#: The traffic a cold calibration call follows (:func:`measure_classes`): about half and twice a large CPU's
#: last-level cache (32 MiB here), so the blend in ``operand_age`` sees where operands stop staying cached.
EVICTIONS = (16 << 20, 64 << 20)


def cache_evictor(most: int = max(EVICTIONS)) -> Callable[[int], None]:
    """A call that writes its argument's worth of bytes (at most ``most``) of a buffer of its own, pushing that much
    of everything else out of the caches."""
    import torch

    junk = torch.empty(most // 4)

    def evict(nbytes: int) -> None:
        junk[: max(1, nbytes // 4)].fill_(1.0)

    return evict


@dataclass
class ClassCalibration:
    """What :func:`measure_classes` measured: one fit per class, and every case's seconds per call (the median of
    its timed trials)."""

    fits: dict[str, ClassFit]
    seconds: dict[str, float]  # case label -> seconds per call

    def details(self) -> str:
        return "; ".join(f"{c}: {len(f.points)} sizes, {f.rate / 1e9:.3g} G{'FLOP' if f.driver == 'flops' else 'B'}"
                         f"/s + {f.overhead_s * 1e6:.3g} us a call" for c, f in self.fits.items())


def measure_classes(
    cases: Iterable[ClassCase],
    seconds: float,
    *,
    device: str = "cpu",
    synchronize: Callable[[], None] = lambda: None,
    clock: Callable[[], float] = time.perf_counter,
    trials: int = 3,
    repeats: int = REPEATS,
    evict: Callable[[int], None] | None = None,
) -> ClassCalibration:
    """Time every case (one warm-up call, then the median of up to ``repeats x trials`` timed trials, as many as fit
    its equal share of ``seconds``) and fit each class (:func:`fit_class`). ``synchronize`` and ``clock`` exist so
    tests can fake the device and the time.

    ``evict`` (CPU: :func:`cache_evictor`) writes a given number of bytes through the caches. A case whose call is a
    :class:`ColdCall` (convolutions, concatenations) is then also timed one call at a time after ``evict(n)`` for each
    ``n`` of :data:`EVICTIONS` and its ``touch()``, each kept as a point whose ``operand_age`` is ``n`` (in the loop
    it is the call's own bytes): in a network a convolution's weights were last read a forward ago, a neck's concat
    reads a backbone feature written long before, and whether those still sit in the cache depends on how much the
    forward wrote since. Measured here: YOLO11n's convolutions at 640 take 69.7 ms in hot loops, 88.5 ms in the
    forward and 85.6 ms timed after 64 MiB; a concat of 1.2 MB takes 15 us in a loop, 20 us after 16 MiB, 52 us after
    32 MiB.
    """
    cases = list(cases)
    if not cases:
        raise ArchscopeError("no op-class calibration case to measure")
    deadline = clock() + seconds
    timed: dict[str, list[tuple[str, int, int, float]]] = {}
    floors: dict[str, list[float]] = {}
    shapes: dict[str, dict[str, tuple[float, ...]]] = {}
    per_case: dict[str, float] = {}
    for i, case in enumerate(cases):
        share = max(deadline - clock(), 0.0) / (len(cases) - i)
        where = case.features
        fn = case.make(device)
        fn()  # first touch, kernel selection
        one = _time_once(fn, synchronize, clock)
        # median, not best, of the trials: bench reports medians, and on a busy machine the best trial is a moment
        # the measured model seldom gets
        calls = max(1, repeats) * max(1, trials)
        touch = getattr(fn, "touch", None)
        runs: list[tuple[str, int | None]] = [(case.label, None)]
        if evict is not None and touch is not None:
            runs += [(f"{case.label} after {e >> 20} MiB", e) for e in EVICTIONS]
        for label, evicted in runs:
            if evicted is None or evict is None or touch is None:  # a loop: one call's operands between two uses
                iters, trials_here = _plan(one, share / len(runs), calls)
                times = [time_best(fn, synchronize=synchronize, clock=clock, iters=iters, trials=1)
                         for _ in range(trials_here)]
            else:
                times = _cold_times(fn, touch, partial(evict, evicted), synchronize, clock, share / len(runs), calls)
            t = _median(times)
            per_case[label] = t
            if case.floor:
                floors.setdefault(case.op_class, []).append(t)
                break
            timed.setdefault(case.op_class, []).append((label, case.flops, case.bytes, t))
            if where:  # a cold point's operands are as old as the traffic before it
                shapes.setdefault(case.op_class, {})[label] = where if evicted is None else (*where[:-1],
                                                                                            float(evicted))
    fits = {}
    for op_class, points in timed.items():
        floor = floors.get(op_class)
        try:
            fits[op_class] = fit_class(op_class, points, floor_s=_median(floor) if floor else None,
                                       features=shapes.get(op_class))
        except ValueError as e:
            raise ArchscopeError(f"cannot fit op class '{op_class}': {e}") from None
    return ClassCalibration(fits, per_case)

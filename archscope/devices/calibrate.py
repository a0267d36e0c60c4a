"""Calibration: measure this machine's matmul FLOP/s per dtype and streaming bandwidth, as a DeviceSpec.

``import archscope.devices.calibrate`` does not import torch; :func:`calibrate` imports it when called.
"""

from __future__ import annotations

import datetime as _dt
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
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
    matmul_size: int | None = None,
    stream_bytes: int | None = None,
    trials: int = 3,
    repeats: int = REPEATS,
    backend: Backend | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> DeviceSpec:
    """The preset of :func:`measure` (its arguments): what ``archscope calibrate`` saves."""
    return measure(device, dtypes, seconds, name=name, matmul_size=matmul_size, stream_bytes=stream_bytes,
                   trials=trials, repeats=repeats, backend=backend, clock=clock).spec


def measure(
    device: str = "cpu",
    dtypes: Iterable[str] = ("fp32", "bf16"),
    seconds: float = 3.0,
    *,
    name: str | None = None,
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

    These are *achieved* figures (what torch reaches here), lower than datasheet peaks; ``backend`` and ``clock``
    exist so tests can fake the device's synchronize and the time.
    """
    import torch

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

    threads = torch.get_num_threads() if not on_gpu else None
    when = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    where = dev + (f", {threads} threads" if threads else "")
    warnings = spread_warnings(measured)
    spec = DeviceSpec(
        name=name or f"calibrated-{dev.replace(':', '')}",
        peak_flops=peaks,
        bandwidth=bandwidth,
        source=f"measured by archscope calibrate on {when} (torch {torch.__version__}, {where}): " + "; ".join(details),
        notes="Achieved throughput of torch matmul and tensor copy here, not datasheet peaks."
        + "".join(f" Warning: {w}." for w in warnings),
        **_host_memory(dev),
    )
    return Calibration(spec, measured, warnings)


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

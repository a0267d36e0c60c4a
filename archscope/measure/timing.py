"""Measuring time honestly: stopwatches that synchronise the device, the warm-up-then-sample loop, and statistics.

Pure Python, no torch import: the device's ``synchronize``, its timing events and the clock are passed in, so the
tests drive every rule here with fakes and check the exact call order.

The rules (README, "Timing a model"):

* **warm-up**: ``warmup`` untimed calls, then one synchronize, so lazy initialisation, allocator growth, kernel
  selection and ``torch.compile`` happen before the clock starts;
* **one timed run** = synchronize, read the clock, call, synchronize, read the clock (``SyncStopwatch``); on CUDA the
  GPU's own events bracket the call instead (``EventStopwatch``), with a synchronize before the start and before the
  elapsed time is read;
* **how many runs**: at least ``runs`` timed runs *and* at least ``min_time`` seconds of timed runs, at most
  ``max_runs``;
* **outliers**: a run outside Tukey's far-out fences ``[Q1 - 3 IQR, Q3 + 3 IQR]`` (quartiles of all timed runs) is
  left out of every statistic and counted in ``outliers``; the raw samples are kept;
* **statistics** over the kept runs: median, mean, p10 and p90 (linear interpolation between closest ranks, as
  ``numpy.percentile`` does by default), sample standard deviation (n - 1; 0 for one run), min and max.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

OUTLIER_RULE = "runs outside [Q1 - 3*IQR, Q3 + 3*IQR] of all timed runs are left out of the statistics"
MAX_RUNS = 10_000


class Stopwatch(Protocol):
    @property
    def synchronize(self) -> Callable[[], None]:
        """Wait until the device has finished all queued work."""

    def time(self, fn: Callable[[], Any]) -> tuple[float, Any]:
        """Seconds one call of ``fn`` took on the device, and what it returned."""


@dataclass
class SyncStopwatch:
    """Wall clock around a call, with the device synchronised before the start and before the stop."""

    synchronize: Callable[[], None]
    clock: Callable[[], float] = time.perf_counter

    def time(self, fn: Callable[[], Any]) -> tuple[float, Any]:
        self.synchronize()  # nothing queued earlier may land inside this interval
        start = self.clock()
        out = fn()
        self.synchronize()  # everything fn queued must be inside it
        return self.clock() - start, out


@dataclass
class EventStopwatch:
    """Device timing events (``torch.cuda.Event(enable_timing=True)``) around a call: the GPU's own timestamps,
    free of the host's scheduling jitter. ``new_event`` makes one event."""

    synchronize: Callable[[], None]
    new_event: Callable[[], Any]

    def time(self, fn: Callable[[], Any]) -> tuple[float, Any]:
        start, end = self.new_event(), self.new_event()
        self.synchronize()
        start.record()
        out = fn()
        end.record()
        self.synchronize()  # elapsed_time needs both events completed
        return start.elapsed_time(end) / 1e3, out  # events report milliseconds


def warm_up(fn: Callable[[], Any], synchronize: Callable[[], None], count: int,
            on_call: Callable[[int], None] | None = None) -> None:
    """``count`` untimed calls, then wait for the device to finish them. ``on_call(done)`` follows the progress
    (after each call; the last one after the synchronize, when the warm-up is really over)."""
    for done in range(1, count + 1):
        fn()
        if done == count:
            synchronize()
        if on_call is not None:
            on_call(done)
    if count <= 0:
        synchronize()


def sample(
    fn: Callable[[], Any],
    stopwatch: Stopwatch,
    *,
    runs: int,
    min_time: float = 0.0,
    max_runs: int = MAX_RUNS,
    on_run: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Timed runs of ``fn`` (seconds each, in order): at least ``runs`` of them and at least ``min_time`` seconds of
    timed calls in all, never more than ``max_runs``. ``on_run(done, timed_seconds)`` follows the progress."""
    samples: list[float] = []
    total = 0.0
    while len(samples) < max_runs and (len(samples) < runs or total < min_time):
        seconds, _ = stopwatch.time(fn)
        samples.append(seconds)
        total += seconds
        if on_run is not None:
            on_run(len(samples), total)
    return samples


def sample_layers(
    run_forward: Callable[[Callable[[int, Callable[[], Any]], Any]], Any],
    stopwatch: Stopwatch,
    *,
    runs: int,
    min_time: float = 0.0,
    max_runs: int = MAX_RUNS,
    on_run: Callable[[int, float], None] | None = None,
) -> list[dict[int, float]]:
    """Forwards timed layer by layer: ``run_forward(wrap)`` runs one forward and calls ``wrap(i, call)`` for each
    layer, which times ``call`` with ``stopwatch`` (synchronised around every layer). Returns, per forward, the
    seconds of each layer; the number of forwards follows the same rule as :func:`sample`, on the sum of layers."""
    forwards: list[dict[int, float]] = []
    total = 0.0
    while len(forwards) < max_runs and (len(forwards) < runs or total < min_time):
        times: dict[int, float] = {}

        def wrap(index: int, call: Callable[[], Any], times: dict[int, float] = times) -> Any:
            seconds, out = stopwatch.time(call)
            times[index] = seconds
            return out

        run_forward(wrap)
        forwards.append(times)
        total += sum(times.values())
        if on_run is not None:
            on_run(len(forwards), total)
    return forwards


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation between closest ranks (numpy's default, "type 7")."""
    if not sorted_values:
        raise ValueError("no values")
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def split_outliers(samples: Sequence[float]) -> tuple[list[float], list[float]]:
    """(kept, outliers) by Tukey's far-out fences over all ``samples``; order is preserved in both."""
    ordered = sorted(samples)
    q1, q3 = percentile(ordered, 0.25), percentile(ordered, 0.75)
    low, high = q1 - 3 * (q3 - q1), q3 + 3 * (q3 - q1)
    kept = [s for s in samples if low <= s <= high]
    return kept, [s for s in samples if not low <= s <= high]


@dataclass(frozen=True)
class Summary:
    """Statistics of one set of timed runs, in seconds."""

    median: float
    mean: float
    p10: float
    p90: float
    std: float
    min: float
    max: float
    runs: int  # timed runs, outliers included
    outliers: int  # runs left out of every statistic above


def summarize(samples: Sequence[float], *, drop_outliers: bool = True) -> Summary:
    if not samples:
        raise ValueError("no timed runs to summarise")
    kept, dropped = split_outliers(samples) if drop_outliers else (list(samples), [])
    ordered = sorted(kept)
    n = len(ordered)
    mean = sum(ordered) / n
    std = math.sqrt(sum((s - mean) ** 2 for s in ordered) / (n - 1)) if n > 1 else 0.0
    return Summary(
        median=percentile(ordered, 0.5), mean=mean, p10=percentile(ordered, 0.1), p90=percentile(ordered, 0.9),
        std=std, min=ordered[0], max=ordered[-1], runs=len(samples), outliers=len(dropped),
    )

"""When bench's numbers are not to be trusted: the checks, their thresholds, and the one-line warnings.

Each warning is one line beginning with :data:`PREFIX`; ``archscope bench`` prints it on stderr and keeps it in the
report's ``notes``. The thresholds (README, "Timing a model"):

* **spread**: the kept runs' p90/p10 above :data:`SPREAD_RATIO_LIMIT` (1.5) or their std/median above
  :data:`CV_LIMIT` (0.25): the runs disagree, so the median is one draw from a wide distribution;
* **median vs mean**: mean and median more than :data:`MEAN_GAP_LIMIT` (10 %) of the median apart: a share of the
  runs was much slower (or faster) than the rest;
* **load**: the 1-minute load average, read just before the timed runs, above the number of cores this process may
  use: other programs were competing for the CPUs;
* **throttling** (CPU runs, where ``/sys/devices/system/cpu/cpu*/cpufreq`` exists): the thermal throttle counters grew
  during the runs, the OS capped the clock (``scaling_max_freq`` below ``cpuinfo_max_freq``), or right after the
  runs even the fastest CPU ran below its base clock (``base_frequency``; where there is none, below
  :data:`CLOCK_SHARE_LIMIT` (70 %) of ``cpuinfo_max_freq``).

Pure Python (no torch); the machine's state is passed in, so the tests drive every rule with fakes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from archscope.util import machine

PREFIX = "unreliable timing: "
SPREAD_RATIO_LIMIT = 1.5  # p90 / p10 of the kept runs
CV_LIMIT = 0.25  # std / median of the kept runs
MEAN_GAP_LIMIT = 0.10  # |mean - median| / median
CLOCK_SHARE_LIMIT = 0.70  # fastest CPU's clock after the runs / its hardware maximum, where no base clock is known


@dataclass
class Probe:
    """Where the machine's state comes from: the real OS by default, fakes in the tests."""

    load_average: Callable[[], tuple[float, ...] | None] = machine.load_average
    cores: Callable[[], int | None] = machine.core_count
    cpu_state: Callable[[], machine.CpuState] = field(default=machine.cpu_state)


def is_warning(note: str) -> bool:
    return note.startswith(PREFIX)


def spread_warnings(stats: Any, what: str) -> list[str]:
    """The spread and median/mean checks of one statistics block (``median_ms``, ``mean_ms``, ``p10_ms``,
    ``p90_ms``, ``std_ms``, ``runs``; a BatchStats)."""
    out: list[str] = []
    median = stats.median_ms
    if stats.runs < 2 or not median or median <= 0:
        return out
    ratio = stats.p90_ms / stats.p10_ms if stats.p10_ms > 0 else float("inf")
    cv = stats.std_ms / median
    if ratio > SPREAD_RATIO_LIMIT or cv > CV_LIMIT:
        out.append(f"{PREFIX}{what}: the runs spread widely (p90/p10 {ratio:.2f}, std/median {cv:.2f}; limits "
                   f"{SPREAD_RATIO_LIMIT:g} and {CV_LIMIT:g}): close other programs, set --threads, or time longer "
                   f"(--runs, --min-time)")
    gap = abs(stats.mean_ms - median) / median
    if gap > MEAN_GAP_LIMIT:
        slower = "slower" if stats.mean_ms > median else "faster"
        out.append(f"{PREFIX}{what}: mean {stats.mean_ms:.4g} ms and median {median:.4g} ms are {gap:.0%} apart "
                   f"(limit {MEAN_GAP_LIMIT:.0%}): some runs were much {slower} than the rest")
    return out


def load_warning(load: Sequence[float] | None, cores: int | None) -> list[str]:
    if not load or not cores or load[0] <= cores:
        return []
    return [f"{PREFIX}the load average was {load[0]:.2f} before the runs, above the {cores} core"
            f"{'s' if cores != 1 else ''} this process may use: other programs were competing for the CPUs"]


def _ghz(khz: int) -> str:
    return f"{khz / 1e6:.2f} GHz"


def throttle_warnings(before: machine.CpuState | None, after: machine.CpuState | None) -> list[str]:
    """Throttling visible in cpufreq / thermal_throttle: ``before`` and ``after`` the timed runs."""
    if after is None:
        return []
    out = []
    if before is not None and before.throttle_events is not None and after.throttle_events is not None \
            and after.throttle_events > before.throttle_events:
        out.append(f"{PREFIX}the CPU was thermally throttled during the runs "
                   f"({after.throttle_events - before.throttle_events} throttle events in thermal_throttle)")
    capped = [c for c in after.clocks if c.allowed_max and c.hardware_max and c.allowed_max < c.hardware_max]
    if capped:
        c = capped[0]
        out.append(f"{PREFIX}the OS caps the CPU clock: {c.cpu} may run at {_ghz(c.allowed_max or 0)} of its "
                   f"{_ghz(c.hardware_max or 0)} (scaling_max_freq{f', {len(capped)} CPUs' if len(capped) > 1 else ''})"
                   f"; a power-saving profile or a thermal limit is active")
    timed = [c for c in after.clocks if c.current]
    if timed:
        fastest = max(timed, key=lambda c: c.current or 0)
        current = fastest.current or 0
        if fastest.base and current < fastest.base:
            out.append(f"{PREFIX}the CPU clock was below its base after the runs: the fastest CPU ({fastest.cpu}) ran "
                       f"at {_ghz(current)}, base {_ghz(fastest.base)}: it is throttled")
        elif not fastest.base and fastest.hardware_max and current < CLOCK_SHARE_LIMIT * fastest.hardware_max:
            out.append(f"{PREFIX}the CPU clock was low after the runs: the fastest CPU ({fastest.cpu}) ran at "
                       f"{_ghz(current)}, {current / fastest.hardware_max:.0%} of its {_ghz(fastest.hardware_max)} "
                       f"(limit {CLOCK_SHARE_LIMIT:.0%}): it is throttled or in a power-saving mode")
    return out


def assess(batches: Sequence[Any], *, device: str, load: Sequence[float] | None, cores: int | None,
           before: machine.CpuState | None = None, after: machine.CpuState | None = None) -> list[str]:
    """Every warning for one bench run: per batch (``batches``: BatchStats), then the machine's load, then the CPU
    clock (on the CPU only: a GPU's own clocks are not in cpufreq)."""
    out = []
    for stats in batches:
        out += spread_warnings(stats, f"batch {stats.batch}")
    out += load_warning(load, cores)
    if device == "cpu":
        out += throttle_warnings(before, after)
    return out

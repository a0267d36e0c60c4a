"""What the machine is doing while archscope times something: load average, usable cores, CPU clock frequencies.

Pure Python, no torch. Every probe returns None (or an empty result) where the OS does not tell, and every one
takes its source as an argument (``root`` of the sysfs CPU tree, the functions to call), so the tests drive them
with fake files and fake load averages.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CPU_ROOT = "/sys/devices/system/cpu"


def load_average(getloadavg: Callable[[], tuple[float, float, float]] | None = None) -> tuple[float, ...] | None:
    """The 1, 5 and 15 minute load averages, or None where the OS has none (Windows)."""
    try:
        return tuple(float(v) for v in (getloadavg or os.getloadavg)())
    except (OSError, AttributeError):
        return None


def core_count() -> int | None:
    """CPUs this process may run on (its affinity mask where the OS has one, else all of them)."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        try:
            return len(affinity(0)) or None
        except OSError:
            pass
    return os.cpu_count()


@dataclass(frozen=True)
class CpuClock:
    """One CPU's clock as cpufreq tells it, in kHz (None where the file is missing)."""

    cpu: str  # "cpu0"
    current: int | None  # scaling_cur_freq: the clock now
    hardware_max: int | None  # cpuinfo_max_freq: the fastest the CPU can run (turbo included)
    allowed_max: int | None  # scaling_max_freq: the fastest the OS currently lets it run
    base: int | None  # base_frequency (intel_pstate): the guaranteed, non-turbo clock


@dataclass(frozen=True)
class CpuState:
    """Every CPU's clock, and the thermal throttle event counters (x86 ``thermal_throttle``), at one moment."""

    clocks: tuple[CpuClock, ...] = ()
    throttle_events: int | None = None  # sum of core_throttle_count + package_throttle_count over CPUs


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def cpu_state(root: str | os.PathLike[str] = CPU_ROOT) -> CpuState:
    """Read ``root``/cpu*/cpufreq and ``root``/cpu*/thermal_throttle; an empty state where neither exists."""
    base = Path(root)
    try:
        cpus = sorted((p for p in base.glob("cpu[0-9]*") if p.name[3:].isdigit()), key=lambda p: int(p.name[3:]))
    except OSError:
        return CpuState()
    clocks = []
    events: int | None = None
    for cpu in cpus:
        freq = cpu / "cpufreq"
        if freq.is_dir():
            clocks.append(CpuClock(cpu.name, _read_int(freq / "scaling_cur_freq"), _read_int(freq / "cpuinfo_max_freq"),
                                   _read_int(freq / "scaling_max_freq"), _read_int(freq / "base_frequency")))
        for name in ("core_throttle_count", "package_throttle_count"):
            count = _read_int(cpu / "thermal_throttle" / name)
            if count is not None:
                events = (events or 0) + count
    return CpuState(tuple(clocks), events)

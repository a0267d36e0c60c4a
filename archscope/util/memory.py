"""How much memory this machine can give a real forward without swapping, and how much of it archscope will use."""

from __future__ import annotations

import os

#: A real run is refused when it needs more than this share of the free memory (bench, --real).
MEMORY_HEADROOM = 0.9


def host_available_bytes() -> int | None:
    """Memory the OS can give without swapping: ``MemAvailable`` on Linux (free pages plus reclaimable cache),
    free pages elsewhere; None when neither can be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def inference_memory(weight_bytes: int, peak_activation_bytes: int) -> int:
    """The one estimate of what a forward needs (``profile``'s fit, ``check --max-peak-memory``, ``bench``'s
    refusal): the weights and buffers at the analysed dtype plus the report's ``peak_activation_bytes``."""
    return int(weight_bytes) + int(peak_activation_bytes)

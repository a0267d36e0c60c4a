"""Numbers as people read them: every figure archscope prints goes through these few formatters."""

from __future__ import annotations

import math


def fmt_int(value: int | None) -> str:
    """``2,593,740`` (parameters, counts)."""
    return "" if value is None else f"{value:,}"


def fmt_g(value: float | None, scale: float = 1e9, digits: int = 2) -> str:
    """Fixed decimals after scaling: GFLOPs (``scale`` 1e9), megabytes (1e6)."""
    return "" if value is None else f"{value / scale:.{digits}f}"


def fmt_bytes(value: int | None) -> str:
    """Decimal megabytes (1 MB = 1e6 bytes), as memory bandwidth figures are quoted."""
    return fmt_g(value, 1e6)


def fmt_sig(value: float | None, digits: int = 3, *, scale: float = 1.0, whole_from: float | None = None,
            thousands: bool = True) -> str:
    """``digits`` significant digits; from ``whole_from`` on (default ``10**digits``) a whole number, with thousands
    separators unless ``thousands`` is False: 0.0598, 68.4, 14.6, 1,234."""
    if value is None:
        return ""
    x = value / scale
    if abs(x) >= (10**digits if whole_from is None else whole_from):
        return f"{x:,.0f}" if thousands else f"{x:.0f}"
    return f"{x:.{digits}g}"


def fmt_ms(value: float | None) -> str:
    """Three significant digits: roofline times span microseconds (A100) to seconds (a Pi)."""
    return fmt_sig(value, 3, whole_from=math.inf)


def human_bytes(n: int) -> str:
    """``5.24 GB``, ``12.00 MB``, ``640 B`` (decimal units)."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


_SIZE_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
               "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
               "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}


def parse_size(value: object) -> int | None:
    """A memory size in bytes: ``16GiB`` (2**30), ``16GB`` / ``16G`` (1e9), ``512MiB``, ``1.6e10`` or a plain
    number; None when ``value`` is not one (negative, zero, not finite, an unknown unit, a bool)."""
    import re

    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-z]*)\s*", value.replace("_", ""),
                             re.IGNORECASE)
        if not match or match.group(2).lower() not in _SIZE_UNITS:
            return None
        number, unit = float(match.group(1)), match.group(2).lower()
    else:
        return None
    size = number * _SIZE_UNITS[unit]
    return int(size) if math.isfinite(size) and size >= 1 else None

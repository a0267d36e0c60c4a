"""Strict JSON out: every file archscope writes is standard JSON (RFC 8259), so no ``NaN`` or ``Infinity``.

A figure that is not a finite number (an intensity over zero bytes, a time on a device without peaks) is written as
``null``, the same as a figure that was not measured."""

from __future__ import annotations

import json
import math
from typing import Any


def finite_or_null(value: Any) -> Any:
    """``value`` with every NaN / +-Infinity float (at any depth of dicts, lists and tuples) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(v) for v in value]
    return value


def dumps_strict(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` that never writes NaN or Infinity (those figures become null)."""
    return json.dumps(finite_or_null(value), allow_nan=False, **kwargs)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads_strict(text: str) -> Any:
    """``json.loads`` that refuses NaN and Infinity (raises ValueError naming the constant)."""
    return json.loads(text, parse_constant=_refuse_constant)

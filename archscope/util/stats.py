"""How far predictions are from measurements: the statistics ``bench --per-layer`` reports. Pure Python.

* :func:`median_factor`: the geometric median error, ``exp(median |log(pred / meas)|)``: 1.25 means half the layers
  are predicted within a factor 1.25 (either way) of what was measured;
* :func:`spearman`: the rank correlation of the two series (ties get their mean rank; 1 = same order);
* the whole-model ratio is plain ``predicted / measured``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def paired(predicted: Sequence[float | None], measured: Sequence[float | None]) -> list[tuple[float, float]]:
    """The pairs where both figures are there and positive (a layer without a prediction or a time is left out)."""
    return [(p, m) for p, m in zip(predicted, measured) if p is not None and m is not None and p > 0 and m > 0]


def median_factor(predicted: Sequence[float], measured: Sequence[float]) -> float | None:
    """``exp(median |log(pred / meas)|)`` over the positive pairs; None when there are none."""
    pairs = paired(predicted, measured)
    if not pairs:
        return None
    return math.exp(_median([abs(math.log(p / m)) for p, m in pairs]))


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rank correlation (the Pearson correlation of the ranks); None with fewer than 2 pairs or when
    one series is constant."""
    if len(a) != len(b):
        raise ValueError("spearman needs two series of the same length")
    if len(a) < 2:
        return None
    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra)
    vb = sum((y - mb) ** 2 for y in rb)
    if va == 0 or vb == 0:
        return None
    return cov / math.sqrt(va * vb)

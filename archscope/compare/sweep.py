"""Crossovers of a sweep: for every pair of models, the image sizes where their time order flips.

Between two neighbouring sweep points each model's time is taken as a straight line in image size (as the plot
draws it); where the difference of the two lines changes sign, the crossing of the lines is the crossover. A point
where the two times are equal (within one part in 10^9) and the order differs on its two sides is itself the
crossover. Reads a :class:`~archscope.reports.sweep.SweepReport` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

from archscope.reports.sweep import Crossover, SweepReport

TIE = 1e-9  # relative difference below which two times count as equal


def _sign(a: float, b: float) -> int:
    d = b - a
    if abs(d) <= TIE * max(abs(a), abs(b)):
        return 0
    return 1 if d > 0 else -1


def flips(sizes: Sequence[float], first: Sequence[float], second: Sequence[float]
          ) -> list[tuple[float, float, float, int]]:
    """Where ``second - first`` changes sign along ``sizes`` (ascending): ``(at, lo, hi, before)`` per flip, ``at``
    the interpolated size, ``lo``/``hi`` the sweep sizes around it, ``before`` the sign of ``second - first`` below
    the flip (-1: ``second`` is faster below ``at``). Equal times that the order does not change across are no flip.
    """
    if not (len(sizes) == len(first) == len(second)):
        raise ValueError("sizes and both series must have the same length")
    if any(b <= a for a, b in zip(sizes, sizes[1:])):
        raise ValueError("sizes must be strictly ascending")
    signs = [_sign(a, b) for a, b in zip(first, second)]
    found: list[tuple[float, float, float, int]] = []
    last = next((i for i, s in enumerate(signs) if s), None)
    if last is None:
        return found
    for j in range(last + 1, len(signs)):
        if not signs[j]:
            continue
        if signs[j] != signs[last]:
            lo, hi = sizes[last], sizes[j]
            if j == last + 1:  # the two straight lines cross between the two points
                d0, d1 = second[last] - first[last], second[j] - first[j]
                at = lo + (hi - lo) * d0 / (d0 - d1)
            else:  # equal at the points in between: the middle of that run
                run = sizes[last + 1: j]
                at = (run[0] + run[-1]) / 2
            found.append((at, lo, hi, signs[last]))
        last = j
    return found


def _px(value: float) -> str:
    return f"{value:.0f} px"


def _ratio(value: float) -> str:
    return f"x{value:.3g}"


def pair_crossovers(report: SweepReport, first: str, second: str, batch: int, basis: str) -> list[Crossover]:
    """The crossovers of ``second`` against ``first`` at ``batch`` on ``basis`` ("predicted" or "measured"): one
    per flip, or one with ``at_px`` None saying which is faster everywhere; none when fewer than two sizes have both
    times."""
    a, b = dict(report.series(first, batch, basis)), dict(report.series(second, batch, basis))
    sizes = sorted(set(a) & set(b))
    if len(sizes) < 2:
        return []
    ya, yb = [a[s] for s in sizes], [b[s] for s in sizes]
    ratios = [y2 / y1 if y1 else float("inf") for y1, y2 in zip(ya, yb)]
    span = [min(ratios), max(ratios)]
    where = (f"layer {report.layer}'s time, " if report.layer is not None else "") + f"{basis}" + \
        (f" on {report.device_spec}" if basis == "predicted" else "") + f", batch {batch}"
    ends = (f"{_ratio(ratios[0])} at {_px(sizes[0])}, {_ratio(ratios[-1])} at {_px(sizes[-1])}")
    found = flips(sizes, ya, yb)
    out: list[Crossover] = []
    if not found:
        signs = {_sign(y1, y2) for y1, y2 in zip(ya, yb)} - {0}
        if not signs:
            message = f"{second} and {first} take the same time at every size swept ({where})"
            faster = None
        else:
            faster = second if signs == {-1} else first
            other = first if faster == second else second
            message = (f"{faster} is faster than {other} at every size swept, {_px(sizes[0])} to {_px(sizes[-1])} "
                       f"({where}; {second}/{first} {ends})")
        return [Crossover(first, second, batch, basis, None, None, faster, faster, span, message)]
    for at, lo, hi, before in found:
        below, above = (second, first) if before < 0 else (first, second)
        verb = "stops" if before < 0 else "starts"
        message = (f"{second} {verb} paying off over {first} above {_px(at)} ({where}; {second}/{first} {ends}; "
                   f"the order flips between {_px(lo)} and {_px(hi)})")
        out.append(Crossover(first, second, batch, basis, round(at, 1), [int(lo), int(hi)], below, above, span,
                             message))
    if len(out) > 1:
        for c in out:
            c.message += f"; one of {len(out)} flips"
    return out


def find_crossovers(report: SweepReport) -> list[Crossover]:
    """Every pair of models (in the order given: the earlier one is ``first``), every batch, predicted times and,
    where the sweep has them, measured times."""
    out: list[Crossover] = []
    labels = [m.label for m in report.models]
    bases = ["predicted"] if not any(p.measured_ms is not None for p in report.points) else ["predicted", "measured"]
    for basis in bases:
        for batch in report.batches:
            for first, second in combinations(labels, 2):
                out += pair_crossovers(report, first, second, batch, basis)
    return out

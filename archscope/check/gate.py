"""CI gates on a model report: budgets (``--max-params 5M``) and a baseline with a tolerance. Pure data, no torch.

Figures checked (and their definitions, as in the README):

* ``params``: trainable parameters;
* ``gflops``: GFLOPs *per image*; by default archscope's full ``flops`` (every op, a multiply-add = 2), or with the
  ``ultralytics`` / ``legacy`` convention the figure those tools print;
* ``bytes``: unfused bytes moved for the analysed batch at the analysed dtype;
* ``predicted_ms``: the roofline time on the report's device;
* ``peak_activation_bytes`` (baseline only): the peak of live activations;
* ``peak_memory`` (``--max-peak-memory``): what a forward needs, weights and buffers plus the activation peak
  (:func:`archscope.util.memory.inference_memory`, the estimate ``bench`` refuses runs by);
* ``train_memory`` (``--max-train-memory``): the steady-state peak of a training step (``profile --train``, AdamW).

A baseline gate fails when a figure grew past ``baseline * (1 + tolerance)``; a figure that shrank past
``baseline * (1 - tolerance)`` passes with a note to refresh the baseline (otherwise later growth back up to the
old figure would go unnoticed).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from archscope.errors import ArchscopeError
from archscope.vocab import CONVENTIONS

if TYPE_CHECKING:  # annotations only: a cached check (archscope.check.cache) never loads the report types
    from archscope.reports.profile import ModelReport

SCHEMA = "archscope.check/1"
PASS, FAIL, REFRESH = "pass", "fail", "refresh"

_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}
_QUANTITY = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmgt]?)\s*(b?)\s*$", re.IGNORECASE)


def parse_quantity(value: Any, *, what: str, suffixes: bool = True, byte_unit: bool = False) -> float:
    """``5M`` -> 5e6, ``5.2M``, ``1.5G``, ``300k``, ``12``; with ``byte_unit`` also ``40MB``. Decimal multiples
    (k = 1e3), as parameter counts and bandwidths are quoted."""
    if isinstance(value, bool):
        raise ArchscopeError(f"{what} must be a number, got {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        match = _QUANTITY.match(str(value))
        if not match or (match.group(2) and not suffixes) or (match.group(3) and not byte_unit):
            example = "5M, 1.5G, 300k or 2500000" if suffixes else "a plain number such as 12 or 3.5"
            raise ArchscopeError(f"{what} must be {example}, got {value!r}")
        number = float(match.group(1)) * _SUFFIX[match.group(2).lower()]
    if not math.isfinite(number) or number < 0:
        raise ArchscopeError(f"{what} must be a non-negative number, got {value!r}")
    return number


def parse_tolerance(value: Any, *, what: str = "--tolerance") -> float:
    """``1%`` or ``0.01`` -> 0.01."""
    problem = f"{what} must be a fraction such as 0.01 or a percentage such as 1%, got {value!r}"
    if isinstance(value, bool):
        raise ArchscopeError(problem)
    text = str(value).strip()
    try:
        number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ArchscopeError(problem) from None
    if not math.isfinite(number) or not 0 <= number < 1:
        raise ArchscopeError(f"{what} must be at least 0 and below 100%, got {value!r}")
    return number


@dataclass
class Budgets:
    """Upper limits; None = not checked. ``gflops`` is per image in ``convention``."""

    params: float | None = None
    gflops: float | None = None
    bytes: float | None = None
    predicted_ms: float | None = None
    convention: str = "archscope"
    peak_memory: float | None = None  # bytes a forward needs
    train_memory: float | None = None  # bytes a training step needs (steady-state peak)

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.params, self.gflops, self.bytes, self.predicted_ms,
                                           self.peak_memory, self.train_memory))


def parse_memory(value: Any, *, what: str) -> float:
    """``4GiB`` (2**30), ``4GB`` / ``4G`` (1e9), ``512MiB``, ``1.6e10`` -> bytes."""
    from archscope.util.units import parse_size

    size = parse_size(value)
    if size is None:
        raise ArchscopeError(f"{what} must be a memory size such as 4GiB, 4GB, 512MiB or 1.6e10, got {value!r}")
    return float(size)


def budgets_from_options(*, max_params=None, max_gflops=None, max_bytes=None, max_predicted_ms=None,
                         convention=None, max_peak_memory=None, max_train_memory=None) -> Budgets:
    """Budgets from command-line strings (``5M``, ``12``, ``400MB``)."""
    if convention is not None and convention not in CONVENTIONS:
        raise ArchscopeError(f"--gflops-convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")

    def q(value, what, **kinds):
        return None if value is None else parse_quantity(value, what=what, **kinds)

    return Budgets(
        params=q(max_params, "--max-params"),
        gflops=q(max_gflops, "--max-gflops", suffixes=False),
        bytes=q(max_bytes, "--max-bytes", byte_unit=True),
        predicted_ms=q(max_predicted_ms, "--max-predicted-ms", suffixes=False),
        convention=convention or "archscope",
        peak_memory=None if max_peak_memory is None else parse_memory(max_peak_memory, what="--max-peak-memory"),
        train_memory=None if max_train_memory is None else parse_memory(max_train_memory, what="--max-train-memory"),
    )


@dataclass
class GateResult:
    model: str  # label of the checked model
    figure: str  # "params", "gflops", ...
    actual: float | None
    limit: float | None  # the budget, or baseline * (1 + tolerance)
    status: str  # "pass", "fail", "refresh"
    baseline: float | None = None
    note: str = ""


@dataclass
class CheckReport:
    results: list[GateResult] = field(default_factory=list)
    schema: str = SCHEMA
    cached: bool = field(default=False, compare=False)  # answered from archscope.check.cache (not in the JSON)

    @property
    def passed(self) -> bool:
        return all(r.status != FAIL for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": self.schema, "passed": self.passed, "results": [asdict(r) for r in self.results]}


def gflops(report: ModelReport, convention: str = "archscope") -> float | None:
    """GFLOPs per image in the chosen convention."""
    t = report.totals
    if convention == "archscope":
        return None if t.flops is None else t.flops / report.model.batch / 1e9
    if convention == "ultralytics":
        return t.gflops_ultralytics
    if convention == "legacy":
        return t.gflops_legacy
    raise ArchscopeError(f"--gflops-convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")


def figures(report: ModelReport, convention: str = "archscope") -> dict[str, float | None]:
    t = report.totals
    return {
        "params": t.params,
        "gflops": gflops(report, convention),
        "bytes": t.bytes_unfused,
        "peak_activation_bytes": t.peak_activation_bytes,
        "predicted_ms": t.predicted_ms,
    }


def memory_figures(report: ModelReport) -> dict[str, float | None]:
    """``peak_memory``: weights and buffers at the report's dtype plus its activation peak; ``train_memory``: the
    training step's steady-state peak (None without ``--train``)."""
    from archscope.util.memory import inference_memory
    from archscope.vocab import dtype_bytes

    t = report.totals
    peak = None
    if t.peak_activation_bytes is not None:
        peak = inference_memory((t.params + t.buffers) * dtype_bytes(report.model.dtype), t.peak_activation_bytes)
    training = getattr(report, "training", None)
    return {"peak_memory": peak, "train_memory": None if training is None else training.peak_bytes}


def check_budgets(report: ModelReport, budgets: Budgets, *, label: str) -> list[GateResult]:
    if budgets.predicted_ms is not None:
        _require_milliseconds(report, label)
    have = {**figures(report, budgets.convention), **memory_figures(report)}
    out = []
    for name in ("params", "gflops", "bytes", "predicted_ms", "peak_memory", "train_memory"):
        limit = getattr(budgets, name)
        if limit is None:
            continue
        actual = have[name]
        if actual is None:
            raise ArchscopeError(f"{label}: the report has no {name} figure to check (profiled without analysis?)")
        _require_finite(actual, name, f"{label}: the report")
        notes = [f"over budget by {_change(actual, limit)}"] if actual > limit else []
        if name == "gflops" and budgets.convention != "archscope":
            notes.append(f"{budgets.convention} convention")
        out.append(GateResult(label, name, actual, limit, PASS if actual <= limit else FAIL, note="; ".join(notes)))
    return out


def check_baseline(report: ModelReport, baseline: ModelReport, tolerance: float, *, label: str) -> list[GateResult]:
    """Every figure both reports have; growth past the tolerance fails, shrinkage past it asks for a refresh."""
    now, then = figures(report), figures(baseline)
    out = []
    for name, old in then.items():
        new = now.get(name)
        if old is None or new is None:
            continue
        _require_finite(old, name, f"{label}: the baseline")
        _require_finite(new, name, f"{label}: the report")
        limit = old * (1 + tolerance)
        if new > limit:
            status, note = FAIL, f"grew {_change(new, old)} (tolerance {tolerance:.2%})"
        elif new < old * (1 - tolerance):
            status, note = REFRESH, f"shrank {_change(new, old)}: refresh the baseline (archscope snapshot)"
        else:
            status, note = PASS, "" if new == old else _change(new, old)
        out.append(GateResult(label, name, new, limit, status, baseline=old, note=note))
    return out


def _require_finite(value: Any, name: str, whose: str) -> None:
    """A NaN compares false with everything, so it would pass every gate: refuse it (and Infinity, and non-numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ArchscopeError(f"{whose}'s {name} figure is {value!r}, not a finite non-negative number; "
                             "re-create the baseline with archscope snapshot")


def _change(new: float, old: float) -> str:
    return f"{(new - old) / old:+.2%}" if old else f"{new - old:+g}"


def _require_milliseconds(report: ModelReport, label: str) -> None:
    if report.totals.predicted_ms is None:
        raise ArchscopeError(f"{label}: --max-predicted-ms needs a roofline device: give --device-spec "
                             f"(e.g. orin-nano) or device-spec in [tool.archscope]")
    if report.model.predicted_unit == "relative":
        raise ArchscopeError(f"{label}: device '{report.model.device_spec}' is a ridge-point preset whose times are "
                             f"relative units, not milliseconds; pick a device with real peaks for a ms budget")

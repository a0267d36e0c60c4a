"""``[tool.archscope]`` in pyproject.toml: the models ``archscope check`` gates, each with its budgets or baseline.

```toml
[tool.archscope]
device-spec = "orin-nano"          # defaults for every model below (any model key except path)
tolerance = "1%"

[[tool.archscope.models]]
path = "models/yolo-mqa.yaml"      # relative to the pyproject.toml's folder ("models/yolo-mqa.yaml:n" works too)
scale = "n"
imgsz = 640
fuse = true                        # the deployed model (as --fuse)
max-params = "5M"
max-gflops = 12
max-predicted-ms = 3
max-peak-memory = "4GiB"           # weights + activation peak of a forward
max-train-memory = "8GiB"          # steady-state peak of an AdamW training step
baseline = "archscope-baseline.json"
```
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from typing import Any

from archscope.check.gate import Budgets, parse_memory, parse_quantity, parse_tolerance
from archscope.errors import ArchscopeError
from archscope.util.text import did_you_mean
from archscope.vocab import ANALYSIS_DTYPES, ATTENTION_MODES, CONVENTIONS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

MODEL_KEYS = ("path", "scale", "imgsz", "batch", "dtype", "nc", "ch", "device-spec", "fuse", "max-params", "max-gflops",
              "max-bytes", "max-predicted-ms", "gflops-convention", "baseline", "tolerance", "attention",
              "max-peak-memory", "max-train-memory")
DEFAULT_KEYS = tuple(k for k in MODEL_KEYS if k != "path")


@dataclass
class CheckTarget:
    """One model to check and how: the profile settings, its budgets, and/or a baseline report."""

    path: str
    scale: str | None = None
    imgsz: int | str | None = None  # None: the baseline's, else 640
    batch: int | None = None
    dtype: str | None = None
    nc: int | None = None
    ch: int | None = None
    device_spec: str | None = None
    fuse: bool | None = None  # the deployed model; None: the baseline's, else not fused
    budgets: Budgets = field(default_factory=Budgets)
    baseline: str | None = None
    tolerance: float = 0.0
    name: str | None = None  # how to show it (the path as written in pyproject.toml); default: the path
    attention: str | None = None  # the roofline's --attention (eager/fused); None: the baseline's, else the device's

    @property
    def label(self) -> str:
        return (self.name or self.path) + (f":{self.scale}" if self.scale else "")


def resolve_targets(models: list[str], *, budgets: Budgets, baseline: str | None = None,
                    tolerance: str | float | None = None, config: str | None = None, **settings: Any
                    ) -> list[CheckTarget]:
    """What ``archscope check`` checks: ``models`` with the budgets/baseline given as options; or, with no such
    options, the entries of [tool.archscope] (all of them, or those for ``models``). ``settings`` (imgsz, batch,
    dtype, device_spec, fuse, attention) that are not None override the config's."""
    from archscope.spec.sources import parse_source

    tol = None if tolerance is None else parse_tolerance(tolerance)
    given = {k: v for k, v in settings.items() if v is not None}
    if budgets.any or baseline:
        if not models:
            raise ArchscopeError("budget and --baseline options need the model(s) to check as arguments")
        if baseline and len(models) > 1:
            raise ArchscopeError("--baseline belongs to one model; give one model, or baselines in [tool.archscope]")
        return [CheckTarget(path=s.path, scale=s.scale, budgets=budgets, baseline=baseline, tolerance=tol or 0.0,
                            **given) for s in map(parse_source, models)]
    path = config or find_pyproject()
    if path is None:
        raise ArchscopeError("nothing to check: give budgets (--max-params ...) or --baseline, or add "
                             "[tool.archscope] to pyproject.toml (see README, 'CI gates')")
    targets = load_config(path)
    if models:
        targets = _select(targets, [parse_source(m) for m in models], path)
    if tol is not None:
        given["tolerance"] = tol
    return [replace(t, **given) for t in targets]


def _select(targets: list[CheckTarget], sources, config: str) -> list[CheckTarget]:
    """The config entries for the models named on the command line (same file, and same scale when one is given)."""
    chosen = []
    for source in sources:
        found = [t for t in targets if os.path.realpath(t.path) == os.path.realpath(source.path)
                 and (source.scale is None or t.scale == source.scale)]
        if not found:
            raise ArchscopeError(f"no entry for {source} in [tool.archscope.models]; give budgets such as "
                                 f"--max-params, or add one", file=config)
        chosen += found
    return chosen


def find_pyproject(start: str | None = None) -> str | None:
    """The nearest pyproject.toml in ``start`` (default: the working directory) or a folder above it."""
    folder = os.path.abspath(start or os.getcwd())
    while True:
        candidate = os.path.join(folder, "pyproject.toml")
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def load_config(path: str) -> list[CheckTarget]:
    """Targets from ``[tool.archscope]`` of ``path``; every problem names the file and the key."""
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ArchscopeError("no such file", file=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ArchscopeError(f"invalid TOML: {exc}", file=path) from None
    except OSError as exc:
        raise ArchscopeError(f"cannot read: {exc.strerror or exc}", file=path) from None
    table = data.get("tool", {}).get("archscope")
    if table is None:
        raise ArchscopeError("no [tool.archscope] table (see README, 'CI gates')", file=path)
    if not isinstance(table, dict):
        raise ArchscopeError("[tool.archscope] must be a table", file=path)
    _known_keys(table, (*DEFAULT_KEYS, "models"), "[tool.archscope]", path)
    defaults = {k: v for k, v in table.items() if k != "models"}
    models = table.get("models")
    if not isinstance(models, list) or not models or not all(isinstance(m, dict) for m in models):
        raise ArchscopeError("[tool.archscope] needs at least one [[tool.archscope.models]] entry with a 'path'",
                             file=path)
    root = os.path.dirname(os.path.abspath(path))
    targets = []
    for i, entry in enumerate(models):
        where = f"[[tool.archscope.models]] #{i + 1}"
        _known_keys(entry, MODEL_KEYS, where, path)
        try:
            targets.append(_target({**defaults, **entry}, root))
        except ArchscopeError as exc:
            raise ArchscopeError(f"{where}: {exc.message}", file=path) from None
    return targets


def _known_keys(table: dict[str, Any], allowed: tuple[str, ...], where: str, path: str) -> None:
    for key in table:
        if key not in allowed:
            hint = did_you_mean(key, allowed)
            hint = f"; {hint}" if hint else f"; known keys: {', '.join(allowed)}"
            raise ArchscopeError(f"{where}: unknown key '{key}'{hint}", file=path)


def _target(raw: dict[str, Any], root: str) -> CheckTarget:
    model = raw.get("path")
    if not isinstance(model, str) or not model:
        raise ArchscopeError("'path' (the model YAML) is missing or not a string")
    baseline = _typed(raw, "baseline", str)
    budgets = Budgets(
        params=_quantity(raw, "max-params"),
        gflops=_quantity(raw, "max-gflops", suffixes=False),
        bytes=_quantity(raw, "max-bytes", byte_unit=True),
        predicted_ms=_quantity(raw, "max-predicted-ms", suffixes=False),
        convention=_choice(raw, "gflops-convention", CONVENTIONS) or "archscope",
        peak_memory=_memory(raw, "max-peak-memory"),
        train_memory=_memory(raw, "max-train-memory"),
    )
    if not budgets.any and baseline is None:
        raise ArchscopeError(f"model '{model}' has nothing to check: give max-params, max-gflops, max-bytes, "
                             f"max-predicted-ms, max-peak-memory, max-train-memory or baseline")
    scale = _typed(raw, "scale", str)
    from archscope.spec.sources import parse_source

    source = parse_source(model) if not os.path.exists(os.path.join(root, model)) else None
    if source is not None and source.scale is not None:  # path = "models/net.yaml:s", as on the command line
        if scale is not None and scale != source.scale:
            raise ArchscopeError(f"model '{model}': two scales given: ':{source.scale}' and scale = '{scale}'")
        model, scale = source.path, source.scale
    return CheckTarget(
        path=os.path.join(root, model),
        name=model,
        scale=scale,
        imgsz=_typed(raw, "imgsz", (int, str)),
        batch=_positive(raw, "batch"),
        dtype=_choice(raw, "dtype", ANALYSIS_DTYPES),
        nc=_positive(raw, "nc"),
        ch=_positive(raw, "ch"),
        device_spec=_typed(raw, "device-spec", str),
        fuse=_flag(raw, "fuse"),
        attention=_choice(raw, "attention", ATTENTION_MODES),
        budgets=budgets,
        baseline=os.path.join(root, baseline) if baseline else None,
        tolerance=parse_tolerance(raw["tolerance"], what="'tolerance'") if "tolerance" in raw else 0.0,
    )


def _typed(raw, key, types):
    value = raw.get(key)
    if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
        names = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        raise ArchscopeError(f"'{key}' must be a {names.replace('str', 'string').replace('int', 'number')}, "
                             f"got {value!r}")
    return value


def _flag(raw, key):
    value = raw.get(key)
    if value is not None and not isinstance(value, bool):
        raise ArchscopeError(f"'{key}' must be true or false, got {value!r}")
    return value


def _positive(raw, key):
    value = _typed(raw, key, int)
    if value is not None and value < 1:
        raise ArchscopeError(f"'{key}' must be a positive whole number, got {value!r}")
    return value


def _choice(raw, key, choices):
    value = raw.get(key)
    if value is not None and value not in choices:
        raise ArchscopeError(f"'{key}' must be one of {', '.join(choices)}, got {value!r}")
    return value


def _quantity(raw, key, **kinds):
    return parse_quantity(raw[key], what=f"'{key}'", **kinds) if key in raw else None


def _memory(raw, key):
    return parse_memory(raw[key], what=f"'{key}'") if key in raw else None

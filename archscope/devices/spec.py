"""DeviceSpec (peak FLOP/s per dtype and memory bandwidth) and device files: read, validated, written.

A :class:`DeviceSpec` is a peak FLOP/s per dtype and a peak memory bandwidth in bytes/s. FLOPs count a multiply-add
as 2 (the archscope definition), so a vendor's "TOPS"/"TFLOPS" figures are taken as they are: vendors count an FMA
as two operations too. The presets live in :mod:`archscope.devices.presets`. No torch here.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from archscope.errors import ArchscopeError
from archscope.util.files import write_atomic
from archscope.util.text import did_you_mean
from archscope.vocab import ATTENTION_MODES, CLASS_FEATURES, FEATURE_WIDTHS, OP_CLASSES, canonical_dtype

MAX_SPEC_BYTES = 1_000_000
_SPEC_KEYS = {"name", "peak_flops", "bandwidth", "source", "aliases", "notes", "relative_only", "attention",
              "attention_source", "memory", "memory_source", "op_classes", "fresh_bytes_per_s"}


@dataclass(frozen=True)
class ClassRate:
    """What one op class achieves on a device (``archscope calibrate`` measures it; the model is in
    :mod:`archscope.devices.calibrate`): an op of the class takes ``overhead_s + max(flops / flops_per_s,
    bytes / bytes_per_s)``, where the rate of the class's ``driver`` ("flops" or "bytes") is the one achieved by the
    calibrated kernels that resemble the op (:meth:`rate_at`): by its shape ``features``
    (``vocab.CLASS_FEATURES``) when the device file has ``points``, by its bytes when it has only ``by_size``
    (the first calibrated files), else the one figure."""

    flops_per_s: float
    bytes_per_s: float
    overhead_s: float = 0.0
    driver: str = ""  # "flops" or "bytes": which rate ``points``/``by_size`` give; "" = no table
    # (bytes moved by one call, achieved driver rate) of each kernel: for ops without shape features
    by_size: tuple[tuple[float, float], ...] = ()
    features: tuple[str, ...] = ()  # the names of each point's features (vocab.CLASS_FEATURES of the class)
    points: tuple[tuple[float, ...], ...] = ()  # (feature values..., achieved driver rate) of each kernel

    #: How far (a factor in bytes) a measured size reaches when :meth:`rate_at` blends ``by_size``: its Gaussian
    #: width in log(bytes).
    SIZE_WIDTH = 2.0

    def rate_at(self, nbytes: float, features: Sequence[float] = ()) -> tuple[float, float]:
        """(FLOP/s, bytes/s) for an op moving ``nbytes`` with shape ``features``: the driver's rate is the
        geometric mean of the calibrated kernels' rates, each weighted by a Gaussian in the logarithm of every
        feature (widths ``vocab.FEATURE_WIDTHS``), so the nearest kernels decide and, far from every kernel, the
        nearest one alone. Without ``points`` (or without the op's features) the ``by_size`` table by bytes."""
        if self.driver not in ("flops", "bytes"):
            return self.flops_per_s, self.bytes_per_s
        if self.points and len(features) == len(self.features):
            widths = [math.log(FEATURE_WIDTHS.get(name, 2.0)) for name in self.features]
            rate = blend([p[:-1] for p in self.points], [p[-1] for p in self.points], features, widths)
        elif self.by_size:
            rate = blend([(s,) for s, _ in self.by_size], [r for _, r in self.by_size], (nbytes,),
                         [math.log(self.SIZE_WIDTH)])
        else:
            return self.flops_per_s, self.bytes_per_s
        return (rate, self.bytes_per_s) if self.driver == "flops" else (self.flops_per_s, rate)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"flops_per_s": float(self.flops_per_s), "bytes_per_s": float(self.bytes_per_s),
                             "overhead_s": float(self.overhead_s)}
        if self.by_size or self.points:
            d["driver"] = self.driver
        if self.by_size:
            d["by_size"] = [[float(s), float(r)] for s, r in self.by_size]
        if self.points:
            d["features"] = list(self.features)
            d["points"] = [[float(v) for v in p] for p in self.points]
        return d


def blend(where: Sequence[Sequence[float]], rates: Sequence[float], at: Sequence[float],
          widths: Sequence[float]) -> float:
    """The geometric mean of ``rates`` weighted by ``exp(-d^2 / 2)``, ``d`` the distance from ``at`` to each point
    of ``where`` in log space, each axis divided by its ``widths`` (natural logs), ``at`` first brought inside the
    points' range on each axis. The weights are taken relative to the nearest point's, so a point far from all of
    them gets the nearest one's rate, never 0/0."""
    # outside the points' range in a feature, the op counts as at its edge (the end points' blend, not only the
    # nearest: a rate measured at one size says little about sizes far beyond it, the edge's blend no less)
    lows = [min(p[i] for p in where) for i in range(len(at))]
    highs = [max(p[i] for p in where) for i in range(len(at))]
    logs = [math.log(max(min(max(v, lo), hi), 1e-12)) for v, lo, hi in zip(at, lows, highs)]
    d2 = [sum(((x - math.log(max(v, 1e-12))) / w) ** 2 for x, v, w in zip(logs, point, widths)) for point in where]
    nearest = min(d2)
    weights = [math.exp(-0.5 * (d - nearest)) for d in d2]
    return math.exp(sum(w * math.log(r) for w, r in zip(weights, rates)) / sum(weights))


@dataclass(frozen=True)
class DeviceSpec:
    """Peak compute per dtype (FLOP/s, a multiply-add = 2) and peak memory bandwidth (bytes/s) of one device."""

    name: str
    peak_flops: Mapping[str, float]  # canonical dtype -> FLOP/s (dense, no sparsity)
    bandwidth: float  # bytes/s
    source: str  # where every figure comes from
    aliases: tuple[str, ...] = ()
    notes: str = ""
    relative_only: bool = False  # True: only the ratio peak/bandwidth is known; predicted times are relative units
    # how this device's usual runtime runs attention (vocab.ATTENTION_MODES), the roofline's default for --attention,
    # and why (which kernels, with a source)
    attention: str = "eager"
    attention_source: str = ""
    memory_bytes: int | None = None  # memory the model may use (a GPU's, a board's unified memory); None: unknown
    memory_source: str = ""  # where memory_bytes comes from
    # optional, calibrated: dtype -> op class (vocab.OP_CLASSES) -> its achieved figures; ops of a class (at a dtype)
    # not in it use peak_flops and bandwidth
    op_classes: Mapping[str, Mapping[str, ClassRate]] = field(default_factory=dict)
    # optional, calibrated: bytes/s at which writing fresh memory (pages the process has not touched) goes, page
    # faults included, beyond what a warm write costs; None: fresh memory costs nothing extra (a GPU's caching
    # allocator, or no calibration). The roofline charges OpRecord.fresh_bytes at this rate.
    fresh_bytes_per_s: float | None = None

    @property
    def dtypes(self) -> tuple[str, ...]:
        return tuple(self.peak_flops)

    def peak(self, dtype: str) -> float:
        """Peak FLOP/s at ``dtype``; an ArchscopeError naming the device's dtypes when it has none for it."""
        key = canonical_dtype(dtype)
        try:
            return float(self.peak_flops[key])
        except KeyError:
            have = ", ".join(self.peak_flops) or "none"
            if self.relative_only:
                hint = f" (this preset is a published ridge point, fit at {have} only)"
            else:
                hint = (
                    f", or give a device file with a '{key}' entry under peak_flops "
                    f"(archscope calibrate can measure one on this machine)"
                )
            raise ArchscopeError(
                f"device '{self.name}' has no peak figure for dtype '{dtype}' (it has: {have}); "
                f"pick one of those with --dtype{hint}"
            ) from None

    def class_rate(self, dtype: str, op_class: str) -> ClassRate | None:
        """The calibrated figures of ``op_class`` at ``dtype``, or None (the op then uses peak and bandwidth)."""
        table = self.op_classes.get(canonical_dtype(dtype)) if self.op_classes else None
        return table.get(op_class) if table and op_class else None

    def ridge_point(self, dtype: str) -> float:
        """The arithmetic intensity (FLOP/byte) where the compute and memory roofs meet."""
        return self.peak(dtype) / self.bandwidth

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "peak_flops": {k: float(v) for k, v in self.peak_flops.items()},
            "bandwidth": float(self.bandwidth),
            "source": self.source,
        }
        if self.aliases:
            d["aliases"] = list(self.aliases)
        if self.notes:
            d["notes"] = self.notes
        if self.relative_only:
            d["relative_only"] = True
        if self.attention != "eager" or self.attention_source:
            d["attention"] = self.attention
        if self.attention_source:
            d["attention_source"] = self.attention_source
        if self.memory_bytes is not None:
            d["memory"] = int(self.memory_bytes)
            if self.memory_source:
                d["memory_source"] = self.memory_source
        if self.op_classes:
            d["op_classes"] = {dt: {c: r.to_dict() for c, r in t.items()} for dt, t in self.op_classes.items()}
        if self.fresh_bytes_per_s is not None:
            d["fresh_bytes_per_s"] = float(self.fresh_bytes_per_s)
        return d



def _key_lines(text: str) -> dict[tuple[str, ...], int]:
    """1-based line of every mapping key up to depth 2, from PyYAML's composed nodes (no object is constructed)."""
    lines: dict[tuple[str, ...], int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines

    def walk(node: Any, prefix: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode) and len(prefix) < 2:
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode):
                    key = prefix + (str(k.value),)
                    lines[key] = k.start_mark.line + 1
                    walk(v, key)

    walk(root, ())
    return lines


def _number(value: Any) -> float | None:
    """A positive finite number, or None. Numeric strings count: PyYAML reads ``1.0e12`` (no exponent sign) as str."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip().replace("_", ""))
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) and number > 0 else None


def load_device_file(path: str | os.PathLike[str]) -> DeviceSpec:
    """Read and validate a device spec file (YAML or JSON; safe loading only)."""
    shown = os.fspath(path)
    p = Path(shown)
    try:
        size = p.stat().st_size
        if not p.is_file():
            raise ArchscopeError("device spec is not a file", file=shown)
        if size > MAX_SPEC_BYTES:
            raise ArchscopeError(f"device spec file is too large ({size} bytes; at most {MAX_SPEC_BYTES})", file=shown)
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ArchscopeError("device spec file not found", file=shown) from None
    except UnicodeDecodeError:
        raise ArchscopeError("device spec file is not UTF-8 text", file=shown) from None
    except OSError as e:
        raise ArchscopeError(f"cannot read device spec file: {e.strerror or e}", file=shown) from None

    if shown.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ArchscopeError(f"invalid JSON: {e.msg}", file=shown, line=e.lineno) from None
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise ArchscopeError(
                f"invalid YAML: {problem}", file=shown, line=mark.line + 1 if mark is not None else None
            ) from None
    return device_from_dict(data, file=shown, key_lines=_key_lines(text))


def device_from_dict(
    data: Any, *, file: str | None = None, key_lines: Mapping[tuple[str, ...], int] | None = None
) -> DeviceSpec:
    """Validate plain data (as read from a spec file or a report) into a DeviceSpec."""
    lines = key_lines or {}

    def err(message: str, *key: str) -> ArchscopeError:
        line = lines.get(tuple(key)) if key else None
        if line is None and len(key) > 1:
            line = lines.get(tuple(key[:1]))
        return ArchscopeError(message, file=file, line=line)

    if not isinstance(data, dict):
        got = "an empty file" if data is None else type(data).__name__
        raise ArchscopeError(
            f"a device spec must be a mapping with name, peak_flops and bandwidth (got {got})", file=file, line=1
        )
    unknown = [str(k) for k in data if k not in _SPEC_KEYS]
    if unknown:
        k = unknown[0]
        hint = did_you_mean(k, sorted(_SPEC_KEYS))
        hint = f" ({hint})" if hint else ""
        raise err(f"unknown key '{k}' in device spec{hint}; allowed: {', '.join(sorted(_SPEC_KEYS))}", k)
    for required in ("name", "peak_flops", "bandwidth"):
        if required not in data:
            raise ArchscopeError(
                f"device spec is missing '{required}' (needs name, peak_flops: {{dtype: FLOP/s}}, bandwidth: bytes/s)",
                file=file, line=1,
            )
    name = data["name"]
    if not isinstance(name, str) or not name.strip():
        raise err("'name' must be a non-empty string", "name")
    peaks_in = data["peak_flops"]
    if not isinstance(peaks_in, dict) or not peaks_in:
        raise err(
            "'peak_flops' must be a non-empty mapping of dtype to FLOP/s, e.g. {fp32: 1.0e+12, fp16: 2.0e+12}",
            "peak_flops",
        )
    peaks: dict[str, float] = {}
    for raw_dtype, raw_value in peaks_in.items():
        dtype = canonical_dtype(str(raw_dtype))
        value = _number(raw_value)
        if value is None:
            raise err(
                f"peak_flops.{raw_dtype} must be a positive number of FLOP/s (got {raw_value!r})",
                "peak_flops", str(raw_dtype),
            )
        if dtype in peaks:
            raise err(f"peak_flops names dtype '{dtype}' twice", "peak_flops", str(raw_dtype))
        peaks[dtype] = value
    bandwidth = _number(data["bandwidth"])
    if bandwidth is None:
        raise err(f"'bandwidth' must be a positive number of bytes/s (got {data['bandwidth']!r})", "bandwidth")
    source = data.get("source", f"user spec file {file}" if file else "user spec")
    if not isinstance(source, str):
        raise err("'source' must be a string", "source")
    notes = data.get("notes", "")
    if not isinstance(notes, str):
        raise err("'notes' must be a string", "notes")
    aliases = data.get("aliases", [])
    if isinstance(aliases, str):
        aliases = [aliases]
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise err("'aliases' must be a list of strings", "aliases")
    relative_only = data.get("relative_only", False)
    if not isinstance(relative_only, bool):
        raise err("'relative_only' must be true or false", "relative_only")
    attention = data.get("attention", "eager")
    if attention not in ATTENTION_MODES:
        raise err(f"'attention' must be {' or '.join(ATTENTION_MODES)} (got {attention!r})", "attention")
    attention_source = data.get("attention_source",
                                f"the device file's 'attention: {attention}'" if "attention" in data else "")
    if not isinstance(attention_source, str):
        raise err("'attention_source' must be a string", "attention_source")
    memory = None
    if data.get("memory") is not None:
        from archscope.util.units import parse_size

        memory = parse_size(data["memory"])
        if memory is None:
            raise err(f"'memory' must be a size such as 16GiB, 16GB or 1.6e10 bytes (got {data['memory']!r})",
                      "memory")
    memory_source = data.get("memory_source", (f"user spec file {file}" if file else "user spec") if memory else "")
    if not isinstance(memory_source, str):
        raise err("'memory_source' must be a string", "memory_source")
    op_classes = _op_classes(data.get("op_classes", {}), err)
    fresh = None
    if data.get("fresh_bytes_per_s") is not None:
        fresh = _number(data["fresh_bytes_per_s"])
        if fresh is None:
            raise err(f"'fresh_bytes_per_s' must be a positive number (got {data['fresh_bytes_per_s']!r})",
                      "fresh_bytes_per_s")
    return DeviceSpec(
        name=name.strip(), peak_flops=peaks, bandwidth=bandwidth, source=source, aliases=tuple(aliases),
        notes=notes, relative_only=relative_only, attention=attention, attention_source=attention_source,
        memory_bytes=memory, memory_source=memory_source, op_classes=op_classes, fresh_bytes_per_s=fresh,
    )


_RATE_KEYS = ("flops_per_s", "bytes_per_s", "overhead_s", "driver", "by_size", "features", "points")


def _op_classes(raw: Any, err: Any) -> dict[str, dict[str, ClassRate]]:
    """The optional ``op_classes`` table: ``{dtype: {op class: {flops_per_s, bytes_per_s, overhead_s}}}``."""
    shape = "'op_classes' must map a dtype to op classes, e.g. {fp32: {conv: {flops_per_s: 5.0e+10, bytes_per_s: " \
            "8.0e+09, overhead_s: 1.0e-05}}}"
    if not isinstance(raw, dict):
        raise err(shape, "op_classes")
    out: dict[str, dict[str, ClassRate]] = {}
    for raw_dtype, table in raw.items():
        dtype = canonical_dtype(str(raw_dtype))
        where = f"op_classes.{raw_dtype}"
        if not isinstance(table, dict):
            raise err(shape, "op_classes", str(raw_dtype))
        if dtype in out:
            raise err(f"op_classes names dtype '{dtype}' twice", "op_classes", str(raw_dtype))
        rates: dict[str, ClassRate] = {}
        for cls, entry in table.items():
            if cls not in OP_CLASSES:
                hint = did_you_mean(str(cls), sorted(OP_CLASSES))
                raise err(f"unknown op class '{cls}' in {where}{f' ({hint})' if hint else ''}; allowed: "
                          f"{', '.join(OP_CLASSES)}", "op_classes", str(raw_dtype))
            if not isinstance(entry, dict) or set(entry) - set(_RATE_KEYS) or not {"flops_per_s", "bytes_per_s"} <= \
                    set(entry):
                raise err(f"{where}.{cls} must be a mapping with flops_per_s, bytes_per_s and optionally overhead_s "
                          f"(got {entry!r})", "op_classes", str(raw_dtype))
            flops, nbytes = _number(entry["flops_per_s"]), _number(entry["bytes_per_s"])
            overhead = entry.get("overhead_s", 0.0)
            over = 0.0 if overhead in (0, 0.0, "0") else _number(overhead)
            bad = next((k for k, v in (("flops_per_s", flops), ("bytes_per_s", nbytes), ("overhead_s", over))
                        if v is None), None)
            if bad is not None:
                limit = "a number >= 0" if bad == "overhead_s" else "a positive number"
                raise err(f"{where}.{cls}.{bad} must be {limit} (got {entry[bad]!r})", "op_classes", str(raw_dtype))
            assert flops is not None and nbytes is not None and over is not None
            driver, sizes = entry.get("driver", ""), entry.get("by_size", [])
            names, points = _points(entry, str(cls), where, lambda m, d=str(raw_dtype): err(m, "op_classes", d))
            if (sizes or points) and driver not in ("flops", "bytes"):
                raise err(f"{where}.{cls}.driver must be 'flops' or 'bytes' with a by_size table (got {driver!r})",
                          "op_classes", str(raw_dtype))
            if not isinstance(sizes, list) or not all(
                    isinstance(p, list) and len(p) == 2 and all(_number(v) is not None for v in p) for p in sizes):
                raise err(f"{where}.{cls}.by_size must be a list of [bytes, rate] pairs of positive numbers",
                          "op_classes", str(raw_dtype))
            table_sizes = tuple(sorted((_number(b) or 0.0, _number(r) or 0.0) for b, r in sizes))
            rates[str(cls)] = ClassRate(flops, nbytes, over, driver if sizes or points else "", table_sizes,
                                        names, points)
        out[dtype] = rates
    return out


def _points(entry: dict, cls: str, where: str, err: Any) -> tuple[tuple[str, ...], tuple[tuple[float, ...], ...]]:
    """A class entry's optional ``features`` and ``points``: the features must be this archscope's for the class
    (a file calibrated by another version that counts other features is refused, not misread)."""
    if "points" not in entry and "features" not in entry:
        return (), ()
    expected = CLASS_FEATURES[cls]
    names = entry.get("features")
    if names != list(expected):
        raise err(f"{where}.{cls}.features must be {list(expected)} (got {names!r}); this file was calibrated by "
                  f"another archscope: run archscope calibrate again")
    raw = entry.get("points")
    width = len(expected) + 1
    if not isinstance(raw, list) or not raw or not all(
            isinstance(p, list) and len(p) == width and all(_number(v) is not None for v in p) for p in raw):
        raise err(f"{where}.{cls}.points must be a list of [{', '.join(expected)}, rate] rows of positive numbers")
    return tuple(expected), tuple(tuple(_number(v) or 0.0 for v in p) for p in raw)


def save_device(spec: DeviceSpec, path: str | os.PathLike[str]) -> Path:
    """Write ``spec`` as YAML, atomically (a temporary file in the same folder, then a rename)."""
    target = Path(os.fspath(path))
    text = "# archscope device spec (FLOP/s per dtype, a multiply-add = 2 FLOPs; bandwidth in bytes/s)\n"
    text += yaml.safe_dump(spec.to_dict(), sort_keys=False, allow_unicode=True, width=120)
    write_atomic(os.fspath(target), text, what="device spec")
    return target


DEVICE_FILE_ENV = "ARCHSCOPE_DEVICE_FILE"


def default_device_file() -> Path:
    """Where this machine's calibrated preset lives: ``$ARCHSCOPE_DEVICE_FILE`` if set, else
    ``$XDG_CONFIG_HOME/archscope/device.yaml`` (``~/.config/archscope/device.yaml`` without XDG_CONFIG_HOME).
    ``archscope calibrate --save-default`` writes it; ``archscope bench`` reads it when no ``--device-spec`` is
    given."""
    override = os.environ.get(DEVICE_FILE_ENV)
    if override:
        return Path(override).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(config) / "archscope" / "device.yaml"


def saved_default_device() -> tuple[DeviceSpec, Path] | None:
    """This machine's saved preset and its path, or None when none was saved (a broken file is an error)."""
    path = default_device_file()
    return (load_device_file(path), path) if path.is_file() else None


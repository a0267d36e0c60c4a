"""Device specs for the roofline: presets with their sources, user spec files, and measured calibration.

A :class:`DeviceSpec` is a peak FLOP/s per dtype and a peak memory bandwidth in bytes/s. FLOPs count a multiply-add
as 2 (the archscope definition, see DESIGN.md), so a vendor's "TOPS"/"TFLOPS" figures are taken as they are: vendors
count an FMA as two operations too. Every figure below is the dense (no 2:4 structured sparsity) peak.

Three kinds of preset live here:

* vendor datasheet peaks (``a100``, ``h100``, ``t4``, ``orin-agx``, ``orin-nano``, ``m1``, ``m2``);
* peaks derived from a documented part's core count, clock and per-core throughput (``cpu``, ``rpi5``), said so in
  their ``source``;
* the fitted ridge points of the MobileNetV4 paper (``pixel6-cpu``, ``s23-cpu``, ``pixel4-dsp``,
  ``pixel8-edgetpu``). The paper gives only the ratio PeakMACs / PeakMemBW; these presets carry a *nominal*
  bandwidth of 1 GB/s and the peak that reproduces the paper's ridge point, so the times they predict are
  **relative only** (``relative_only=True``): compare layers or models on them, never read them as milliseconds.

``import archscope.hardware`` does not import torch; :func:`calibrate` imports it when called.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import yaml

from .errors import ArchscopeError

# Canonical dtype names, and the spellings accepted for them (torch names, numpy-ish names).
DTYPES = ("fp32", "tf32", "fp16", "bf16", "fp8", "int8")
_DTYPE_ALIASES = {
    "fp32": "fp32", "float32": "fp32", "float": "fp32", "f32": "fp32", "single": "fp32",
    "tf32": "tf32",
    "fp16": "fp16", "float16": "fp16", "half": "fp16", "f16": "fp16",
    "bf16": "bf16", "bfloat16": "bf16",
    "fp8": "fp8", "float8": "fp8", "float8_e4m3fn": "fp8", "float8_e5m2": "fp8",
    "int8": "int8", "i8": "int8", "qint8": "int8", "uint8": "int8",
}

MAX_SPEC_BYTES = 1_000_000
_SPEC_KEYS = {"name", "peak_flops", "bandwidth", "source", "aliases", "notes", "relative_only"}


def normalize_dtype(dtype: str) -> str:
    """``"float16"`` -> ``"fp16"`` etc.; unknown names are returned lower-cased (a spec file may define its own)."""
    key = str(dtype).strip().lower().replace("torch.", "")
    return _DTYPE_ALIASES.get(key, key)


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

    @property
    def dtypes(self) -> tuple[str, ...]:
        return tuple(self.peak_flops)

    def peak(self, dtype: str) -> float:
        """Peak FLOP/s at ``dtype``; an ArchscopeError naming the device's dtypes when it has none for it."""
        key = normalize_dtype(dtype)
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
        return d


# --------------------------------------------------------------------------------------------------------------------
# Presets. T = 1e12, G = 1e9.
# --------------------------------------------------------------------------------------------------------------------
_T = 1e12
_G = 1e9
# MobileNetV4 ridge-point presets: nominal bandwidth (1 GB/s); only peak/bandwidth carries meaning.
_NOMINAL_BW = 1e9
MNV4_CITATION = (
    "Qin et al., 'MobileNetV4: Universal Models for the Mobile Ecosystem', arXiv:2404.10518 (ECCV 2024), "
    "Appendix F 'Additional Roofline Analysis', Table 16 (ridge points empirically fit to measured latencies)"
)
# Table 16 of arXiv:2404.10518 (MACs per byte; all four targets run Int8 models):
MNV4_RIDGE_POINTS_MACS_PER_BYTE = {
    "pixel6-cpu": 31.2,  # Pixel 6 CPU (Int8)
    "s23-cpu": 39.7,  # Samsung Galaxy S23 CPU (Int8)
    "pixel4-dsp": 347.3,  # Pixel 4 DSP (Int8)
    "pixel8-edgetpu": 433.8,  # Pixel 8 EdgeTPU (Int8)
}


def _mnv4(name: str, target: str, aliases: tuple[str, ...]) -> DeviceSpec:
    rp_macs = MNV4_RIDGE_POINTS_MACS_PER_BYTE[name]
    return DeviceSpec(
        name=name,
        # 2 FLOPs per MAC: a ridge point of R MACs/byte is 2R FLOP/byte on archscope's scale.
        peak_flops={"int8": 2.0 * rp_macs * _NOMINAL_BW},
        bandwidth=_NOMINAL_BW,
        source=(
            f"{MNV4_CITATION}: {target} ridge point {rp_macs} MACs/byte = {2 * rp_macs:g} FLOP/byte. "
            f"Only that ratio is from the paper; the 1 GB/s bandwidth is nominal."
        ),
        aliases=aliases,
        notes=(
            "Ridge point only: peak and bandwidth are nominal (bandwidth 1 GB/s, peak = ridge point x bandwidth), so "
            "predicted times are relative units for ranking layers and models, not milliseconds. The paper fit "
            "this ridge point to Int8 latencies, with layer bytes = weights + activations; analyse at int8."
        ),
        relative_only=True,
    )


PRESETS: dict[str, DeviceSpec] = {}


def _add(spec: DeviceSpec) -> None:
    PRESETS[spec.name] = spec


# Generic desktop CPU = AMD Ryzen 7 5800X (Zen 3, 8 cores, base clock 3.8 GHz, dual-channel DDR4-3200; AMD product
# page). Zen 3 issues two 256-bit FMAs per cycle per core = 32 FP32 FLOP/cycle: 8 x 3.8e9 x 32 = 972.8 GFLOP/s.
# DDR4-3200 x 2 channels x 8 bytes = 51.2 GB/s. No native bf16/fp16 arithmetic, hence fp32 only.
_add(DeviceSpec(
    name="cpu",
    peak_flops={"fp32": 8 * 3.8e9 * 32},
    bandwidth=2 * 3200e6 * 8,
    source=(
        "derived for a reference part, AMD Ryzen 7 5800X (AMD product page: 8 Zen 3 cores, 3.8 GHz base, "
        "DDR4-3200 dual channel): 8 cores x 3.8 GHz x 32 FP32 FLOP/cycle (2x 256-bit FMA) = 972.8 GFLOP/s; "
        "2 x 64-bit x 3200 MT/s = 51.2 GB/s"
    ),
    aliases=("desktop-cpu", "ryzen7-5800x", "5800x"),
    notes="A generic stand-in for an 8-core AVX2 desktop; measure your own with `archscope calibrate`.",
))

# NVIDIA A100 SXM4 80GB: NVIDIA A100 datasheet. FP32 19.5 TF, TF32 156 TF, FP16/BF16 Tensor 312 TF, INT8 Tensor
# 624 TOPS (all dense; sparsity doubles the tensor figures), HBM2e 2,039 GB/s.
_add(DeviceSpec(
    name="a100",
    peak_flops={"fp32": 19.5 * _T, "tf32": 156 * _T, "fp16": 312 * _T, "bf16": 312 * _T, "int8": 624 * _T},
    bandwidth=2039 * _G,
    source=(
        "NVIDIA A100 Tensor Core GPU datasheet, A100 80GB SXM column: FP32 19.5 TFLOPS, TF32 Tensor 156 TFLOPS, "
        "BF16/FP16 Tensor 312 TFLOPS, INT8 Tensor 624 TOPS (dense), 2,039 GB/s"
    ),
    aliases=("a100-sxm", "a100-sxm4", "a100-80gb", "a100-sxm-80gb"),
))

# NVIDIA H100 SXM5 80GB: NVIDIA H100 datasheet, SXM column. The datasheet prints tensor figures with sparsity
# (TF32 989, BF16/FP16 1,979, FP8/INT8 3,958) and says dense is half; FP32 67 TF; HBM3 3.35 TB/s.
_add(DeviceSpec(
    name="h100",
    peak_flops={"fp32": 67 * _T, "tf32": 494.7 * _T, "fp16": 989.4 * _T, "bf16": 989.4 * _T,
                "fp8": 1978.9 * _T, "int8": 1978.9 * _T},
    bandwidth=3.35e12,
    source=(
        "NVIDIA H100 Tensor Core GPU datasheet, H100 SXM column: FP32 67 TFLOPS; TF32 989, BF16/FP16 1,979, "
        "FP8/INT8 3,958 T(FL)OPS with sparsity, halved here to dense (494.7 / 989.4 / 1978.9); 3.35 TB/s HBM3"
    ),
    aliases=("h100-sxm", "h100-sxm5", "h100-80gb"),
))

# NVIDIA T4: NVIDIA T4 datasheet. FP32 8.1 TF, mixed-precision FP16/FP32 65 TF, INT8 130 TOPS; GDDR6 on a 256-bit
# bus at 10 Gbps = 320 GB/s (datasheet: "320+ GB/s"; NVIDIA's product page rounds to 300 GB/s).
_add(DeviceSpec(
    name="t4",
    peak_flops={"fp32": 8.1 * _T, "fp16": 65 * _T, "int8": 130 * _T},
    bandwidth=320 * _G,
    source=(
        "NVIDIA T4 Tensor Core GPU datasheet: FP32 8.1 TFLOPS, mixed-precision (FP16/FP32) 65 TFLOPS, "
        "INT8 130 TOPS; 16 GB GDDR6, 320 GB/s (256-bit x 10 Gbps)"
    ),
    aliases=("tesla-t4", "nvidia-t4"),
))

# Jetson AGX Orin 64GB (GPU only, MAXN): Jetson AGX Orin Series technical brief / module datasheet. 2048 CUDA
# cores + 64 Tensor Cores at 1.3 GHz: FP32 5.3 TF; 170 sparse INT8 TOPS -> 85 dense; FP16/BF16 Tensor dense 42.5 TF
# (half the INT8 rate on Ampere). 256-bit LPDDR5, 204.8 GB/s. The two DLAs (105 sparse TOPS) are not included.
_add(DeviceSpec(
    name="orin-agx",
    peak_flops={"fp32": 5.3 * _T, "fp16": 42.5 * _T, "bf16": 42.5 * _T, "int8": 85 * _T},
    bandwidth=204.8 * _G,
    source=(
        "NVIDIA Jetson AGX Orin Series technical brief / 64GB module datasheet, GPU only: 5.3 FP32 TFLOPS; "
        "170 sparse INT8 TOPS halved to 85 dense; FP16/BF16 Tensor = half the INT8 rate (42.5 dense); "
        "LPDDR5 204.8 GB/s. DLA engines not included"
    ),
    aliases=("jetson-agx-orin", "agx-orin", "orin-agx-64gb", "jetson-orin-agx"),
))

# Jetson Orin Nano 8GB (original 15 W spec, GPU at 625 MHz): NVIDIA Jetson Orin Nano module datasheet. 1024 CUDA
# cores + 32 Tensor Cores: FP32 = 1024 x 2 x 0.625 GHz = 1.28 TF; 40 sparse INT8 TOPS -> 20 dense; FP16 Tensor dense
# 10 TF; 128-bit LPDDR5, 68 GB/s. (The JetPack 6.1 "Super" mode raises this to 67 sparse TOPS and 102 GB/s.)
_add(DeviceSpec(
    name="orin-nano",
    peak_flops={"fp32": 1.28 * _T, "fp16": 10 * _T, "bf16": 10 * _T, "int8": 20 * _T},
    bandwidth=68 * _G,
    source=(
        "NVIDIA Jetson Orin Nano 8GB module datasheet (original 15 W spec): 40 sparse INT8 TOPS halved to 20 dense; "
        "FP16/BF16 Tensor = half the INT8 rate (10 dense); FP32 derived as 1024 CUDA cores x 2 x 625 MHz = 1.28 "
        "TFLOPS; LPDDR5 68 GB/s"
    ),
    aliases=("jetson-orin-nano", "orin-nano-8gb", "jetson-orin-nano-8gb"),
    notes="The 'Super' (JetPack 6.1, 25 W) mode is about 1.7x faster in compute and 1.5x in bandwidth.",
))

# Apple M1 (8-core GPU): Apple's M1 announcement gives 2.6 TFLOPS; FP16 runs at the FP32 rate on this GPU
# (philipturner/metal-benchmarks measures 2617 GFLOPS for both). Memory: LPDDR4X-4266 on a 128-bit bus = 68.25 GB/s
# (Apple does not print a bandwidth for M1; this is the figure derived from the memory type and width).
_add(DeviceSpec(
    name="m1",
    peak_flops={"fp32": 2.6 * _T, "fp16": 2.6 * _T},
    bandwidth=68.25 * _G,
    source=(
        "Apple M1 press release (Nov 2020): 8-core GPU, 2.6 TFLOPS FP32; FP16 = FP32 rate per "
        "philipturner/metal-benchmarks (2617 GFLOPS both); bandwidth derived: LPDDR4X-4266 x 128-bit = 68.25 GB/s"
    ),
    aliases=("apple-m1", "m1-gpu"),
    notes="GPU figures (MPS). The Neural Engine is not modelled.",
))

# Apple M2 (10-core GPU): Apple's M2 announcement gives 3.6 TFLOPS and 100 GB/s unified memory bandwidth; FP16 at the
# FP32 rate (metal-benchmarks: 3579 GFLOPS both).
_add(DeviceSpec(
    name="m2",
    peak_flops={"fp32": 3.6 * _T, "fp16": 3.6 * _T},
    bandwidth=100 * _G,
    source=(
        "Apple M2 press release (Jun 2022): 10-core GPU, 3.6 TFLOPS FP32, 100 GB/s unified memory bandwidth; "
        "FP16 = FP32 rate per philipturner/metal-benchmarks (3579 GFLOPS both)"
    ),
    aliases=("apple-m2", "m2-gpu"),
    notes="GPU figures (MPS). The Neural Engine is not modelled.",
))

# Raspberry Pi 5: 4x Cortex-A76 at 2.4 GHz (Raspberry Pi 5 product brief), LPDDR4X-4267 on a 32-bit bus = 17.07 GB/s.
# Per core per cycle (Arm Cortex-A76 Software Optimization Guide: two 128-bit ASIMD pipes, FMLA and SDOT each at
# throughput 2): FP32 2 x 4 lanes x 2 = 16 FLOP; FP16 32 FLOP; INT8 SDOT 2 x 16 MACs x 2 = 64 ops.
_add(DeviceSpec(
    name="rpi5",
    peak_flops={"fp32": 4 * 2.4e9 * 16, "fp16": 4 * 2.4e9 * 32, "int8": 4 * 2.4e9 * 64},
    bandwidth=4267e6 * 4,
    source=(
        "derived: Raspberry Pi 5 product brief (BCM2712, 4x Cortex-A76 @ 2.4 GHz, LPDDR4X-4267); per-core rates "
        "from the Arm Cortex-A76 Software Optimization Guide (2x 128-bit NEON FMA/SDOT per cycle): FP32 153.6 GFLOP/s, "
        "FP16 307.2, INT8 614.4 GOP/s; 32-bit x 4267 MT/s = 17.07 GB/s"
    ),
    aliases=("raspberry-pi-5", "raspberrypi5", "pi5", "rpi-5"),
))

_add(_mnv4("pixel6-cpu", "Pixel 6 CPU (Int8)", ("pixel-6-cpu",)))
_add(_mnv4("s23-cpu", "Samsung Galaxy S23 CPU (Int8)", ("galaxy-s23-cpu", "samsung-s23-cpu")))
_add(_mnv4("pixel4-dsp", "Pixel 4 DSP (Int8)", ("pixel-4-dsp",)))
_add(_mnv4("pixel8-edgetpu", "Pixel 8 EdgeTPU (Int8)", ("pixel-8-edgetpu", "pixel8-tpu")))


def _lookup_key(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def _alias_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for spec in PRESETS.values():
        table[spec.name] = spec.name
        for alias in spec.aliases:
            table[_lookup_key(alias)] = spec.name
    return table


def preset_names() -> list[str]:
    return list(PRESETS)


def get_preset(name: str) -> DeviceSpec:
    """A preset by name or alias (case-insensitive; ``_`` and spaces read as ``-``), or a did-you-mean error."""
    table = _alias_table()
    key = _lookup_key(name)
    if key in table:
        spec = PRESETS[table[key]]
        return replace(spec, peak_flops=dict(spec.peak_flops))  # a copy: callers may not alter the preset
    close = difflib.get_close_matches(key, list(table), n=3, cutoff=0.6)
    names = list(dict.fromkeys(table[c] for c in close))
    hint = f" Did you mean {' or '.join(repr(n) for n in names)}?" if names else ""
    raise ArchscopeError(
        f"unknown device '{name}'.{hint} Presets: {', '.join(PRESETS)}; or give a path to a YAML/JSON device file "
        f"(name, peak_flops, bandwidth)"
    )


# --------------------------------------------------------------------------------------------------------------------
# Spec files
# --------------------------------------------------------------------------------------------------------------------
def _looks_like_path(text: str) -> bool:
    return (
        text.lower().endswith((".yaml", ".yml", ".json"))
        or os.sep in text
        or (os.altsep is not None and os.altsep in text)
    )


def load_device(name_or_path: str | os.PathLike[str] | DeviceSpec) -> DeviceSpec:
    """A preset name/alias, or a YAML/JSON device file; a DeviceSpec is passed through.

    A bare word is a preset first; only if it names no preset and a file of that name exists is it read as a file.
    """
    if isinstance(name_or_path, DeviceSpec):
        return name_or_path
    text = os.fspath(name_or_path)
    if isinstance(name_or_path, os.PathLike) or _looks_like_path(text):
        return load_device_file(text)
    if _lookup_key(text) not in _alias_table() and os.path.isfile(text):
        return load_device_file(text)
    return get_preset(text)


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
        close = difflib.get_close_matches(k, sorted(_SPEC_KEYS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
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
        dtype = normalize_dtype(str(raw_dtype))
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
    return DeviceSpec(
        name=name.strip(), peak_flops=peaks, bandwidth=bandwidth, source=source, aliases=tuple(aliases),
        notes=notes, relative_only=relative_only,
    )


def save_device(spec: DeviceSpec, path: str | os.PathLike[str]) -> Path:
    """Write ``spec`` as YAML, atomically (a temporary file in the same folder, then a rename)."""
    target = Path(os.fspath(path))
    text = "# archscope device spec (FLOP/s per dtype, a multiply-add = 2 FLOPs; bandwidth in bytes/s)\n"
    text += yaml.safe_dump(spec.to_dict(), sort_keys=False, allow_unicode=True, width=120)
    folder = target.parent if str(target.parent) else Path(".")
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, target)
        tmp_name = None
    except OSError as e:
        raise ArchscopeError(f"cannot write device spec: {e.strerror or e}", file=str(target)) from None
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
    return target


DEVICE_FILE_ENV = "ARCHSCOPE_DEVICE_FILE"


def default_device_file() -> Path:
    """Where this machine's calibrated preset lives: ``$ARCHSCOPE_DEVICE_FILE`` if set, else
    ``$XDG_CONFIG_HOME/archscope/device.yaml`` (``~/.config/archscope/device.yaml`` without XDG_CONFIG_HOME).
    ``archscope calibrate --save-default`` writes it; ``archscope bench`` reads it when no ``--device-spec`` is given."""
    override = os.environ.get(DEVICE_FILE_ENV)
    if override:
        return Path(override).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(config) / "archscope" / "device.yaml"


def saved_default_device() -> tuple[DeviceSpec, Path] | None:
    """This machine's saved preset and its path, or None when none was saved (a broken file is an error)."""
    path = default_device_file()
    return (load_device_file(path), path) if path.is_file() else None


# --------------------------------------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------------------------------------
@dataclass
class Backend:
    """What calibrate needs from a device: a torch device string and a way to wait for queued work."""

    device: str  # "cpu", "cuda", "cuda:1", "mps"
    synchronize: Callable[[], None] = field(default=lambda: None)


def backend_for(device: str) -> Backend:
    """The Backend for a torch device string; a clear error when that device is not there."""
    import torch

    kind = device.split(":", 1)[0].lower()
    if kind == "cpu":
        return Backend("cpu", lambda: None)
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ArchscopeError(f"device '{device}' is not available: torch sees no CUDA GPU here")
        dev = torch.device(device)
        return Backend(str(dev), lambda: torch.cuda.synchronize(dev))
    if kind == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ArchscopeError(f"device '{device}' is not available: torch has no MPS backend here")
        return Backend("mps", torch.mps.synchronize)
    raise ArchscopeError(f"cannot calibrate device '{device}': use cpu, cuda[:N] or mps")


def time_best(
    fn: Callable[[], Any],
    *,
    synchronize: Callable[[], None],
    clock: Callable[[], float],
    iters: int,
    trials: int,
) -> float:
    """Best (lowest) seconds per call of ``fn`` over ``trials`` trials of ``iters`` calls each.

    The device is synchronised before each trial starts and before its clock is read at the end, so queued
    asynchronous work (CUDA, MPS) is inside the timed interval.
    """
    best = math.inf
    for _ in range(max(1, trials)):
        synchronize()
        t0 = clock()
        for _ in range(max(1, iters)):
            fn()
        synchronize()
        dt = clock() - t0
        best = min(best, dt / max(1, iters))
    return best


def _time_once(fn: Callable[[], Any], synchronize: Callable[[], None], clock: Callable[[], float]) -> float:
    synchronize()
    t0 = clock()
    fn()
    synchronize()
    return max(clock() - t0, 1e-9)


def _plan(one: float, budget: float, trials: int) -> tuple[int, int]:
    """Calls per trial and number of trials that fit ``budget`` seconds, given ``one`` second per call (>= 1 each)."""
    trials = max(1, min(trials, int(budget / one)))
    iters = int(max(1, min(1000, budget / (trials * one))))
    return iters, trials


_TORCH_DTYPES = {"fp32": "float32", "tf32": "float32", "fp16": "float16", "bf16": "bfloat16", "int8": "int8"}


def calibrate(
    device: str = "cpu",
    dtypes: Iterable[str] = ("fp32", "bf16"),
    seconds: float = 3.0,
    *,
    name: str | None = None,
    matmul_size: int | None = None,
    stream_bytes: int | None = None,
    trials: int = 3,
    backend: Backend | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> DeviceSpec:
    """Measure achieved matmul FLOP/s per dtype and streaming bandwidth on this machine, as a DeviceSpec.

    * compute: square ``n x n`` matmuls (``2 n^3`` FLOPs each), one warm-up call, then the best of ``trials`` timed
      trials; ``n`` doubles from 128 until one call takes ~10 ms at ``n`` >= 512 (2048 on a GPU; cap 2048 / 8192),
      or until a bigger size would not fit the budget, unless ``matmul_size`` is given.
    * bandwidth: ``dst.copy_(src)`` of a large buffer (``stream_bytes``; 128 MiB on CPU, 512 MiB on a GPU), counted as
      bytes read + bytes written, best of ``trials``.
    * ``seconds`` is the total budget (after importing torch), shared equally among the dtypes and the bandwidth
      test; a dtype whose single call is slower than its share still gets one timed call.

    These are *achieved* figures (what torch reaches here), lower than datasheet peaks; ``backend`` and ``clock``
    exist so tests can fake the device's synchronize and the time.
    """
    import torch

    backend = backend or backend_for(device)
    canon = list(dict.fromkeys(normalize_dtype(d) for d in dtypes))
    bad = [d for d in canon if d not in _TORCH_DTYPES]
    if bad:
        raise ArchscopeError(f"cannot calibrate dtype '{bad[0]}': choose from {', '.join(_TORCH_DTYPES)}")
    if seconds <= 0:
        raise ArchscopeError("calibrate needs a positive time budget (seconds)")
    dev = backend.device
    on_gpu = not dev.startswith("cpu")
    sync = backend.synchronize
    peaks: dict[str, float] = {}
    details: list[str] = []
    deadline = clock() + seconds
    phases_left = len(canon) + 1

    def next_budget() -> float:
        # each phase gets an equal share of what is left, so probing and warm-up stay inside the total budget
        nonlocal phases_left
        share = max(deadline - clock(), 0.0) / phases_left
        phases_left -= 1
        return share

    for dtype in canon:
        tdtype = getattr(torch, _TORCH_DTYPES[dtype])
        budget = next_budget()
        prev_tf32 = None
        if dev.startswith("cuda"):
            prev_tf32 = torch.backends.cuda.matmul.allow_tf32
            torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
        try:
            def make(n: int) -> Callable[[], Any]:
                if dtype == "int8":
                    mm = getattr(torch, "_int_mm", None)
                    if mm is None:
                        raise RuntimeError("torch._int_mm is missing in this torch")
                    a = torch.randint(-8, 8, (n, n), dtype=torch.int8, device=dev)
                    b = torch.randint(-8, 8, (n, n), dtype=torch.int8, device=dev)
                    return lambda: mm(a, b)
                a = torch.randn(n, n, device=dev).to(tdtype)
                b = torch.randn(n, n, device=dev).to(tdtype)
                return lambda: torch.mm(a, b)

            phase_end = clock() + budget
            if matmul_size is not None:
                n = int(matmul_size)
                fn = make(n)
                one = _time_once(fn, sync, clock)  # warm-up, and the per-call estimate
            else:
                # Grow n from 128 until one call takes ~10 ms at n >= 512 (2048 on a GPU) or a size cap, but stop
                # early when the next size (8x the work) would not fit the budget: slow dtypes (bf16 emulated on
                # an older CPU) stay small instead of overrunning.
                n, floor, cap = (128, 2048, 8192) if on_gpu else (128, 512, 2048)
                while True:
                    fn = make(n)
                    fn()  # first touch / kernel selection
                    # best of two, so one noisy call cannot stop the growth
                    one = min(_time_once(fn, sync, clock), _time_once(fn, sync, clock))
                    if n >= cap or (one > 0.01 and n >= floor) or one * 8 * (trials + 1) > phase_end - clock():
                        break
                    n *= 2
            iters, trials_here = _plan(one, phase_end - clock(), trials)
            per_call = time_best(fn, synchronize=sync, clock=clock, iters=iters, trials=trials_here)
        except RuntimeError as e:
            raise ArchscopeError(
                f"cannot calibrate {dtype} matmul on {dev}: {str(e).splitlines()[0] if str(e) else e}"
            ) from None
        finally:
            if prev_tf32 is not None:
                torch.backends.cuda.matmul.allow_tf32 = prev_tf32
        peaks[dtype] = 2.0 * n**3 / max(per_call, 1e-12)
        details.append(f"{dtype}: {n}x{n} matmul x{iters}, best of {trials_here}")

    nbytes = int(stream_bytes or (512 << 20 if on_gpu else 128 << 20))
    numel = max(1, nbytes // 4)
    src = torch.ones(numel, dtype=torch.float32, device=dev)
    dst = torch.empty_like(src)
    copy = lambda: dst.copy_(src)  # noqa: E731
    copy()  # first touch of dst
    iters, trials_here = _plan(_time_once(copy, sync, clock), deadline - clock(), trials)
    per_copy = time_best(copy, synchronize=sync, clock=clock, iters=iters, trials=trials_here)
    moved = 2 * numel * 4  # read src + write dst
    bandwidth = moved / max(per_copy, 1e-12)
    details.append(f"bandwidth: copy of {numel * 4 / 2**20:.0f} MiB (read + write) x{iters}, best of {trials_here}")

    threads = torch.get_num_threads() if not on_gpu else None
    when = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    where = dev + (f", {threads} threads" if threads else "")
    return DeviceSpec(
        name=name or f"calibrated-{dev.replace(':', '')}",
        peak_flops=peaks,
        bandwidth=bandwidth,
        source=f"measured by archscope calibrate on {when} (torch {torch.__version__}, {where}): " + "; ".join(details),
        notes="Achieved throughput of torch matmul and tensor copy here, not datasheet peaks.",
    )

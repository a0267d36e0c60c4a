"""The roofline presets, each with the source of its figures, and lookup by name or alias.

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

No torch here.
"""

from __future__ import annotations

import os
from dataclasses import replace

from archscope.devices.spec import DeviceSpec, load_device_file
from archscope.errors import ArchscopeError
from archscope.util.text import close_matches

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


# --------------------------------------------------------------------------------------------------------------------
# How each preset's usual runtime runs attention: the default of --attention (eager: the score matrices go to memory
# and back; fused: flash-style kernels keep them on chip). A model that calls matmul + softmax itself (as the sample
# MHSA/MQA blocks and most YOLO attention blocks do) runs eager under plain PyTorch on any device: only
# F.scaled_dot_product_attention, torch.compile or an inference compiler (TensorRT, the EdgeTPU compiler) fuses it.
# --------------------------------------------------------------------------------------------------------------------
_CPU_EAGER = (
    "CPU runtimes (PyTorch eager, ONNX Runtime's and TFLite/XNNPack's CPU kernels) run an explicit matmul, softmax "
    "and matmul as separate kernels, so the score matrices are written and read back. PyTorch's CPU SDPA "
    "(_scaled_dot_product_flash_attention_for_cpu) is fused, but only code that calls SDPA gets it")
_GPU_FUSED = (
    "PyTorch 2.x F.scaled_dot_product_attention picks FlashAttention-2 (sm80+) or the memory-efficient kernel "
    "(sm50+) on CUDA (PyTorch docs, torch.nn.functional.scaled_dot_product_attention), and TensorRT fuses the "
    "matmul-softmax-matmul pattern into one MHA kernel; neither writes the scores. Code that calls matmul + softmax "
    "itself (the sample MHSA/MQA blocks) runs eager under plain PyTorch: use --attention eager for that")
_MPS_EAGER = (
    "PyTorch's MPS backend has no flash-attention kernel documented; explicit matmul + softmax run as separate "
    "Metal kernels, so the scores go through memory")
_ACCEL_FUSED = (
    "accelerator compilers (EdgeTPU compiler, Hexagon/NNAPI delegates) schedule the whole attention block with "
    "the score tiles in on-chip memory; the MobileNetV4 paper's roofline (arXiv:2404.10518, Appendix F) charges a "
    "layer only its weights and activations, i.e. no score traffic. An assumption, no vendor document says it")
_MNV4_CPU_EAGER = (
    "TFLite's CPU delegate (XNNPack) runs BATCH_MATMUL, SOFTMAX and BATCH_MATMUL as separate ops: the scores go "
    "through memory")
ATTENTION_DEFAULTS: dict[str, tuple[str, str]] = {
    "cpu": ("eager", _CPU_EAGER), "rpi5": ("eager", _CPU_EAGER),
    "a100": ("fused", _GPU_FUSED), "h100": ("fused", _GPU_FUSED), "t4": ("fused", _GPU_FUSED),
    "orin-agx": ("fused", _GPU_FUSED), "orin-nano": ("fused", _GPU_FUSED),
    "m1": ("eager", _MPS_EAGER), "m2": ("eager", _MPS_EAGER),
    "pixel6-cpu": ("eager", _MNV4_CPU_EAGER), "s23-cpu": ("eager", _MNV4_CPU_EAGER),
    "pixel4-dsp": ("fused", _ACCEL_FUSED), "pixel8-edgetpu": ("fused", _ACCEL_FUSED),
}
for _name, (_mode, _why) in ATTENTION_DEFAULTS.items():
    if _name in PRESETS:
        PRESETS[_name] = replace(PRESETS[_name], attention=_mode, attention_source=_why)
# Memory sizes, as the vendor prints them (decimal GB = 1e9 bytes; the usable part is a little lower: a driver or an
# OS takes some). Unified-memory parts (Apple M1/M2, Jetson, Raspberry Pi) share it with the CPU and the OS.
_MEMORY = {
    "a100": (80e9, "NVIDIA A100 datasheet, A100 80GB SXM column (the preset's part): 80 GB HBM2e"),
    "h100": (80e9, "NVIDIA H100 datasheet, H100 SXM column: 80 GB HBM3"),
    "t4": (16e9, "NVIDIA T4 datasheet: 16 GB GDDR6"),
    "orin-agx": (64e9, "Jetson AGX Orin 64GB module datasheet: 64 GB LPDDR5, shared by CPU and GPU"),
    "orin-nano": (8e9, "Jetson Orin Nano 8GB module datasheet: 8 GB LPDDR5, shared by CPU and GPU"),
    "m1": (8e9, "Apple M1 press release: 8 GB unified memory in the base configuration (up to 16 GB)"),
    "m2": (8e9, "Apple M2 press release: 8 GB unified memory in the base configuration (up to 24 GB)"),
    "rpi5": (8e9, "Raspberry Pi 5 product brief: 8 GB LPDDR4X variant (2 GB and 4 GB variants exist too)"),
}
for _name, (_bytes, _source) in _MEMORY.items():
    PRESETS[_name] = replace(PRESETS[_name], memory_bytes=int(_bytes), memory_source=_source)


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
    close = close_matches(key, list(table), n=3)
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



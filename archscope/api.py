"""The Python API: ``archscope.profile(path_or_dict, ...) -> ModelReport``. The CLI is a thin layer over this."""

from __future__ import annotations

import os
from typing import Any

from .errors import ArchscopeError
from .report import ModelReport


def parse_imgsz(value: int | str | tuple[int, int] | list[int]) -> tuple[int, int]:
    """``640`` -> (640, 640); ``"640x384"`` or ``(640, 384)`` -> (H, W) = (640, 384)."""
    if isinstance(value, bool):
        raise ArchscopeError(f"--imgsz must be a size such as 640 or 640x384, got {value!r}")
    if isinstance(value, int):
        hw = (value, value)
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        hw = (value[0], value[1])
    elif isinstance(value, str):
        parts = value.lower().replace(",", "x").split("x")
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            raise ArchscopeError(f"--imgsz must be a size such as 640 or 640x384 (H x W), got {value!r}") from None
        if len(nums) == 1:
            hw = (nums[0], nums[0])
        elif len(nums) == 2:
            hw = (nums[0], nums[1])
        else:
            raise ArchscopeError(f"--imgsz must be one or two numbers (H x W), got {value!r}")
    else:
        raise ArchscopeError(f"--imgsz must be a size such as 640 or 640x384, got {value!r}")
    if min(hw) < 1:
        raise ArchscopeError(f"--imgsz must be positive, got {value!r}")
    return hw


DTYPES = ("fp32", "fp16", "bf16", "int8")


def profile(
    source: str | os.PathLike | dict[str, Any],
    *,
    scale: str | None = None,
    nc: int | None = None,
    ch: int | None = None,
    imgsz: int | str | tuple[int, int] = 640,
    batch: int = 1,
    dtype: str = "fp32",
    device_spec: str | None = None,
    depth: int = 0,
    real: bool = False,
    counter: str | None = None,
    analyse: bool = True,
    blocks: list[str] | tuple[str, ...] = (),
) -> ModelReport:
    """Parse, build (on the meta device) and profile a model YAML; return the report.

    ``dtype`` sets the bytes per element; ``device_spec`` (a preset name such as ``"a100"`` or a YAML/JSON file)
    adds roofline-predicted times; ``depth`` keeps sub-modules down to that depth under each layer; ``real`` counts
    on real CPU tensors instead of meta; ``counter`` ("fvcore" or "thop") adds that tool's totals for comparison;
    ``analyse=False`` gives only structure, parameters and shapes; ``blocks`` names user block files or modules to
    register first (see :mod:`archscope.plugins`).
    """
    from .build import BuildOptions, build_model
    from .diagnostics import find_issues
    from .profiling import add_costs, add_roofline, make_report
    from .spec import load_spec

    if dtype not in DTYPES:
        raise ArchscopeError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if depth < 0:
        raise ArchscopeError(f"--depth must be >= 0, got {depth}")
    device = None
    if device_spec is not None:
        from .hardware import load_device

        device = load_device(device_spec)
        device.peak(dtype)  # fail now, with the device's dtypes listed, not after the counting
    if counter is not None:
        from .crosscheck import COUNTERS

        if counter not in COUNTERS:
            raise ArchscopeError(f"--counter must be one of {', '.join(COUNTERS)}, got {counter!r}")

    if blocks:
        from .plugins import load_blocks

        for item in blocks:
            load_blocks(item)
    spec = load_spec(source)
    options = BuildOptions(scale=scale, nc=nc, ch=ch, imgsz=parse_imgsz(imgsz), batch=batch)
    built = build_model(spec, options)
    report = make_report(built, dtype=dtype)
    if not analyse:
        return report
    from .analysis.analyze import analyze

    costs = analyze(built, dtype=dtype, real=real)
    add_costs(report, built, costs, depth=depth)
    report.findings = find_issues(report)
    if device is not None:
        from .roofline import roofline

        add_roofline(report, roofline(device, dtype, costs.ops, layers=range(len(built.layers)), submodules=depth > 0))
    if counter is not None:
        report.crosscheck.append(_crosscheck(built, counter, report))
    return report


def _crosscheck(built, counter: str, report: ModelReport) -> dict[str, Any]:
    """Run fvcore or thop on a real CPU copy of the model and put its totals beside archscope's."""
    import copy

    import torch

    from .build import materialize
    from .crosscheck import crosscheck

    real = copy.copy(built)
    real.model = copy.deepcopy(built.model)
    model = materialize(real, device="cpu")
    x = torch.randn(built.batch, built.ch, *built.imgsz, generator=torch.Generator().manual_seed(0))
    result = crosscheck(model, (x,), counter)
    return {
        "counter": counter,
        "version": result.version,
        "macs": result.macs,
        "flops_x2": result.flops_x2,
        "archscope_mac_flops": report.totals.mac_flops,
        "explanation": result.explanation,
        "unsupported_ops": result.unsupported_ops,
    }

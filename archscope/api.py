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


def profile(
    source: str | os.PathLike | dict[str, Any],
    *,
    scale: str | None = None,
    nc: int | None = None,
    ch: int | None = None,
    imgsz: int | str | tuple[int, int] = 640,
    batch: int = 1,
) -> ModelReport:
    """Parse, build (on the meta device) and profile a model YAML; return the report."""
    from .build import BuildOptions, build_model
    from .profiling import make_report
    from .spec import load_spec

    spec = load_spec(source)
    options = BuildOptions(scale=scale, nc=nc, ch=ch, imgsz=parse_imgsz(imgsz), batch=batch)
    built = build_model(spec, options)
    return make_report(built)

"""archscope: what does this architecture change cost, and why?

Python API (torch is imported only when a model is built)::

    import archscope
    report = archscope.profile("model.yaml", scale="n", imgsz="640x384")
    report.to_dict()  # the JSON that `archscope profile --format json` prints
    timed = archscope.bench("model.yaml", imgsz=320, batch=[1, 8], device="cpu")
    timed.batch(8).median_ms
    archscope.register_op_cost(torch.ops.mylib.myop, lambda args, kwargs, outs: 3 * outs[0].numel())
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from archscope._version import __version__
from archscope.errors import ArchscopeError

__all__ = ["ArchscopeError", "BenchReport", "ModelReport", "bench", "block", "load_blocks", "profile",
           "register_op_cost", "unregister_op_cost", "__version__"]

if TYPE_CHECKING:
    from archscope.reports.bench import BenchReport
    from archscope.reports.profile import ModelReport


def profile(*args: Any, **kwargs: Any) -> ModelReport:
    from archscope.api import profile as _profile

    return _profile(*args, **kwargs)


profile.__doc__ = "Profile a model YAML (path or dict); see archscope.api.profile for the options."


def load_blocks(source: str) -> list[str]:
    """Register the blocks of a user's Python file or module (what ``--blocks`` does); returns their names."""
    from archscope.build.plugins import load_blocks as _load

    return _load(source)


def register_op_cost(op: Any, formula: Callable[[tuple, dict, list], Any], *, kind: str = "other",
                     replace: bool = False) -> None:
    """Count operator ``op`` (a packet such as ``torch.ops.mylib.myop``) with ``formula(args, kwargs, outs)``, which
    returns its FLOPs per call (an int of ``kind`` "other" or "mac", or a ``(mac_flops, other_flops)`` pair).
    An op that already has a cost raises unless ``replace=True``; see archscope.analysis.costs.register_op_cost."""
    from archscope.analysis.costs import register_op_cost as _register

    _register(op, formula, kind=kind, replace=replace)


def unregister_op_cost(op: Any) -> None:
    """Take back a :func:`register_op_cost` (archscope's own formula returns if it had been replaced)."""
    from archscope.analysis.costs import unregister_op_cost as _unregister

    _unregister(op)


def bench(*args: Any, **kwargs: Any) -> BenchReport:
    from archscope.api import bench as _bench

    return _bench(*args, **kwargs)


bench.__doc__ = "Time real forward passes of a model YAML; see archscope.api.bench for the options."


def __getattr__(name: str):
    if name in ("block", "INNER", "OUTER", "ScaledOut", "FixedOut", "SameAsInput", "InputOnly", "ConcatChannels",
                "LastInput", "HeadInputs", "CustomRule", "Resolved", "ChannelContext"):
        from archscope.build import registry  # torch-free: plugin files declare their rules with these

        return getattr(registry, name)
    if name == "ModelReport":
        from archscope.reports.profile import ModelReport

        return ModelReport
    if name == "BenchReport":
        from archscope.reports.bench import BenchReport

        return BenchReport
    raise AttributeError(name)

"""archscope: what does this architecture change cost, and why?

Python API (torch is imported only when a model is built)::

    import archscope
    report = archscope.profile("model.yaml", scale="n", imgsz="640x384")
    print(report)     # the per-layer table, as `archscope profile` prints it
    report.to_dict()  # the JSON that `archscope profile --format json` prints
    timed = archscope.bench("model.yaml", imgsz=320, batch=[1, 8], device="cpu")
    timed.batch(8).median_ms
    archscope.register_op_cost(torch.ops.mylib.myop, lambda args, kwargs, outs: 3 * outs[0].numel())

``archscope.profile`` and ``archscope.bench`` are the functions of :mod:`archscope.api` themselves (their real
signatures and docstrings), imported on first use so that ``import archscope`` stays light and torch-free;
``archscope.api`` also has ``compare``, ``snapshot`` and ``check``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from archscope._version import __version__
from archscope.errors import ArchscopeError
from archscope.util.show import register_text

__all__ = ["ArchscopeError", "BenchReport", "ModelReport", "bench", "block", "load_blocks", "profile",
           "register_op_cost", "unregister_op_cost", "__version__"]

if TYPE_CHECKING:  # what IDEs and type checkers read; at run time __getattr__ below imports them on first use
    from archscope.api import bench, profile
    from archscope.reports.bench import BenchReport
    from archscope.reports.profile import ModelReport

_API = ("profile", "bench")  # archscope.compare and archscope.check are packages: their functions stay in api
_REGISTRY = ("block", "INNER", "OUTER", "ScaledOut", "FixedOut", "SameAsInput", "InputOnly", "ConcatChannels",
             "LastInput", "HeadInputs", "CustomRule", "Resolved", "ChannelContext")


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


def _terminal_width() -> int | None:
    """The terminal's width when printing to one; otherwise None: the renderer's width for files."""
    import shutil
    import sys

    return shutil.get_terminal_size().columns if getattr(sys.stdout, "isatty", lambda: False)() else None


def _profile_text(report: ModelReport) -> str:
    from archscope.render.formats import render_text

    depth = max((s.depth for layer in report.layers for s in layer.submodules), default=0)
    return render_text(report, "table", depth=depth, width=_terminal_width()).rstrip("\n")


def _bench_text(report: BenchReport) -> str:
    from archscope.render.bench import render_bench

    return render_bench(report, "table", width=_terminal_width()).rstrip("\n")


def _sweep_text(report) -> str:
    from archscope.render.sweep import render_sweep

    return render_sweep(report, "table", width=_terminal_width() or 80).rstrip("\n")


# print(report) renders the table the command prints (reports may not import the renderers: see archscope.util.show)
register_text("profile", _profile_text)
register_text("bench", _bench_text)
register_text("sweep", _sweep_text)


def __getattr__(name: str) -> Any:
    if name in _API:
        from archscope import api  # torch-free: the functions import torch when they build a model

        value = getattr(api, name)
        globals()[name] = value  # looked up once
        return value
    if name in _REGISTRY:
        from archscope.build import registry  # torch-free: plugin files declare their rules with these

        return getattr(registry, name)
    if name == "ModelReport":
        from archscope.reports.profile import ModelReport

        return ModelReport
    if name == "BenchReport":
        from archscope.reports.bench import BenchReport

        return BenchReport
    raise AttributeError(f"module 'archscope' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_REGISTRY})

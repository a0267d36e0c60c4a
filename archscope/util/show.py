"""How a report prints itself (``print(report)``). The reports stage may not import the renderers (data flows one way:
see tests/test_architecture.py), so ``archscope/__init__.py``, which Python runs before any module of the package,
registers here the function that renders each kind of report; the renderers are imported only when one is printed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_RENDERERS: dict[str, Callable[[Any], str]] = {}


def register_text(kind: str, render: Callable[[Any], str]) -> None:
    """``render(report) -> str`` is what ``str()`` of a report of ``kind`` ("profile", "bench") gives."""
    _RENDERERS[kind] = render


def text_of(kind: str, report: Any) -> str:
    """The registered rendering of ``report``, or its short ``repr`` where none is registered."""
    render = _RENDERERS.get(kind)
    return render(report) if render is not None else repr(report)

"""The default registry: every built-in block (importing :mod:`archscope.blocks` registers them) and, for names no
built-in block has, the blocks of installed plugin packages (``archscope.blocks`` entry points, loaded on first use)."""

from __future__ import annotations

from archscope.build.plugins import load_entry_point
from archscope.build.registry import REGISTRY, Registry

_loaded = False


def default_registry() -> Registry:
    """The registry with every built-in block loaded (imports torch)."""
    global _loaded
    if not _loaded:
        import archscope.blocks  # noqa: F401  (registers on import)

        REGISTRY.fallback = load_entry_point
        _loaded = True
    return REGISTRY

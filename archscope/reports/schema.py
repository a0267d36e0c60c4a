"""What every versioned report file shares: its schema check, and reading only the keys this version knows."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def require_schema(data: dict[str, Any], expected: str, what: str) -> None:
    """A ValueError unless ``data`` names schema ``expected`` (``what``: "report", "bench report", ...)."""
    schema = data.get("schema")
    if schema != expected:
        raise ValueError(f"not an archscope {what} (schema {schema!r}, expected {expected!r})")


def known_fields(cls: type[DataclassInstance], raw: dict[str, Any], *, nested: tuple[str, ...] = ()) -> dict[str, Any]:
    """The keys of ``raw`` that are fields of ``cls``, less the ``nested`` ones the caller rebuilds itself: a file a
    newer archscope wrote may carry more keys, which this version ignores."""
    names = {f.name for f in fields(cls)} - set(nested)
    return {k: v for k, v in raw.items() if k in names}

"""A profile report -> text in one of the output formats (the format chosen from ``--format`` or the file suffix)."""

from __future__ import annotations

from archscope.errors import ArchscopeError
from archscope.vocab import FORMAT_ALIASES, FORMAT_BY_SUFFIX, FORMATS


def format_for(path: str | None, requested: str | None) -> str:
    """The explicit ``--format`` wins; otherwise a file's suffix decides; otherwise the table."""
    if requested:
        requested = FORMAT_ALIASES.get(requested, requested)
        if requested not in FORMATS:
            raise ArchscopeError(f"unknown format {requested!r}; choose one of {', '.join(FORMATS)}")
        return requested
    if path:
        import os

        return FORMAT_BY_SUFFIX.get(os.path.splitext(path)[1].lower(), "table")
    return "table"


def render_text(report, fmt: str, *, depth: int = 0, width: int | None = None, columns=None) -> str:
    if fmt == "json":
        from archscope.render.data import to_json

        return to_json(report)
    if fmt == "csv":
        from archscope.render.data import to_csv

        return to_csv(report, depth=depth)
    if fmt == "md":
        from archscope.render.data import to_markdown

        return to_markdown(report, depth=depth)
    if fmt == "html":
        from archscope.render.html import profile_page

        return profile_page(report, depth=depth)
    from archscope.render.table import export

    return export(report, depth=depth, html=(fmt == "html"), width=width, columns=columns)

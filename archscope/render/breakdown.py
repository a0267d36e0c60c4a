"""One layer op by op (``archscope explain``) as a table that fits the terminal, JSON or Markdown."""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich.console import Console, RenderableType
from rich.text import Text

from archscope.render.fit import Col, dropped_line, fit_table, output_console
from archscope.render.markdown import md_table
from archscope.reports.breakdown import LayerBreakdown
from archscope.util.units import fmt_sig

COLUMNS = [
    Col("op group", "group", priority=0, fold=True, least=14),
    Col("path", "path", priority=4, fold=True, least=8),
    Col("MFLOPs", "flops", number=True, priority=1),
    Col("MB", "bytes", number=True, priority=1),
    Col("FLOP/B", "intensity", number=True, priority=2),
    Col("time", "time", number=True, priority=0),
    Col("%", "share", number=True, priority=3),
    Col("bound", "bound", priority=2),
]


def headline(b: LayerBreakdown) -> str:
    unit = "relative units" if b.predicted_unit == "relative" else "ms"
    return (f"{b.model} layer {b.layer} ({b.module}) at {b.imgsz[0]}x{b.imgsz[1]}, batch {b.batch}, {b.dtype}, "
            f"on {b.device}, attention {b.attention}: {b.flops / 1e6:,.1f} MFLOPs, {b.bytes / 1e6:.3g} MB, "
            f"{b.predicted_ms:.4g} {unit}")


def rows(b: LayerBreakdown) -> list[list[str]]:
    out = []
    for g in b.groups:
        share = g.predicted_ms / b.predicted_ms * 100 if b.predicted_ms > 0 else 0.0
        intensity = g.intensity
        out.append([g.name, g.path or "-", fmt_sig(g.flops, 4, scale=1e6), fmt_sig(g.bytes, 4, scale=1e6),
                    "" if intensity is None else fmt_sig(intensity, 3), fmt_sig(g.predicted_ms, 3), f"{share:.0f}",
                    g.bound])
    return out


def breakdown_renderables(items: Sequence[LayerBreakdown], width: int | None) -> list[RenderableType]:
    """Each breakdown's headline, table (within ``width``) and findings, one after the other."""
    parts: list[RenderableType] = []
    for k, b in enumerate(items):
        if k:
            parts.append(Text(""))
        parts.append(Text(headline(b), style="bold"))
        table, dropped = fit_table(COLUMNS, rows(b), width)
        parts.append(table)
        note = dropped_line(dropped, width, "-f json has all")
        if note:
            parts.append(Text(note, style="dim"))
        parts += [Text(line) for line in b.findings]
    return parts


def print_breakdowns(items: Sequence[LayerBreakdown], console: Console | None = None) -> None:
    if console is None:
        console = output_console(120)
    for part in breakdown_renderables(items, console.width):
        console.print(part)


def to_text(items: Sequence[LayerBreakdown], width: int = 80) -> str:
    console = Console(record=True, file=io.StringIO(), width=width, color_system=None)
    print_breakdowns(items, console)
    return console.export_text()


def to_markdown(items: Sequence[LayerBreakdown]) -> str:
    lines: list[str] = []
    for b in items:
        if lines:
            lines.append("")
        lines += [f"**{headline(b)}**", ""]
        lines += md_table([c.header for c in COLUMNS], rows(b), [c.number for c in COLUMNS])
        if b.findings:
            lines += ["", *(f"- {line}" for line in b.findings)]
    return "\n".join(lines) + "\n"


def to_json(items: Sequence[LayerBreakdown]) -> str:
    from archscope.util.jsonio import dumps_strict

    data = [b.to_dict() for b in items]
    return dumps_strict(data[0] if len(data) == 1 else data, indent=2) + "\n"


def render_breakdowns(items: Sequence[LayerBreakdown], fmt: str) -> str:
    if fmt == "json":
        return to_json(items)
    if fmt == "md":
        return to_markdown(items)
    return to_text(items, width=200)

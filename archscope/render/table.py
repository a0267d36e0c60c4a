"""The Rich table (terminal, plain text or HTML)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from archscope.render.cells import (
    attention_gflops_line,
    crosscheck_lines,
    finding_lines,
    layer_cells,
    summary_line,
    uncounted_line,
)

_RIGHT = {"#", "n", "params", "GFLOPs", "MB moved", "FLOP/B", "act MB", "attn GFLOPs", "pred ms"}
_SHRINKABLE = {"arguments": 30, "output": 22, "module": 28}  # everything else keeps its full width


def build_table(report, *, depth: int = 0) -> Table:
    header, rows = layer_cells(report, depth=depth)
    table = Table(box=None, header_style="bold", pad_edge=False, show_edge=False)
    for name in header:
        table.add_column(name, justify="right" if name in _RIGHT else "left", no_wrap=True,
                         overflow="ellipsis", max_width=_SHRINKABLE.get(name))
    for row in rows:
        style = "dim" if row[0] == "" else None
        table.add_row(*(Text(cell) for cell in row), style=style)  # Text: brackets in args are not markup
    return table


def print_report(report, *, depth: int = 0, console: Console | None = None) -> None:
    if console is None:
        console = Console()
        if not console.is_terminal:  # piped: no terminal width to respect, keep every column whole
            console = Console(width=220)
    console.print(build_table(report, depth=depth))
    console.print(Text(summary_line(report), style="bold"))
    gflops = attention_gflops_line(report)
    if gflops:
        console.print(Text(gflops))
    for line in crosscheck_lines(report):
        console.print(Text(line))
    uncounted = uncounted_line(report)
    if uncounted:
        console.print(Text(uncounted, style="yellow"))
    for line in finding_lines(report):
        console.print(Text(line, style="yellow"))


def export(report, *, depth: int = 0, html: bool = False, width: int | None = None) -> str:
    """Render to a string: plain text for files, or a standalone HTML page."""
    import io

    console = Console(record=True, file=io.StringIO(), width=width or 200,
                      color_system="standard" if html else None)
    print_report(report, depth=depth, console=console)
    return console.export_html() if html else console.export_text()

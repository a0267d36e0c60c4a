"""The Rich table (terminal, plain text or HTML)."""

from __future__ import annotations

from collections.abc import Sequence

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
from archscope.render.fit import Col, dropped_line, fit_table, output_console

# Profile columns: the name --columns knows each by, and which give way first at a narrow width (highest first).
PROFILE_COLUMNS = {
    "#": Col("#", "index", number=True, priority=0, aliases=("layer",)),
    "from": Col("from", "from", priority=3),
    "n": Col("n", "n", number=True, priority=4, aliases=("repeats",)),
    "params": Col("params", "params", number=True, priority=0, aliases=("parameters",)),
    "module": Col("module", "module", priority=0),
    "arguments": Col("arguments", "arguments", priority=6, fold=True, aliases=("args",)),
    "output": Col("output", "output", priority=4, fold=True, aliases=("shape",)),
    "GFLOPs": Col("GFLOPs", "gflops", number=True, priority=1, aliases=("flops",)),
    "MB moved": Col("MB moved", "bytes", number=True, priority=2, aliases=("mb", "mbmoved")),
    "FLOP/B": Col("FLOP/B", "intensity", number=True, priority=3, aliases=("ai", "flopb")),
    "act MB": Col("act MB", "act", number=True, priority=5, aliases=("actmb", "activations")),
    "attn GFLOPs": Col("attn GFLOPs", "attn", number=True, priority=4, aliases=("attngflops", "attention")),
    "pred ms": Col("pred ms", "pred", number=True, priority=1, aliases=("predms", "ms", "predicted")),
    "bound": Col("bound", "bound", priority=2),
}
COLUMNS_HINT = "--columns chooses"


def build_table(report, *, depth: int = 0, width: int | None = None,
                columns: Sequence[str] | None = None) -> tuple[Table, list[str]]:
    """The per-layer table within ``width`` characters (None: no limit) and the headers of the columns left out."""
    header, rows = layer_cells(report, depth=depth)
    cols = [PROFILE_COLUMNS.get(name, Col(name, name)) for name in header]
    styles = ["dim" if row[0] == "" else None for row in rows]
    return fit_table(cols, rows, width, wanted=columns, row_styles=styles)


def print_report(report, *, depth: int = 0, console: Console | None = None,
                 columns: Sequence[str] | None = None) -> None:
    if console is None:
        console = output_console(220)  # piped with no $COLUMNS: no terminal width to respect
    table, dropped = build_table(report, depth=depth, width=console.width, columns=columns)
    console.print(table)
    note = dropped_line(dropped, console.width, COLUMNS_HINT)
    if note:
        console.print(Text(note, style="dim"))
    console.print(Text(summary_line(report), style="bold"))
    gflops = attention_gflops_line(report)
    if gflops:
        console.print(Text(gflops))
    for line in crosscheck_lines(report):
        console.print(Text(line))
    from archscope.render.training import memory_lines

    for line in memory_lines(report):
        console.print(Text(line))
    uncounted = uncounted_line(report)
    if uncounted:
        console.print(Text(uncounted, style="yellow"))
    for line in finding_lines(report):
        console.print(Text(line, style="yellow"))


def export(report, *, depth: int = 0, html: bool = False, width: int | None = None,
           columns: Sequence[str] | None = None) -> str:
    """Render to a string: plain text for files, or a standalone HTML page."""
    import io

    console = Console(record=True, file=io.StringIO(), width=width or 200,
                      color_system="standard" if html else None)
    print_report(report, depth=depth, console=console, columns=columns)
    return console.export_html() if html else console.export_text()

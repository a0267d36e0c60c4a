"""``archscope check`` results: a compact verdict table, Markdown (for GITHUB_STEP_SUMMARY) or JSON."""

from __future__ import annotations

import io

from rich.console import Console
from rich.text import Text

from archscope.check.gate import FAIL, PASS, REFRESH
from archscope.render.fit import Col, dropped_line, fit_table, output_console
from archscope.render.markdown import md_table

_FIGURE = {  # figure -> (label, unit divisor, format)
    "params": ("params", 1, "{:,.0f}"),
    "gflops": ("GFLOPs/image", 1, "{:.4g}"),
    "bytes": ("MB moved", 1e6, "{:.4g}"),
    "peak_activation_bytes": ("peak act. MB", 1e6, "{:.4g}"),
    "predicted_ms": ("predicted ms", 1, "{:.4g}"),
    "peak_memory": ("peak memory MB", 1e6, "{:.4g}"),
    "train_memory": ("train memory MB", 1e6, "{:.4g}"),
}
_VERDICT = {PASS: ("pass", "green"), FAIL: ("FAIL", "bold red"), REFRESH: ("pass, refresh baseline", "yellow")}
_MD_VERDICT = {PASS: "✅ pass", FAIL: "❌ **FAIL**", REFRESH: "🔄 pass, refresh baseline"}
HEADER = ["model", "figure", "actual", "limit", "baseline", "verdict", "note"]


def _num(figure: str, value) -> str:
    if value is None:
        return ""
    _, scale, pattern = _FIGURE.get(figure, (figure, 1, "{:.4g}"))
    return pattern.format(value / scale)


def _cells(result, verdicts) -> list[str]:
    label = _FIGURE.get(result.figure, (result.figure,))[0]
    return [result.model, label, _num(result.figure, result.actual), _num(result.figure, result.limit),
            _num(result.figure, result.baseline), verdicts[result.status], result.note]


def summary(report) -> str:
    failed = sum(r.status == FAIL for r in report.results)
    stale = sum(r.status == REFRESH for r in report.results)
    models = len({r.model for r in report.results})
    gates = f"{len(report.results)} gate{'s' if len(report.results) != 1 else ''}"
    on = f"on {models} model{'s' if models != 1 else ''}"
    text = f"check passed: {gates} {on}" if report.passed else f"check FAILED: {failed} of {gates} {on}"
    if stale:
        text += (f"; {stale} figure{'s' if stale != 1 else ''} shrank past the tolerance: refresh the baseline "
                 f"(archscope snapshot)")
    return text


# The verdict table's columns; at a narrow width the note goes first, then the baseline, never a figure's digits.
COLUMNS = [Col("model", "model", priority=0, fold=True, least=16), Col("figure", "figure", priority=0),
           Col("actual", "actual", number=True, priority=0), Col("limit", "limit", number=True, priority=1),
           Col("baseline", "baseline", number=True, priority=2), Col("verdict", "verdict", priority=0, fold=True),
           Col("note", "note", priority=3, fold=True, least=20)]


def print_verdict(report, console: Console | None = None, columns=None) -> None:
    if console is None:
        console = output_console(160)  # a CI log without $COLUMNS: no terminal width to respect
    rows = []
    for result in report.results:
        cells = _cells(result, {k: v[0] for k, v in _VERDICT.items()})
        style = _VERDICT[result.status][1]
        rows.append([Text(c, style=style if i == 5 else "") for i, c in enumerate(cells)])
    table, dropped = fit_table(COLUMNS, rows, console.width, wanted=columns)
    if dropped and len(rows) > 1 and not columns:  # short of room: the model as a heading frees its column
        groups: dict[str, list] = {}
        for row in rows:
            groups.setdefault(row[0].plain, []).append(row[1:])
        cols = COLUMNS[1:]
        every = [row[1:] for row in rows]
        for model, group in groups.items():
            table, dropped = fit_table(cols, group, console.width, measure=every)
            console.print(Text(model, style="bold"))
            console.print(table)
    else:
        console.print(table)
    note = dropped_line(dropped, console.width, "--columns chooses")
    if note:
        console.print(Text(note, style="dim"))
    console.print(Text(summary(report), style="bold green" if report.passed else "bold red"))


def to_text(report, width: int = 160) -> str:
    console = Console(record=True, file=io.StringIO(), width=width, color_system=None)
    print_verdict(report, console)
    return console.export_text()


def to_markdown(report) -> str:
    rows = [_cells(result, _MD_VERDICT) for result in report.results]
    lines = [f"### archscope check: {'✅ passed' if report.passed else '❌ failed'}", "",
             *md_table(HEADER, rows, [False, False, True, True, True, False, False])]
    lines += ["", summary(report), ""]
    return "\n".join(lines)


def to_json(report) -> str:
    from archscope.util.jsonio import dumps_strict  # no NaN/Infinity: such a figure is written as null

    return dumps_strict(report.to_dict(), indent=2) + "\n"

"""A Comparison as a Rich table, Markdown (for a pull-request comment), CSV (long format) or JSON."""

from __future__ import annotations

import csv
import io
from collections import Counter

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from archscope.render.cells import fmt_shape
from archscope.render.fit import Col, dropped_line, fit_table, output_console
from archscope.render.markdown import md_table
from archscope.util.units import fmt_sig

_SCALE = {"flops": 1e9, "bytes": 1e6}
LAYER_FIGURES = ("params", "flops", "attention_flops", "bytes_unfused", "predicted_ms", "measured_ms")


def fmt_value(value, kind: str) -> str:
    """A figure in its display unit (GFLOPs, MB, ms), four significant digits, no exponent."""
    if value is None:
        return ""
    if kind == "count":
        return f"{int(value):,}"
    return fmt_sig(value, 4, scale=_SCALE.get(kind, 1.0))


def fmt_delta(delta, kind: str) -> str:
    if delta is None:
        return ""
    if kind == "count":
        return f"{int(delta):+,}"
    x = delta / _SCALE.get(kind, 1.0)
    return f"{x:+,.0f}" if abs(x) >= 1e4 else f"{x:+.4g}"


def fmt_ratio(ratio) -> str:
    return "" if ratio is None else f"{ratio:.3f}x"


def tone(ratio, cost: bool) -> str | None:
    """Colour of a change: a cost that grew is red, one that shrank green; informational figures stay plain."""
    if ratio is None or not cost or abs(ratio - 1) < 5e-4:
        return None
    return "red" if ratio > 1 else "green"


def modules_text(cell) -> str:
    """``C2f`` for one layer; ``Conv x2, C2f, Concat`` for a stage; ``(attn)`` after a module holding attention."""
    names = [m + (" (attn)" if attn else "") for m, attn in zip(cell.modules, cell.attention or [False] * 99)]
    counts = Counter(names)
    return ", ".join(m if counts[m] == 1 else f"{m} x{counts[m]}" for m in dict.fromkeys(names))


def headline(comparison) -> str:
    c = comparison
    unit = "relative units" if c.predicted_unit == "relative" else "ms"
    how = {"per-op": "per-op roofline", "per-layer": "per-layer roofline estimate", "none": "no roofline"}
    align = ("layers aligned by index (same topology)" if c.alignment == "index"
             else "layers aligned by stage (stride = input / output size; topologies differ)")
    return (f"{len(c.labels)} models against {c.labels[0]}; predicted {unit} on {c.device.name} "
            f"({how[c.predicted]}); {align}")


def _predicted_label(comparison, row) -> str:
    if row.key != "predicted_ms":
        return row.label
    unit = "relative" if comparison.predicted_unit == "relative" else "ms"
    return f"predicted {unit} ({comparison.device.name})"


def _shown_rows(comparison):
    return [row for row in comparison.layers if row.changed]


def _layer_figures(comparison) -> list[str]:
    """Layer columns worth showing: no attention column when no model has attention, no measured without bench."""
    cells = [c for row in comparison.layers for c in row.cells if c]
    keep = []
    for name in LAYER_FIGURES:
        if name == "attention_flops" and not any(c.attention_flops for c in cells):
            continue
        if name in ("predicted_ms", "measured_ms", "flops", "bytes_unfused") and all(
                getattr(c, name) is None for c in cells):
            continue
        keep.append(name)
    return keep


_LAYER_HEAD = {"params": ("params", "count"), "flops": ("GFLOPs", "flops"),
               "attention_flops": ("attn GFLOPs", "flops"), "bytes_unfused": ("MB moved", "bytes"),
               "predicted_ms": ("pred ms", "ms"), "measured_ms": ("meas ms", "ms")}
_DELTA_FIGURES = ("params", "flops", "predicted_ms", "measured_ms")


def layer_rows(comparison):
    """(header, rows of (cells, tones)) for the aligned layers that differ; one line per model per aligned row."""
    figures = _layer_figures(comparison)
    index = comparison.alignment == "index"
    header = ["#" if index else "stage", "model", "module" if index else "modules"]
    header += ["output"] if index else []
    header += [_LAYER_HEAD[f][0] for f in figures]
    deltas = [f for f in figures if f in _DELTA_FIGURES]
    header += [f"Δ {_LAYER_HEAD[f][0]}" for f in deltas]
    rows = []
    for row in _shown_rows(comparison):
        first = row.cells[0]
        for k, (label, cell) in enumerate(zip(comparison.labels, row.cells)):
            cells = [row.key if k == 0 else "", label]
            tones: list[str | None] = [None, None]
            if cell is None:
                cells += ["(none)"] + [""] * (len(header) - 3)
                rows.append((cells, tones + [None] * (len(header) - 2)))
                continue
            cells.append(modules_text(cell))
            tones.append("bold" if k and first and cell.modules != first.modules else None)
            if index:
                cells.append(fmt_shape(cell.output))
                tones.append(None)
            for f in figures:
                cells.append(fmt_value(getattr(cell, f), _LAYER_HEAD[f][1]))
                tones.append(None)
            for f in deltas:
                now, then = getattr(cell, f), getattr(first, f) if first else None
                if k == 0 or now is None or then is None:
                    cells.append("")
                    tones.append(None)
                    continue
                cells.append(fmt_delta(now - then, _LAYER_HEAD[f][1]))
                tones.append(tone(now / then if then else (2.0 if now > then else 1.0), True))
            rows.append((cells, tones))
    return header, rows


def totals_rows(comparison):
    """(header, rows of (cells, tones)): one row per figure; per model its value, then Δ and x against the first."""
    header = ["figure", comparison.labels[0]]
    for label in comparison.labels[1:]:
        header += [label, "Δ", "x"]
    rows = []
    for row in comparison.totals:
        cells = [_predicted_label(comparison, row), fmt_value(row.values[0], row.kind)]
        tones: list[str | None] = [None, None]
        for value, delta, ratio in zip(row.values[1:], row.deltas[1:], row.ratios[1:]):
            colour = tone(ratio if ratio is not None or not delta else (2.0 if delta > 0 else 0.5), row.cost)
            cells += [fmt_value(value, row.kind), fmt_delta(delta, row.kind), fmt_ratio(ratio)]
            tones += [None, colour, colour]
        rows.append((cells, tones))
    return header, rows


def footer_lines(comparison) -> list[str]:
    lines = []
    same = len(comparison.layers) - len(_shown_rows(comparison))
    if same:
        what = "layer" if comparison.alignment == "index" else "stage"
        lines.append(f"{same} {what}{'s' if same > 1 else ''} identical in every model, not shown")
    return lines + list(comparison.notes)


# --- Rich ------------------------------------------------------------------------------------------------------


def _priority(name: str, i: int, right_from: int) -> int:
    """At a narrow width: ratios go first, then the output shapes, then deltas; the figures themselves last."""
    if name == "x":
        return 3
    if name == "output":
        return 4
    if name.startswith("Δ"):
        return 2
    return 0 if i < right_from else 1


def _rich_table(header, rows, right_from: int, width: int | None = None) -> tuple[Table, list[str]]:
    cols = [Col(name, name, number=i >= right_from, priority=_priority(name, i, right_from),
                fold=name in ("modules", "module", "figure")) for i, name in enumerate(header)]
    if len(set(header)) != len(header):  # several models: the Δ and x columns repeat; name them apart
        cols = [Col(c.header, f"{c.key}{i}", c.number, c.priority, c.fold) for i, c in enumerate(cols)]
    cells = [[Text(c, style=t or "") for c, t in zip(cells, tones)] for cells, tones in rows]
    return fit_table(cols, cells, width)


def renderable(comparison, width: int | None = None) -> Group:
    t_header, t_rows = totals_rows(comparison)
    l_header, l_rows = layer_rows(comparison)
    first_number = 4 if comparison.alignment == "index" else 3
    totals, dropped = _rich_table(t_header, t_rows, 1, width)
    parts: list[RenderableType] = [Text(headline(comparison), style="bold"), totals]
    notes = [dropped_line(sorted(set(dropped), key=dropped.index), width, "-f csv has all")]
    parts.append(Text(""))
    if l_rows:
        layers, dropped = _rich_table(l_header, l_rows, first_number, width)
        parts += [Text("Layers that differ" if comparison.alignment == "index" else "Stages that differ",
                       style="bold"), layers]
        notes.append(dropped_line(sorted(set(dropped), key=dropped.index), width, "-f csv has all"))
    parts += [Text(line, style="dim") for line in footer_lines(comparison)]
    parts += [Text(line, style="dim") for line in dict.fromkeys(n for n in notes if n)]
    if comparison.breakdowns:
        from archscope.render.breakdown import breakdown_renderables

        parts += [Text(""), Text("The attention layers that differ, op by op", style="bold"),
                  *breakdown_renderables(comparison.breakdowns, width)]
    return Group(*parts)


def print_comparison(comparison, console: Console | None = None) -> None:
    if console is None:
        console = output_console(220)
    console.print(renderable(comparison, console.width))


def to_text(comparison, *, html: bool = False, width: int = 200) -> str:
    console = Console(record=True, file=io.StringIO(), width=width, color_system="standard" if html else None)
    print_comparison(comparison, console)
    return console.export_html() if html else console.export_text()


# --- Markdown, CSV, JSON -----------------------------------------------------------------------------------------

_MARK = {"red": " 🔴", "green": " 🟢"}


def _md_table(header, rows, right_from: int) -> list[str]:
    shown = [[c + (_MARK.get(t, "") if c and i >= right_from else "") for i, (c, t) in enumerate(zip(cells, tones))]
             for cells, tones in rows]
    return md_table(header, shown, [i >= right_from for i in range(len(header))])


def to_markdown(comparison) -> str:
    t_header, t_rows = totals_rows(comparison)
    l_header, l_rows = layer_rows(comparison)
    lines = [f"**{headline(comparison)}**", "", *_md_table(t_header, t_rows, 1)]
    if l_rows:
        title = "Layers that differ" if comparison.alignment == "index" else "Stages that differ"
        lines += ["", f"**{title}**", "", *_md_table(l_header, l_rows, 4 if comparison.alignment == "index" else 3)]
    lines += ["", *(f"- {line}" for line in footer_lines(comparison))] if footer_lines(comparison) else []
    if comparison.breakdowns:
        from archscope.render.breakdown import to_markdown as breakdown_markdown

        lines += ["", "**The attention layers that differ, op by op**", "", breakdown_markdown(comparison.breakdowns)]
    return "\n".join(lines) + "\n"


COMPARE_CSV = ["section", "key", "model", "figure", "value", "delta", "ratio", "text"]


def to_csv(comparison) -> str:
    """Long format, one figure per line: section, key, model, figure, value, delta and ratio against the first.

    ``value``, ``delta`` and ``ratio`` are numbers (or empty); a figure that is text (a layer's modules, its output
    shape) has them empty and its text in ``text``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COMPARE_CSV)
    for row in comparison.totals:
        for label, v, d, r in zip(comparison.labels, row.values, row.deltas, row.ratios):
            writer.writerow(["totals", "", label, row.key, _plain(v), _plain(d), _plain(r), ""])
    section = "layer" if comparison.alignment == "index" else "stage"
    for row in comparison.layers:
        first = row.cells[0]
        for k, (label, cell) in enumerate(zip(comparison.labels, row.cells)):
            if cell is None:
                continue
            writer.writerow([section, row.key, label, "modules", "", "", "", " ".join(cell.modules)])
            if cell.output is not None:
                writer.writerow([section, row.key, label, "output", "", "", "", fmt_shape(cell.output)])
            for f in LAYER_FIGURES:
                v = getattr(cell, f)
                base = getattr(first, f) if first and k else None
                d = None if v is None or base is None else v - base
                r = None if v is None or not base else v / base
                writer.writerow([section, row.key, label, f, _plain(v), _plain(d), _plain(r), ""])
    return buffer.getvalue()


def _plain(value) -> str:
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)


def to_json(comparison) -> str:
    from archscope.util.jsonio import dumps_strict  # no NaN/Infinity: such a figure is written as null

    return dumps_strict(comparison.to_dict(), indent=2) + "\n"


def render_comparison(comparison, fmt: str) -> str:
    if fmt == "json":
        return to_json(comparison)
    if fmt == "csv":
        return to_csv(comparison)
    if fmt == "md":
        return to_markdown(comparison)
    if fmt == "html":
        from archscope.render.html import comparison_page

        return comparison_page(comparison, headline=headline(comparison), totals=totals_rows(comparison),
                               layers=layer_rows(comparison), notes=footer_lines(comparison))
    return to_text(comparison, html=fmt == "html")

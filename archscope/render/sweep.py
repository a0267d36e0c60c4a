"""SweepReport -> a Rich table (terminal or text), Markdown, CSV or JSON. Reads the report only.

The table has one row per point (model, image size, batch), grouped by batch and size so that the models at one
size stand together; ``x first`` is the point's predicted time over the first model's at the same size and batch.
Under it, the crossovers in words and how the sweep ran.
"""

from __future__ import annotations

import csv
import io
import textwrap

from rich.console import Console, Group
from rich.text import Text

from archscope.errors import ArchscopeError
from archscope.render.fit import Col, dropped_line, fit_table, output_console
from archscope.render.markdown import md_table
from archscope.reports.sweep import SweepReport
from archscope.util.units import fmt_sig

CSV_COLUMNS = ["model", "path", "scale", "imgsz_h", "imgsz_w", "batch", "params", "flops", "attention_flops",
               "bytes_unfused", "bytes_fused", "attention_bytes", "attention_bytes_fused", "peak_activation_bytes",
               "predicted_ms", "vs_first", "measured_ms", "measured_runs", "not_measured", "mac_flops",
               "layer_module", "layer_flops", "layer_bytes_unfused", "layer_attention_bytes",
               "layer_attention_bytes_fused", "layer_predicted_ms", "layer_measured_ms"]


def _cols(report: SweepReport) -> list[Col]:
    cols = [Col("model", "model", priority=0, fold=True, least=10), Col("imgsz", "imgsz", number=True, priority=0),
            Col("batch", "batch", number=True, priority=1), Col("GFLOPs", "gflops", number=True, priority=2),
            Col("MB moved", "mb", number=True, priority=2), Col("attn MB", "attn_mb", number=True, priority=4),
            Col("pred ms" if report.predicted_unit == "ms" else "pred (rel)", "pred", number=True, priority=0),
            Col("x first", "x_first", number=True, priority=1)]
    if report.bench is not None:
        cols += [Col("meas ms", "meas", number=True, priority=0), Col("meas x", "meas_x", number=True, priority=1)]
    if report.layer is not None:
        n = report.layer
        cols += [Col(f"L{n} pred ms", "layer_pred", number=True, priority=0),
                 Col(f"L{n} x first", "layer_x_first", number=True, priority=1)]
        if report.bench is not None:
            cols += [Col(f"L{n} meas ms", "layer_meas", number=True, priority=0),
                     Col(f"L{n} meas x", "layer_meas_x", number=True, priority=1)]
    return cols


def _ordered(report: SweepReport):
    order = {m.label: k for k, m in enumerate(report.models)}
    return sorted(report.points, key=lambda p: (report.batches.index(p.batch), p.size, order[p.model]))


def vs_first(report: SweepReport, point, key: str = "predicted_ms") -> float | None:
    """``point``'s time over the first model's at the same size and batch (None where either is missing)."""
    ref = report.point(report.models[0].label, point.size, point.batch)
    mine, theirs = getattr(point, key), getattr(ref, key) if ref is not None else None
    return mine / theirs if mine is not None and theirs else None


def _x(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}"


def rows(report: SweepReport) -> list[list[str]]:
    out = []
    for p in _ordered(report):
        row = [p.model, str(p.size) if p.imgsz[0] == p.imgsz[1] else f"{p.imgsz[0]}x{p.imgsz[1]}", str(p.batch),
               f"{p.flops / 1e9:.2f}", f"{p.bytes_unfused / 1e6:.1f}",
               f"{p.attention_bytes / 1e6:.1f}" if p.attention_flops else "",
               fmt_sig(p.predicted_ms, 3), _x(vs_first(report, p))]
        if report.bench is not None:
            row += [fmt_sig(p.measured_ms, 3) if p.measured_ms is not None else "n/a",
                    _x(vs_first(report, p, "measured_ms"))]
        if report.layer is not None:
            row += [fmt_sig(p.layer_predicted_ms, 3), _x(vs_first(report, p, "layer_predicted_ms"))]
            if report.bench is not None:
                row += [fmt_sig(p.layer_measured_ms, 3) if p.layer_measured_ms is not None else "n/a",
                        _x(vs_first(report, p, "layer_measured_ms"))]
        out.append(row)
    return out


def headline(report: SweepReport) -> str:
    models = ", ".join(m.label for m in report.models)
    unit = " (relative units)" if report.predicted_unit == "relative" else ""
    layer = f"; crossovers of layer {report.layer}'s time" if report.layer is not None else ""
    return (f"sweep of {models}: {len(report.imgsz)} sizes {report.imgsz[0]}-{report.imgsz[-1]} px, batch "
            f"{', '.join(map(str, report.batches))}, {report.dtype}, predicted on {report.device_spec}{unit} "
            f"(attention {report.attention}){layer}")


def footer_lines(report: SweepReport) -> list[str]:
    lines = [f"crossover: {f}" for f in report.findings]
    lines += report.notes
    if report.bench is not None:
        b = report.bench
        threads = f", {b['threads']} thread(s)" if b.get("threads") else ""
        runs = f"{b['runs']} runs" if b.get("runs") else f"{b.get('min_time')} s"
        lines.append(f"meas ms: median of {runs} per point after {b['warmup']} warm-up on {b['device']}{threads}; "
                     f"n/a: not timed (see the JSON's not_measured)")
    return lines


def renderable(report: SweepReport, width: int | None):
    table, dropped = fit_table(_cols(report), rows(report), width)
    parts: list = [Text(headline(report)), table]
    missing = dropped_line(dropped, width, "widen the terminal or set COLUMNS")
    if missing:
        parts.append(Text(missing))
    for line in footer_lines(report):
        wrapped = textwrap.fill(line, width=width, subsequent_indent="  ") if width else line
        parts.append(Text(wrapped))
    return Group(*parts)


def print_sweep(report: SweepReport, console: Console | None = None) -> None:
    if console is None:
        console = output_console(160)
    console.print(renderable(report, console.width))


def to_text(report: SweepReport, *, width: int = 80) -> str:
    console = Console(record=True, file=io.StringIO(), width=width, color_system=None)
    print_sweep(report, console)
    return console.export_text()


def to_markdown(report: SweepReport) -> str:
    cols = _cols(report)
    lines = [f"**{headline(report)}**", "", *md_table([c.header for c in cols], rows(report),
                                                     [c.number for c in cols])]
    lines += ["", *(f"- {line}" for line in footer_lines(report))]
    return "\n".join(lines) + "\n"


def to_csv(report: SweepReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    models = {m.label: m for m in report.models}
    for p in _ordered(report):
        m = models[p.model]
        values = {**{k: getattr(p, k) for k in CSV_COLUMNS if hasattr(p, k)}, "model": p.model, "path": m.path,
                  "scale": m.scale, "imgsz_h": p.imgsz[0], "imgsz_w": p.imgsz[1], "vs_first": vs_first(report, p)}
        writer.writerow(["" if values.get(k) is None else values[k] for k in CSV_COLUMNS])
    return buffer.getvalue()


def render_sweep(report: SweepReport, fmt: str, *, width: int = 80) -> str:
    if fmt == "json":
        from archscope.render.data import to_json

        return to_json(report)
    if fmt == "csv":
        return to_csv(report)
    if fmt == "md":
        return to_markdown(report)
    if fmt == "table":
        return to_text(report, width=width)
    raise ArchscopeError(f"sweep writes table, json, csv or md, not {fmt!r}")

"""BenchReport -> a Rich table (terminal, text, HTML), Markdown, CSV or JSON. Reads the report only."""

from __future__ import annotations

import csv
import io

from rich.console import Console
from rich.table import Table
from rich.text import Text

from archscope.errors import ArchscopeError
from archscope.render.cells import fmt_from
from archscope.render.fit import Col, dropped_line, fit_table, output_console, select
from archscope.render.markdown import md_table
from archscope.util.units import fmt_sig

STATS_HEADER = ["batch", "runs", "median ms", "mean ms", "p10 ms", "p90 ms", "std ms", "img/s", "GFLOP/s", "GB/s",
                "pred ms"]
LAYER_HEADER = ["#", "from", "module", "ms", "share", "pred ms", "x pred", "GFLOP/s", "GB/s", "bound"]
_LEFT = {"from", "module", "bound"}

STATS_CSV = ["batch", "runs", "outliers", "median_ms", "mean_ms", "p10_ms", "p90_ms", "std_ms", "min_ms", "max_ms",
             "images_per_s", "achieved_flops_per_s", "achieved_bytes_per_s", "predicted_ms", "flops", "bytes",
             # added later, at the end
             "peak_measured_bytes", "peak_estimate_bytes", "peak_method"]
LAYER_CSV = ["batch", "index", "from", "module", "median_ms", "mean_ms", "share", "predicted_ms", "vs_predicted",
             "achieved_flops_per_s", "achieved_bytes_per_s", "flops", "bytes", "bound",
             # the batch's whole-model figures on every row (added at the end: the columns above keep their places)
             "model_median_ms", "model_mean_ms", "layers_sum_ms", "layer_overhead", "layer_runs",
             # how far the prediction is from the measurement, per batch (PredictionError)
             "pred_median_factor", "pred_rank_correlation", "pred_whole_model_ratio"]


def _ms(value: float | None) -> str:
    return fmt_sig(value, 3, whole_from=100, thousands=False)


def _rate(value: float | None, scale: float = 1e9) -> str:
    return fmt_sig(value, 3, scale=scale)


def stats_rows(report) -> list[list[str]]:
    rows = []
    for s in report.batches:
        runs = f"{s.runs}" + (f" ({s.outliers} out)" if s.outliers else "")
        rows.append([str(s.batch), runs, _ms(s.median_ms), _ms(s.mean_ms), _ms(s.p10_ms), _ms(s.p90_ms),
                     _ms(s.std_ms), fmt_sig(s.images_per_s, 3),
                     _rate(s.achieved_flops_per_s), _rate(s.achieved_bytes_per_s), _ms(s.predicted_ms)])
    return rows


def layer_rows(stats) -> list[list[str]]:
    return [[str(r.index), fmt_from(r.from_), r.module, _ms(r.median_ms), f"{100 * r.share:.1f}%",
             _ms(r.predicted_ms), "" if r.vs_predicted is None else f"{r.vs_predicted:.3g}",
             _rate(r.achieved_flops_per_s), _rate(r.achieved_bytes_per_s), r.bound or ""]
            for r in stats.layers or []]


def headline(report) -> str:
    m, e = report.model, report.environment
    scale = f"scale {m.scale}" if m.scale else "no scales"
    threads = f", {e.threads} thread{'s' if e.threads != 1 else ''}" if e.device == "cpu" else ""
    name = e.device_name if e.device == "cpu" else f"{e.device_name}, {e.device}"
    return (f"{m.name} ({scale}), {m.params:,} parameters, imgsz {m.imgsz[0]}x{m.imgsz[1]} (HxW), "
            f"{e.dtype} on {e.device} ({name}{threads}), torch {e.torch}")


def settings_line(report) -> str:
    st = report.settings
    how = f"at least {st.runs} timed runs" + (f" and {st.min_time:g} s" if st.min_time else "")
    flags = [name for name, on in (("channels-last", st.channels_last), ("fused (deployed)", st.fuse),
                                   ("torch.compile", st.compile)) if on]
    load = report.environment.load_average
    parts = [f"warm-up {st.warmup}", how + " per batch", f"seed {st.seed}", ", ".join(flags) or "eager, unfused",
             "statistics over runs within Q1-3IQR..Q3+3IQR"]
    if load:
        parts.append(f"load average {load[0]:g}")
    return "; ".join(parts)


def roofline_line(report) -> str | None:
    st = report.settings
    if not st.device_spec:
        return None
    return (f"pred ms: roofline time on device spec '{st.device_spec}' ({st.device_spec_origin}); "
            f"x pred = measured / predicted")


def peak_line(stats, *, batches: int = 1) -> str | None:
    """``peak memory: measured 24.6 MB, estimated 24.1 MB (-2.0%)`` (activations: the weights are not in it)."""
    if stats.peak_measured_bytes is None:
        return None
    where = f", batch {stats.batch}" if batches > 1 else ""
    text = f"peak memory{where}: measured {stats.peak_measured_bytes / 1e6:.1f} MB"
    if stats.peak_estimate_bytes is not None:
        text += f", estimated {stats.peak_estimate_bytes / 1e6:.1f} MB"
        error = stats.peak_error
        if error is not None:
            text += f" ({'+' if error >= 0 else ''}{100 * error:.1f}%)"
    return f"{text}; activations and input, by {stats.peak_method}"


def peak_lines(report) -> list[str]:
    n = len(report.batches)
    return [line for line in (peak_line(s, batches=n) for s in report.batches) if line]


def overhead_line(stats) -> str:
    over = stats.layer_overhead
    sign = "+" if over >= 0 else ""
    return (f"batch {stats.batch}: sum of layers {_ms(stats.layers_sum_ms)} ms (median per layer over "
            f"{stats.layer_runs} forwards, synchronised around each layer) vs whole model {_ms(stats.median_ms)} ms: "
            f"per-layer overhead {sign}{100 * over:.1f}%")


def prediction_line(stats) -> str | None:
    """How far pred ms is from the measurement in this batch, or None without a prediction."""
    error = stats.prediction_error
    if error is None:
        return None
    parts = []
    if error.median_factor is not None:
        parts.append(f"median error x{error.median_factor:.2f}")
    if error.rank_correlation is not None:
        parts.append(f"rank correlation {error.rank_correlation:.2f}")
    text = f"batch {stats.batch}: prediction vs measurement over {error.layers} layers: " + ", ".join(parts)
    if error.whole_model_ratio is not None:
        text += f"; whole model predicted / measured {error.whole_model_ratio:.2f}"
    return text


# Which columns give way first at a narrow width (highest first); a figure is never cut.
_PRIORITY = {"batch": 0, "runs": 2, "median ms": 0, "mean ms": 1, "p10 ms": 3, "p90 ms": 3, "std ms": 1, "img/s": 0,
             "GFLOP/s": 2, "GB/s": 3, "pred ms": 1, "#": 0, "from": 3, "module": 0, "ms": 0, "share": 1, "x pred": 2,
             "bound": 2}


def _cols(header: list[str]) -> list[Col]:
    return [Col(name, name, number=name not in _LEFT, priority=_PRIORITY.get(name, 4), fold=name == "from",
                aliases=(name.removesuffix(" ms"),) if name.endswith(" ms") else ()) for name in header]


def _table(header: list[str], rows: list[list[str]], width: int | None = None) -> tuple[Table, list[str]]:
    return fit_table(_cols(header), rows, width)


def _known(header: list[str], wanted: list[str] | None) -> list[str] | None:
    """The names of ``wanted`` this table has (the stats and per-layer tables share --columns)."""
    if not wanted:
        return None
    cols = _cols(header)
    mine = []
    for name in wanted:
        try:
            select(cols, [name])
        except ArchscopeError:
            continue
        mine.append(name)
    return mine or None


def _print_table(console: Console, header: list[str], rows: list[list[str]],
                 wanted: list[str] | None = None) -> None:
    table, dropped = fit_table(_cols(header), rows, console.width, wanted=_known(header, wanted))
    console.print(table)
    note = dropped_line(dropped, console.width, "--columns chooses")
    if note:
        console.print(Text(note, style="dim"))


def check_columns(columns: list[str] | None) -> None:
    """A --columns name neither bench table has is a mistake: said before any timing."""
    for name in columns or ():
        if not _known(STATS_HEADER, [name]) and not _known(LAYER_HEADER, [name]):
            known = ", ".join(dict.fromkeys(STATS_HEADER + LAYER_HEADER))
            raise ArchscopeError(f"unknown column {name!r} for bench; choose from: {known}")


def print_bench(report, *, console: Console | None = None, columns: list[str] | None = None) -> None:
    if console is None:
        console = output_console(200)
    check_columns(columns)
    console.print(Text(headline(report), style="bold"))
    console.print(Text(settings_line(report), style="dim"))
    roofline = roofline_line(report)
    if roofline:
        console.print(Text(roofline, style="dim"))
    _print_table(console, STATS_HEADER, stats_rows(report), columns)
    for line in peak_lines(report):
        console.print(Text(line))
    for stats in report.batches:
        if stats.layers is None:
            continue
        console.print()
        console.print(Text(f"per layer, batch {stats.batch}", style="bold"))
        _print_table(console, LAYER_HEADER, layer_rows(stats), columns)
        console.print(Text(overhead_line(stats)))
        accuracy = prediction_line(stats)
        if accuracy:
            console.print(Text(accuracy))
    for note in report.notes:
        console.print(Text(f"note: {note}", style="dim"))


def export(report, *, html: bool = False, width: int | None = None) -> str:
    console = Console(record=True, file=io.StringIO(), width=width or 200,
                      color_system="standard" if html else None)
    print_bench(report, console=console)
    return console.export_html() if html else console.export_text()


def to_markdown(report) -> str:
    def md(header, rows):
        return md_table(header, rows, [h not in _LEFT for h in header])

    lines = [f"**{headline(report)}**", "", settings_line(report), ""]
    roofline = roofline_line(report)
    if roofline:
        lines += [roofline, ""]
    lines += md(STATS_HEADER, stats_rows(report))
    peaks = peak_lines(report)
    lines += ["", *peaks] if peaks else []
    for stats in report.batches:
        if stats.layers is not None:
            accuracy = prediction_line(stats)
            lines += ["", f"**per layer, batch {stats.batch}**", "", *md(LAYER_HEADER, layer_rows(stats)), "",
                      overhead_line(stats), *(["", accuracy] if accuracy else [])]
    lines += ["", *(f"- note: {note}" for note in report.notes)] if report.notes else []
    return "\n".join(lines) + "\n"


def to_csv(report) -> str:
    """One row per layer and batch with --per-layer (each row also carries its batch's whole-model median and mean,
    the sum of the layer medians and the overhead), else one row per batch."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    per_layer = any(s.layers is not None for s in report.batches)
    writer.writerow(LAYER_CSV if per_layer else STATS_CSV)
    for stats in report.batches:
        if not per_layer:
            row = stats.to_dict()
            writer.writerow(["" if row.get(c) is None else row[c] for c in STATS_CSV])
            continue
        error = stats.prediction_error
        whole = {"model_median_ms": stats.median_ms, "model_mean_ms": stats.mean_ms,
                 "layers_sum_ms": stats.layers_sum_ms, "layer_overhead": stats.layer_overhead,
                 "layer_runs": stats.layer_runs,
                 "pred_median_factor": error.median_factor if error else None,
                 "pred_rank_correlation": error.rank_correlation if error else None,
                 "pred_whole_model_ratio": error.whole_model_ratio if error else None}
        for layer in stats.layers or []:
            row = {**layer.to_dict(), **whole, "batch": stats.batch, "from": fmt_from(layer.from_)}
            writer.writerow(["" if row.get(c) is None else row[c] for c in LAYER_CSV])
    return buffer.getvalue()


def render_bench(report, fmt: str, *, width: int | None = None) -> str:
    if fmt == "json":
        from archscope.render.data import to_json

        return to_json(report)
    if fmt == "csv":
        return to_csv(report)
    if fmt == "md":
        return to_markdown(report)
    if fmt == "html":
        from archscope.render.html import bench_page

        meta = [settings_line(report)] + [line for line in (roofline_line(report),) if line] + peak_lines(report)
        per_layer = [(s.batch, LAYER_HEADER, layer_rows(s),
                      overhead_line(s) + (f". {acc}" if (acc := prediction_line(s)) else ""))
                     for s in report.batches if s.layers is not None]
        return bench_page(report, headline=headline(report), meta=meta, stats=(STATS_HEADER, stats_rows(report)),
                          layers=per_layer, left=_LEFT)
    return export(report, html=(fmt == "html"), width=width)

"""The sweep picture: predicted (and, with ``--bench``, measured) time and bytes moved against image size, one
colour per model, one column of panels per batch size; the predicted-time crossovers marked and numbered on the
time panel and spelled out under the figure. matplotlib is an optional extra, imported only when a plot is drawn.
"""

from __future__ import annotations

import textwrap

from archscope.render.plot import _log_ticks, _matplotlib, _plain_number, figure_bytes, plot_format
from archscope.reports.sweep import SweepReport

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")


def _interpolated(series: list[tuple[int, float]], at: float) -> float | None:
    for (x0, y0), (x1, y1) in zip(series, series[1:]):
        if x0 <= at <= x1:
            return y0 + (y1 - y0) * (at - x0) / (x1 - x0) if x1 != x0 else y0
    return None


def _bytes_series(report: SweepReport, model: str, batch: int) -> list[tuple[int, float]]:
    """MB moved by the whole model, or by the sweep's layer."""
    out = [(p.size, p.bytes_unfused if report.layer is None else p.layer_bytes_unfused)
           for p in report.points if p.model == model and p.batch == batch]
    return sorted((s, b / 1e6) for s, b in out if b is not None)


def sweep_figure(report: SweepReport):
    """A matplotlib Figure (no pyplot, so no GUI backend): time (top) and MB moved (bottom) against image size,
    log y axes; one column per batch size."""
    Figure, Line2D, EngFormatter = _matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.ticker import MaxNLocator

    batches = report.batches
    measured = any(p.measured_ms is not None for p in report.points)
    crossings = [c for c in report.crossovers if c.at_px is not None and c.basis == "predicted"]
    width = 6.0 * len(batches) + 1.5
    caption_lines = len(crossings) + 1
    fig = Figure(figsize=(width, 9.5 + 0.15 * caption_lines), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(3, len(batches), sharex=True, squeeze=False, height_ratios=(3, 2, 3))
    reference = report.models[0].label
    unit = "relative units" if report.predicted_unit == "relative" else "ms"
    sizes = report.imgsz
    number = 0
    captions: list[str] = []
    for col, batch in enumerate(batches):
        top, middle, bottom = axes[0][col], axes[1][col], axes[2][col]
        base = dict(report.series(reference, batch))
        middle.axhline(1.0, color="0.3", linewidth=0.8, linestyle=":")
        for k, model in enumerate(m.label for m in report.models):
            colour, marker = f"C{k % 10}", _MARKERS[k % len(_MARKERS)]
            wide = 3.2 if k == 0 else 1.6  # the reference under the others: a model that coincides with it shows
            predicted = report.series(model, batch)
            if predicted:
                top.plot(*zip(*predicted), color=colour, marker=marker, markersize=4, linewidth=wide,
                         label=f"{model} (predicted)" if measured else model)
            timed = report.series(model, batch, "measured")
            if timed:
                top.plot(*zip(*timed), color=colour, marker=marker, markersize=5, markerfacecolor="none",
                         linestyle="--", linewidth=1.2, label=f"{model} (measured)")
            if k and predicted:
                ratio = [(x, y / base[x]) for x, y in predicted if base.get(x)]
                middle.plot(*zip(*ratio), color=colour, marker=marker, markersize=4, linewidth=1.6)
            base_timed = dict(report.series(reference, batch, "measured"))
            ratio_timed = [(x, y / base_timed[x]) for x, y in timed if base_timed.get(x)]
            if k and ratio_timed:
                middle.plot(*zip(*ratio_timed), color=colour, marker=marker, markersize=5, markerfacecolor="none",
                            linestyle="--", linewidth=1.2)
            moved = _bytes_series(report, model, batch)
            bottom.plot(*zip(*moved), color=colour, marker=marker, markersize=4, linewidth=wide)
        for c in (c for c in crossings if c.batch == batch):
            y = _interpolated(report.series(c.first, batch), c.at_px or 0)
            if y is None:
                continue
            number += 1
            top.plot([c.at_px], [y], marker="X", markersize=9, color="black", linestyle="", zorder=5)
            top.annotate(str(number), (c.at_px, y), textcoords="offset points", xytext=(0, 8), ha="center",
                         fontsize=8, fontweight="bold")
            if c.first == reference:  # the same flip where its line crosses 1 on the ratio panel
                middle.plot([c.at_px], [1.0], marker="X", markersize=9, color="black", linestyle="", zorder=5)
                middle.annotate(str(number), (c.at_px, 1.0), textcoords="offset points", xytext=(0, 8),
                                ha="center", fontsize=8, fontweight="bold")
            captions.append(f"{number}: {c.message}")
        title = f"batch {batch}"
        top.set_title(title, fontsize=10)
        top.set_yscale("log")
        bottom.set_yscale("log")
        for ax in (top, middle, bottom):
            ax.grid(True, which="major", linewidth=0.4, alpha=0.5)
            ax.tick_params(axis="both", which="major", labelsize=8)
        for ax in (top, bottom):
            lo, hi = ax.get_ylim()
            _log_ticks(ax.yaxis, lo, hi, _plain_number)
        bottom.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
        bottom.set_xlabel("image size (px, square input)")
        if col == 0:
            how = "predicted and measured" if measured else "predicted"
            whose = f"layer {report.layer}: " if report.layer is not None else ""
            top.set_ylabel(f"{whose}{how} time per forward ({unit})")
            what = "time" if measured else "predicted time"
            middle.set_ylabel(f"{what} / {reference}\n(below 1: faster)")
            bottom.set_ylabel(f"{whose}memory traffic per forward\n(MB, unfused)" if whose else
                              "memory traffic per forward (MB, unfused)")
    axes[0][0].set_xlim(sizes[0] - (sizes[-1] - sizes[0]) * 0.03 - 1, sizes[-1] + (sizes[-1] - sizes[0]) * 0.03 + 1)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if crossings:
        handles.append(Line2D([], [], marker="X", color="black", linestyle="", markersize=8))
        labels.append("predicted-time crossover (numbered below)")
    of_what = f" of layer {report.layer}" if report.layer is not None else ""
    fig.legend(handles, labels, loc="outside upper center", ncols=min(len(labels), 3), fontsize=8, frameon=False,
               title=f"Sweep on {report.device_spec} ({report.dtype}, attention {report.attention}): time and bytes "
                     f"moved{of_what} against image size",
               title_fontsize=11)
    if not captions:
        captions = ["no predicted-time crossover: the models keep their order at every size swept"]
    wrap = int(width * 16)  # characters per line at 8 pt
    text = "\n".join(textwrap.fill(line, wrap, subsequent_indent="    ") for line in captions)
    fig.supxlabel(text, fontsize=8, ha="left", x=0.01, multialignment="left")  # under the panels, in the layout
    return fig


def save_sweep_plot(report: SweepReport, path: str) -> None:
    from archscope.util.files import write_atomic

    fmt = plot_format(path)
    fig = sweep_figure(report)
    write_atomic(path, figure_bytes(fig, fmt, title=f"archscope sweep: {', '.join(m.label for m in report.models)}"))

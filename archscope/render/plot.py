"""The roofline picture: the device's roofs and every layer of every model as a point (arithmetic intensity against
FLOP/s), one colour per model, attention layers as stars. matplotlib is an optional extra, imported only here.

A point's FLOP/s is the layer's FLOPs over its measured time where a per-layer measurement exists, otherwise over
its roofline-predicted time; a layer sits on the roof only when all its ops hit the same roof.
"""

from __future__ import annotations

import html
import io
import os

from archscope.compare.comparison import Comparison, roofline_points
from archscope.errors import ArchscopeError
from archscope.vocab import PLOT_FORMATS

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")


def plot_format(path: str) -> str:
    """The picture format from the file's suffix, or an error naming the ones there are (before any work)."""
    fmt = PLOT_FORMATS.get(os.path.splitext(path)[1].lower())
    if fmt is None:
        raise ArchscopeError(f"--plot must end in {', '.join(PLOT_FORMATS)}", file=path)
    return fmt


def _matplotlib():
    try:
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
        from matplotlib.ticker import EngFormatter
    except ImportError:
        raise ArchscopeError("--plot needs matplotlib, which is not installed: "
                             "pip install 'archscope-yolo[plot]'") from None
    return Figure, Line2D, EngFormatter


def roofline_figure(comparison: Comparison):
    """A matplotlib Figure (no pyplot, so no GUI backend): roofs, ridge point, one scatter per model and kind."""
    Figure, Line2D, EngFormatter = _matplotlib()
    points, skipped = roofline_points(comparison)
    device = comparison.device
    dtype = comparison.reports[0].model.dtype
    peak, ridge = device.peak(dtype), device.ridge_point(dtype)

    fig = Figure(figsize=(9, 6), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    ax.set_xscale("log")
    ax.set_yscale("log")
    xs = [p.intensity for p in points] or [ridge]
    lo, hi = min(min(xs), ridge) / 2, max(max(xs), ridge) * 2
    ax.plot([lo, ridge, hi], [device.bandwidth * lo, peak, peak], color="0.25", linewidth=1.6, zorder=1)
    ax.axvline(ridge, color="0.5", linestyle=":", linewidth=1, zorder=1)
    ax.annotate(f"ridge {ridge:.3g} FLOP/B", (ridge, peak), textcoords="offset points", xytext=(4, -14),
                fontsize=8, color="0.35")

    measured = any(p.measured for p in points)
    for k, label in enumerate(comparison.labels):
        colour = f"C{k % 10}"
        mine = [p for p in points if p.model == k]
        plain = [p for p in mine if not p.attention]
        attention = [p for p in mine if p.attention]
        # the reference filled, the others open and in their own shape: layers that did not change coincide
        style = (dict(color=colour, alpha=0.8, linewidths=0) if k == 0 else
                 dict(facecolors="none", edgecolors=colour, linewidths=1.3))
        ax.scatter([p.intensity for p in plain], [p.flops_per_s for p in plain], s=30 + 12 * k,
                   marker=_MARKERS[k % len(_MARKERS)], zorder=3, label=label, gid=f"model-{k}", **style)
        if attention:
            ax.scatter([p.intensity for p in attention], [p.flops_per_s for p in attention], s=190,
                       color=colour, marker="*", edgecolors="black", linewidths=0.7, zorder=4,
                       gid=f"model-{k}-attention")
            for p in attention:
                ax.annotate(f"{p.layer} {p.module}", (p.intensity, p.flops_per_s), textcoords="offset points",
                            xytext=(10, 6), fontsize=7, color=colour,
                            bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none", alpha=0.7))

    handles, labels = ax.get_legend_handles_labels()
    if any(p.attention for p in points):
        handles.append(Line2D([], [], marker="*", color="0.4", markeredgecolor="black", linestyle="",
                              markersize=12))
        labels.append("attention layer")
    ax.legend(handles, labels, loc="lower right", fontsize=8)
    unit = " (relative units)" if device.relative_only else ""
    how = "measured" if measured else "roofline-predicted"
    ax.yaxis.set_major_formatter(EngFormatter(unit="FLOP/s"))
    ax.set_xlabel("arithmetic intensity (FLOP/byte moved, unfused)")
    ax.set_ylabel(f"{how} FLOP/s{unit}")
    sizes = {f"{r.model.imgsz[0]}x{r.model.imgsz[1]}" for r in comparison.reports}
    title = f"Roofline on {device.name} ({dtype}), imgsz {', '.join(sorted(sizes))}: {len(points)} layers"
    if skipped:
        title += f"\n({skipped} layers without FLOPs, such as Concat and nearest upsampling, not shown)"
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", linewidth=0.4, alpha=0.5)
    return fig


def figure_bytes(fig, fmt: str, *, title: str = "archscope roofline") -> bytes:
    """PNG or SVG bytes; ``html`` is a standalone page around the SVG (no JavaScript, no network)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png" if fmt == "png" else "svg")
    data = buffer.getvalue()
    if fmt != "html":
        return data
    svg = data.decode("utf-8")
    svg = svg[svg.index("<svg"):]  # drop the XML prolog and doctype: the page's own doctype governs
    title = html.escape(title)
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\n"
            f"<body style=\"font-family: sans-serif\">\n<h1 style=\"font-size: 1.2em\">{title}</h1>\n{svg}\n"
            f"</body></html>\n")
    return page.encode("utf-8")


def save_plot(comparison: Comparison, path: str) -> None:
    from archscope.util.files import write_atomic

    fmt = plot_format(path)
    fig = roofline_figure(comparison)
    write_atomic(path, figure_bytes(fig, fmt, title=f"archscope roofline: {', '.join(comparison.labels)}"))

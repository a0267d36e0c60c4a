"""The roofline picture: the device's roofs and every layer of every model as a point (arithmetic intensity against
FLOP/s), one colour per model, attention layers as stars. matplotlib is an optional extra, imported only here.

A point's FLOP/s is the layer's FLOPs over its measured time where a per-layer measurement exists, otherwise over
its roofline-predicted time; a layer sits on the roof only when all its ops hit the same roof.
"""

from __future__ import annotations

import html
import io
import math
import os
from dataclasses import dataclass

from archscope.compare.comparison import Comparison, Point, roofline_points
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


def _log_ticks(axis, lo: float, hi: float, formatter) -> None:
    """Label 1, 2 and 5 in every decade while the axis spans at most five decades (decades only beyond that; 1.5, 3
    and 7 too on an axis shorter than a decade and a half), so that a reader can place a point without counting
    unlabelled minor ticks."""
    from matplotlib.ticker import LogLocator, NullFormatter

    span = hi / lo
    subs = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0) if span <= 10**1.5 else (1.0, 2.0, 5.0) if span <= 1e5 else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(formatter)
    axis.set_minor_locator(LogLocator(base=10, subs=tuple(range(1, 10))))
    axis.set_minor_formatter(NullFormatter())


def _plain_number(value: float, _pos=None) -> str:
    return f"{value:g}"


@dataclass
class _Label:
    text: str
    x: float
    y: float
    colour: str
    priority: float  # higher first
    star: bool = False  # an attention layer's big marker


def _label_candidates(comparison: Comparison, points: list[Point], top: int) -> list[_Label]:
    """Which layers get a name beside their point: every attention layer, and the ``top`` layers with the most FLOPs.
    Points of several models that coincide (a layer no model changed) get one label, in grey."""
    flops = {(k, layer.index): layer.flops or 0 for k, r in enumerate(comparison.reports) for layer in r.layers}
    groups: dict[tuple, list[Point]] = {}
    for p in points:
        key = (p.layer, p.module, round(math.log10(p.intensity), 3), round(math.log10(p.flops_per_s), 3))
        groups.setdefault(key, []).append(p)
    attention: list[_Label] = []
    others: list[_Label] = []
    for group in groups.values():
        p = group[0]
        models = {q.model for q in group}
        colour = f"C{p.model % 10}" if len(models) == 1 else "0.25"
        label = _Label(f"{p.layer} {p.module}", p.intensity, p.flops_per_s, colour, flops[(p.model, p.layer)])
        (attention if p.attention else others).append(label)
    for label in attention:
        label.star = True
        label.priority += 1e30  # attention first: what the picture is usually drawn for
    others.sort(key=lambda label: -label.priority)
    return sorted(attention, key=lambda label: -label.priority) + others[:top]


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _segments_cross(a, b, c, d) -> bool:
    """Whether segment ab crosses segment cd (proper intersection)."""
    def side(p, q, r):
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    return side(a, b, c) * side(a, b, d) < 0 and side(c, d, a) * side(c, d, b) < 0


def _nearest(point, rect) -> tuple[float, float]:
    return min(max(point[0], rect[0]), rect[2]), min(max(point[1], rect[1]), rect[3])


def _through(start, end, box) -> bool:
    """Whether the segment from ``start`` to ``end`` passes through ``box`` (sampled; boxes are text-sized)."""
    return any(box[0] <= start[0] + (end[0] - start[0]) * i / 24 <= box[2]
               and box[1] <= start[1] + (end[1] - start[1]) * i / 24 <= box[3] for i in range(1, 24))


# directions to try around a point, in order of preference: beside it, then above and below, then straight up/down
_DIRECTIONS = tuple(math.radians(a) for a in (20, 160, -20, -160, 50, 130, -50, -130, 90, -90, 0, 180))


def _candidates(px: float, py: float, w: float, h: float, gap: float):
    """Rectangles of size w x h around (px, py): the nearest ring first, each ring in the preferred directions; the
    rectangle's side that faces the point sits on the ring."""
    for ring in range(14):
        reach = gap + ring * (h * 0.9 + 2)
        for a in _DIRECTIONS:
            cx, cy = px + reach * math.cos(a), py + reach * math.sin(a)
            x0 = cx if math.cos(a) > 0.3 else cx - w if math.cos(a) < -0.3 else cx - w / 2
            y0 = cy if math.sin(a) > 0.3 else cy - h if math.sin(a) < -0.3 else cy - h / 2
            yield ring, (x0, y0, x0 + w, y0 + h)


def _place_labels(fig, ax, labels: list[_Label], obstacles: list, marker_px: float) -> None:
    """Put each label beside its point where it overlaps no label placed before it, no obstacle (legend, ridge
    text), no marker and stays inside the axes; try near places first, then farther ones with a leader line that
    crosses no other label and no other leader; cover small markers only when no place near the point is left; a
    label that fits nowhere is left out rather than drawn over another."""
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    inside = (frame.x0 + 2, frame.y0 + 2, frame.x1 - 2, frame.y1 - 2)
    pt = fig.dpi / 72
    placed: list[tuple[float, float, float, float]] = []
    leaders: list[tuple[tuple[float, float], tuple[float, float]]] = []
    dots: list[tuple[float, float, float, float]] = []
    stars: list[tuple[float, float, float, float]] = []  # every marker's box; the big attention stars are never covered
    for collection in ax.collections:
        sizes = collection.get_sizes()
        r = (math.sqrt(max(sizes)) / 2 if len(sizes) else 4) * pt
        for x, y in ax.transData.transform(collection.get_offsets()):
            (stars if r > marker_px * 1.5 else dots).append((x - r, y - r, x + r, y + r))
    style = dict(fontsize=7, textcoords="offset points", ha="left", va="bottom", annotation_clip=False,
                 bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none", alpha=0.8))

    def fits(point, ring, rect, avoid_dots):
        if rect[0] < inside[0] or rect[1] < inside[1] or rect[2] > inside[2] or rect[3] > inside[3]:
            return False
        if any(_overlaps(rect, other) for other in placed + obstacles + stars):
            return False
        if avoid_dots and any(_overlaps(rect, d) for d in dots):
            return False
        if any(_through(a, b, rect) for a, b in leaders):
            return False  # nor over an earlier label's leader line
        if ring:
            end = _nearest(point, rect)
            if any(_through(point, end, other) for other in placed + obstacles):
                return False  # a leader line through another label would be as bad as the overlap
            if any(_segments_cross(point, end, a, b) for a, b in leaders):
                return False
        return True

    for label in labels:
        px, py = ax.transData.transform((label.x, label.y))
        probe = ax.annotate(label.text, (label.x, label.y), xytext=(0, 0), **style)
        box = probe.get_window_extent(renderer)
        probe.remove()
        pad = 0.15 * 7 * pt + 1
        w, h = box.width + 2 * pad, box.height + 2 * pad
        gap = (marker_px * 2.2 if label.star else marker_px) + 2
        # near places clear of markers, then near places over small markers, then the far rings the same way:
        # a name over a dot beside its point reads better than one at the end of a long leader
        options = list(_candidates(px, py, w, h, gap))
        chosen = next(((ring, rect) for rings, avoid_dots in (((0, 5), True), ((0, 5), False), ((6, 99), True),
                                                              ((6, 99), False))
                       for ring, rect in options if rings[0] <= ring <= rings[1] and fits((px, py), ring, rect,
                                                                                          avoid_dots)), None)
        if chosen is None:
            continue
        ring, rect = chosen
        placed.append(rect)
        if ring:
            leaders.append(((px, py), _nearest((px, py), rect)))
        # the text's own box starts ``pad`` inside the rectangle; offsets are in points from the point
        annotation = ax.annotate(label.text, (label.x, label.y),
                                 xytext=((rect[0] - px + pad) / pt, (rect[1] - py + pad) / pt),
                                 color=label.colour, gid=f"layer-label-{len(placed)}", **style,
                                 arrowprops=dict(arrowstyle="-", color=label.colour, linewidth=0.6, shrinkA=0,
                                                 shrinkB=(gap - 2) / pt) if ring else None)
        annotation.set_in_layout(False)


def roofline_figure(comparison: Comparison, *, top: int = 6):
    """A matplotlib Figure (no pyplot, so no GUI backend): roofs, ridge point, one scatter per model and kind; the
    attention layers and the ``top`` layers with the most FLOPs named beside their points, placed so that no two
    names overlap."""
    Figure, Line2D, EngFormatter = _matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    points, skipped = roofline_points(comparison)
    device = comparison.device
    dtype = comparison.reports[0].model.dtype
    peak, ridge = device.peak(dtype), device.ridge_point(dtype)

    fig = Figure(figsize=(9, 6), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)  # a renderer to measure text with, for the label placement
    ax = fig.add_subplot()
    ax.set_xscale("log")
    ax.set_yscale("log")
    xs = [p.intensity for p in points] or [ridge]
    lo, hi = min(min(xs), ridge) / 2, max(max(xs), ridge) * 2
    ax.plot([lo, ridge, hi], [device.bandwidth * lo, peak, peak], color="0.25", linewidth=1.6, zorder=1)
    ax.axvline(ridge, color="0.5", linestyle=":", linewidth=1, zorder=1)
    ax.set_xlim(lo, hi)
    ax.set_ylim(min([p.flops_per_s for p in points] or [peak]) / 2, peak * 2)
    # at the foot of the ridge line, where the points seldom are (they crowd around the roofs)
    ridge_text = ax.annotate(f"ridge {ridge:.3g} FLOP/B", (ridge, ax.get_ylim()[0]), textcoords="offset points",
                             xytext=(4, 5), fontsize=8, color="0.35")

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

    handles, labels = ax.get_legend_handles_labels()
    if any(p.attention for p in points):
        handles.append(Line2D([], [], marker="*", color="0.4", markeredgecolor="black", linestyle="",
                              markersize=12))
        labels.append("attention layer")
    legend = ax.legend(handles, labels, loc="lower right", fontsize=8)
    unit = " (relative units)" if device.relative_only else ""
    how = "measured" if measured else "roofline-predicted"
    _log_ticks(ax.xaxis, lo, hi, _plain_number)
    y_lo, y_hi = ax.get_ylim()
    _log_ticks(ax.yaxis, y_lo, y_hi, EngFormatter(unit="FLOP/s"))
    ax.tick_params(axis="both", which="major", labelsize=8)
    ax.set_xlabel("arithmetic intensity (FLOP/byte moved, unfused)")
    ax.set_ylabel(f"{how} FLOP/s{unit}")
    sizes = {f"{r.model.imgsz[0]}x{r.model.imgsz[1]}" for r in comparison.reports}
    title = f"Roofline on {device.name} ({dtype}), imgsz {', '.join(sorted(sizes))}: {len(points)} layers"
    if skipped:
        title += f"\n({skipped} layers without FLOPs, such as Concat and nearest upsampling, not shown)"
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", linewidth=0.4, alpha=0.5)

    fig.canvas.draw()  # the constrained layout settles the axes: pixel positions are final from here on
    renderer = fig.canvas.get_renderer()
    obstacles = [tuple(b.extents) for b in (legend.get_window_extent(renderer), ridge_text.get_window_extent(renderer))]
    _place_labels(fig, ax, _label_candidates(comparison, points, top), obstacles, marker_px=4 * fig.dpi / 72)
    return fig


def _short(name: str, limit: int = 18) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "\u2026"


def layer_cost_figure(report):
    """GFLOPs and MB moved (unfused) of every YAML layer as bars, the attention matmuls (QK^T, PV) as their own
    segment of a layer's GFLOPs bar with their share written above it; ``None`` for a report without costs."""
    Figure, _, _ = _matplotlib()
    from matplotlib.ticker import MaxNLocator

    layers = report.layers
    if not report.analysed or not any(layer.flops for layer in layers):
        return None
    index = list(range(len(layers)))
    attention = [(layer.attention_flops or 0) / 1e9 for layer in layers]
    rest = [(layer.flops or 0) / 1e9 - a for layer, a in zip(layers, attention)]
    moved = [(layer.bytes_unfused or 0) / 1e6 for layer in layers]
    fig = Figure(figsize=(10, 6), dpi=110, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    top.bar(index, rest, color="C0", width=0.75, label="GFLOPs")
    if any(attention):
        top.bar(index, attention, bottom=rest, color="C3", hatch="///", edgecolor="white", linewidth=0, width=0.75,
                label="of which attention matmuls (QK^T, PV)")
        for i, (a, r) in enumerate(zip(attention, rest)):
            if a:
                top.annotate(f"{100 * a / (a + r):.0f}% attn", (i, a + r), textcoords="offset points",
                             xytext=(0, 3), ha="center", fontsize=7, color="C3")
        top.legend(fontsize=8, loc="best")
    bottom.bar(index, moved, color="C1", width=0.75, label="MB moved")
    top.set_ylabel("GFLOPs")
    bottom.set_ylabel("MB moved (unfused)")
    for ax in (top, bottom):
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
        ax.grid(True, axis="y", linewidth=0.4, alpha=0.5)
        ax.tick_params(axis="y", labelsize=8)
        ax.set_xlim(-0.6, len(layers) - 0.4)
    top.set_ylim(0, max(a + r for a, r in zip(attention, rest)) * 1.15)
    every = max(1, math.ceil(len(layers) / 60))  # at most 60 names under the bars
    shown = index[::every]
    bottom.set_xticks(shown, [f"{layers[i].index} {_short(layers[i].module)}" for i in shown], rotation=90, fontsize=7)
    bottom.set_xlabel("YAML layer")
    t, m = report.totals, report.model
    share = f", {100 * t.attention_flops / t.flops:.1f}% of them attention matmuls" if t.attention_flops else ""
    batch = f", batch {m.batch}" if m.batch != 1 else ""
    top.set_title(f"Cost per layer: {t.flops / 1e9:.2f} GFLOPs{share}; "
                  f"{(t.bytes_unfused or 0) / 1e6:.1f} MB moved (imgsz {m.imgsz[0]}x{m.imgsz[1]}{batch}, {m.dtype})",
                  fontsize=10)
    return fig


def inline_svg(fig, prefix: str) -> str:
    """The figure as an ``<svg>`` element to put inside a page: no XML prolog, no metadata, every id prefixed (two
    charts on one page must not share an id), the size left to the page (the viewBox keeps the aspect ratio).
    Text is drawn as paths, so the picture needs no font."""
    import re

    from matplotlib import rc_context

    buffer = io.StringIO()
    with rc_context({"svg.fonttype": "path", "svg.hashsalt": prefix}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r'\s(?:width|height)="[0-9.]+pt"', "", svg, count=2)
    ids = set(re.findall(r'\sid="([^"]+)"', svg))
    svg = re.sub(r'(\sid="|#)([A-Za-z_][\w.-]*)', lambda m: m.group(1) + (f"{prefix}-{m.group(2)}" if m.group(2) in ids
                                                                      else m.group(2)), svg)
    return svg.replace("<svg ", '<svg role="img" class="chart" ', 1)


def figure_bytes(fig, fmt: str, *, title: str = "archscope roofline") -> bytes:
    """PNG or SVG bytes; ``html`` is a standalone page around the SVG (no JavaScript, no network)."""
    if fmt == "html":  # the page's own doctype governs: no XML prolog, no metadata, nothing that points outside
        svg = inline_svg(fig, "roofline").replace('class="chart" ', 'class="chart" style="max-width: 1000px" ', 1)
    else:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png" if fmt == "png" else "svg")
        return buffer.getvalue()
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

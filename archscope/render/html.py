"""Reports as one self-contained HTML page: a title, the summary, real ``<table>`` elements (numbers right-aligned),
the findings and notes, and the charts (roofline, cost per layer) as inline SVG from matplotlib. The page loads
nothing: no script, no stylesheet, no font, no image from anywhere, so it opens offline and can be mailed or
attached to a CI run as it is. Without matplotlib the page is complete but for the charts, with a line saying so.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

from archscope.errors import ArchscopeError

_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #1b1b1b; background: #fff; margin: 0 auto; padding: 1.2rem 1.5rem 3rem; max-width: 1400px;
       line-height: 1.4; }
h1 { font-size: 1.45rem; margin: 0.2rem 0 0.6rem; }
h2 { font-size: 1.1rem; margin: 1.8rem 0 0.5rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
p { margin: 0.3rem 0; }
.summary { font-weight: 600; }
.meta { color: #555; font-size: 0.9rem; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.8rem; font-variant-numeric: tabular-nums; margin: 0.4rem 0; }
th, td { padding: 2px 5px; border-bottom: 1px solid #e6e6e6; vertical-align: top; text-align: left; }
thead th { background: #f2f2f2; border-bottom: 1px solid #bbb; white-space: nowrap; position: sticky; top: 0; }
th.num, td.num { text-align: right; white-space: nowrap; }
td.code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.75rem;
          overflow-wrap: anywhere; min-width: 9rem; }
td.nowrap { white-space: pre; }
tbody tr:hover td { background: #f5f9ff; }
tr.sub td { color: #777; }
tr.attn td { background: #fff4e0; }
tr.first td { border-top: 1px solid #bbb; }
.red { color: #b3261e; font-weight: 600; }
.green { color: #146c2e; font-weight: 600; }
.bold { font-weight: 700; }
ul { margin: 0.3rem 0; padding-left: 1.4rem; }
li { margin: 0.15rem 0; }
li.warning { color: #8a4b00; }
figure { margin: 0.6rem 0 1rem; }
figure svg.chart { width: 100%; max-width: 1000px; height: auto; display: block; }
figcaption { color: #555; font-size: 0.85rem; }
footer { margin-top: 2.5rem; color: #888; font-size: 0.8rem; }
"""

NO_CHARTS = "charts need matplotlib, which is not installed: pip install 'archscope-yolo[plot]'"


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def page(title: str, body: Sequence[str]) -> str:
    """The page around ``body`` (already escaped HTML parts)."""
    from archscope._version import __version__

    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<h1>{esc(title)}</h1>\n"
            + "\n".join(body)
            + f"\n<footer>written by archscope {esc(__version__)}</footer>\n</body>\n</html>\n")


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: Callable[[int, str], bool],
          code: Sequence[str] = (), nowrap: Sequence[str] = (),
          row_class: Callable[[int, Sequence[str]], str] | None = None,
          cell_class: Callable[[int, int], str | None] | None = None, table_class: str = "") -> str:
    """A ``<table>`` with a header row; ``numeric(i, name)`` right-aligns column ``i``; ``code`` columns are set in a
    monospace font and may wrap anywhere (arguments, shapes), so that the table stays inside the page; ``nowrap``
    columns keep their spaces (a sub-module's indent) and never wrap."""
    heads = [("num" if numeric(i, name) else "code" if name in code else "nowrap" if name in nowrap else "")
             for i, name in enumerate(header)]
    out = [f'<div class="scroll"><table class="{esc(table_class)}">' if table_class else
           '<div class="scroll"><table>', "<thead><tr>"]
    out += [f'<th scope="col" class="num">{esc(name)}</th>' if h == "num" else f'<th scope="col">{esc(name)}</th>'
            for name, h in zip(header, heads)]
    out.append("</tr></thead>\n<tbody>")
    for r, row in enumerate(rows):
        cls = row_class(r, row) if row_class else ""
        cells = []
        for i, cell in enumerate(row):
            classes = [c for c in (heads[i] if i < len(heads) else "", cell_class(r, i) if cell_class else None) if c]
            attr = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{attr}>{esc(cell)}</td>")
        out.append(f'<tr class="{cls}">' + "".join(cells) + "</tr>" if cls else "<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def paragraphs(lines: Sequence[str], cls: str = "") -> list[str]:
    attr = f' class="{cls}"' if cls else ""
    return [f"<p{attr}>{esc(line)}</p>" for line in lines]


def bullets(lines: Sequence[tuple[str, str]]) -> str:
    """``(text, class)`` items as a list."""
    return "<ul>" + "".join(f'<li class="{c}">{esc(t)}</li>' if c else f"<li>{esc(t)}</li>" for t, c in lines) + "</ul>"


def charts(makers: Sequence[tuple[str, str, Callable[[], object]]]) -> list[str]:
    """Each ``(id, caption, make_figure)`` as an inline-SVG figure; a maker returning None is skipped. Without
    matplotlib: one line instead of every chart."""
    try:
        from archscope.render.plot import _matplotlib, inline_svg

        _matplotlib()
    except ArchscopeError:
        return [f'<p class="meta" id="no-charts">{esc(NO_CHARTS)}</p>']
    out = []
    for prefix, caption, make in makers:
        fig = make()
        if fig is None:
            continue
        out.append(f'<figure id="{esc(prefix)}">\n{inline_svg(fig, prefix)}\n'
                   f"<figcaption>{esc(caption)}</figcaption>\n</figure>")
    return out


# --- profile ---------------------------------------------------------------------------------------------------

_PROFILE_NUMERIC = {"#", "n", "params", "GFLOPs", "MB moved", "FLOP/B", "act MB", "attn GFLOPs", "pred ms"}
_PROFILE_CODE = ("arguments", "output")


def _profile_device(report):
    """The roofline device for the picture: the report's own (its per-op predictions), else the cpu preset."""
    from archscope.devices.presets import load_device

    if report.model.device_spec:
        try:
            return load_device(report.model.device_spec), None
        except ArchscopeError:
            pass
    return load_device("cpu"), "roofline on the cpu preset (the report has no --device-spec)"


def profile_page(report, *, depth: int = 0) -> str:
    """``archscope profile -f html``: title, summary lines, the per-layer table, findings, roofline and cost charts."""
    from archscope.render.cells import (
        attention_gflops_line,
        crosscheck_lines,
        finding_lines,
        layer_cells,
        summary_line,
        uncounted_line,
    )

    m = report.model
    title = f"archscope profile: {m.name}" + (f" (scale {m.scale})" if m.scale else "")
    body = paragraphs([summary_line(report)], "summary")
    lines = [line for line in (attention_gflops_line(report),) if line] + crosscheck_lines(report)
    from archscope.render.training import memory_lines

    body += paragraphs(lines + memory_lines(report))
    body += paragraphs([f"source: {m.path}"], "meta") if getattr(m, "path", None) else []

    findings = [(line, "warning") for line in finding_lines(report)]
    uncounted = uncounted_line(report)
    if uncounted:
        findings.append((uncounted, "warning"))
    body.append("<h2>Findings</h2>")
    body.append(bullets(findings) if findings else '<p class="meta">no findings</p>')

    header, rows = layer_cells(report, depth=depth)
    attn = header.index("attn GFLOPs") if "attn GFLOPs" in header else None

    def row_class(_r, row):
        if row[0] == "":
            return "sub"
        return "attn" if attn is not None and row[attn] else ""

    body.append("<h2>Layers</h2>")
    body.append(table(header, rows, numeric=lambda _i, name: name in _PROFILE_NUMERIC, code=_PROFILE_CODE,
                      nowrap=("module", "bound", "from"),
                      row_class=row_class, table_class="layers"))
    if attn is not None:
        body.append('<p class="meta">highlighted rows hold attention; attn GFLOPs are the attention matmuls '
                    "(QK^T, PV) inside the layer's GFLOPs</p>")

    if report.analysed:
        from archscope.compare.comparison import compare_reports
        from archscope.render.plot import layer_cost_figure, roofline_figure

        device, note = _profile_device(report)
        caption = "every layer with FLOPs as a point; the attention layers and the layers with the most FLOPs named"
        body.append("<h2>Charts</h2>")
        body += charts([
            ("roofline", caption + (f"; {note}" if note else ""),
             lambda: roofline_figure(compare_reports([report], device=device))),
            ("layer-cost", "GFLOPs and MB moved per YAML layer; the attention matmuls are the hatched part",
             lambda: layer_cost_figure(report)),
        ])
    return page(title, body)


# --- compare ---------------------------------------------------------------------------------------------------


def comparison_page(comparison, *, headline: str, totals, layers, notes: Sequence[str]) -> str:
    """``archscope compare -f html``: the totals table, the aligned layers table, the notes, the roofline. The
    rows come from :mod:`archscope.render.compare` (``totals_rows``, ``layer_rows``: cells with their tones)."""
    c = comparison
    title = f"archscope compare: {', '.join(c.labels)}"
    body = paragraphs([headline], "summary")
    body += paragraphs([f"{label}: {source}" for label, source in zip(c.labels, c.sources)], "meta")

    def toned(rows):
        return lambda r, i: rows[r][1][i] if i < len(rows[r][1]) else None

    t_header, t_rows = totals
    body.append("<h2>Totals</h2>")
    body.append(table(t_header, [cells for cells, _ in t_rows], numeric=lambda i, _n: i >= 1,
                      cell_class=toned(t_rows), table_class="totals"))
    l_header, l_rows = layers
    first_number = 4 if c.alignment == "index" else 3
    if l_rows:
        body.append("<h2>" + ("Layers that differ" if c.alignment == "index" else "Stages that differ") + "</h2>")
        body.append(table(l_header, [cells for cells, _ in l_rows], numeric=lambda i, _n: i >= first_number,
                          code=("output",), nowrap=("model", "stage", "#"), cell_class=toned(l_rows),
                          table_class="layers", row_class=lambda _r, row: "first" if row[0] else ""))
    if notes:
        body.append("<h2>Notes</h2>")
        body.append(bullets([(line, "") for line in notes]))
    if all(r.analysed for r in c.reports):
        from archscope.render.plot import roofline_figure

        body.append("<h2>Roofline</h2>")
        body += charts([("roofline", "every layer of every model with FLOPs as a point, one colour and shape per "
                         "model; the attention layers and the layers with the most FLOPs named",
                         lambda: roofline_figure(c))])
    return page(title, body)


# --- bench -----------------------------------------------------------------------------------------------------


def bench_page(report, *, headline: str, meta: Sequence[str], stats: tuple[Sequence[str], Sequence[Sequence[str]]],
               layers: Sequence[tuple[int, Sequence[str], Sequence[Sequence[str]], str]], left: set[str]) -> str:
    """``archscope bench -f html``: the statistics per batch and, with --per-layer, the per-layer timings; the rows
    come from :mod:`archscope.render.bench` (``layers``: batch, header, rows and overhead line per batch; ``left``:
    the text columns)."""
    m = report.model
    title = f"archscope bench: {m.name}" + (f" (scale {m.scale})" if m.scale else "")
    body = paragraphs([headline], "summary") + paragraphs(meta, "meta")
    body.append("<h2>Latency</h2>")
    body.append(table(stats[0], stats[1], numeric=lambda _i, name: name not in left, table_class="stats"))
    for batch, header, rows, overhead in layers:
        body.append(f"<h2>Per layer, batch {batch}</h2>")
        body.append(table(header, rows, numeric=lambda _i, name: name not in left, nowrap=("from", "module"),
                          table_class="layers"))
        body += paragraphs([overhead], "meta")
    if report.notes:
        body.append("<h2>Notes</h2>")
        body.append(bullets([(f"note: {note}", "") for note in report.notes]))
    return page(title, body)

"""The HTML reports, read back with Python's own HTML parser: one self-contained page (title, summary, real tables
whose cells are the report's figures, findings, inline SVG charts, nothing fetched from anywhere), the page without
matplotlib, and roofline labels that never overlap."""

from __future__ import annotations

import itertools
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archscope.api as api
from archscope.cli.app import app
from archscope.render.bench import render_bench
from archscope.render.compare import render_comparison
from archscope.render.formats import render_text
from archscope.render.html import NO_CHARTS, profile_page

runner = CliRunner()
CONFIGS = Path(__file__).resolve().parents[1] / "sample_configs"
MQA = str(CONFIGS / "yolov8n-mqa.yaml")
TRIO = [str(CONFIGS / name) for name in ("yolov8n-mhsa.yaml", "yolov8n-mqa.yaml", "yolov8n-mqa-kv2.yaml")]
# the tags and attributes through which a page could load something
LOADING = {"script", "link", "img", "iframe", "object", "embed", "audio", "video", "source", "image", "use"}


class Page(HTMLParser):
    """The parts of a page the tests look at: title, headings, tables (rows of cells with their classes), svg
    elements, every attribute, every id and the text of <style> elements."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.h1 = ""
        self.h2: list[str] = []
        self.tables: list[dict] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []  # (tag, name, value)
        self.ids: list[str] = []
        self.style = ""
        self.paragraphs: list[str] = []
        self.items: list[str] = []
        self.svg_depth = 0
        self.svgs = 0
        self._stack: list[str] = []
        self._cell: list[str] | None = None
        self._text: list[str] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._stack.append(tag)
        for name, value in attrs:
            self.attrs.append((tag, name, value or ""))
            if name == "id":
                self.ids.append(value or "")
        cls = dict(attrs).get("class") or ""
        if tag == "svg":
            self.svgs += 1
        if tag == "table":
            self.tables.append({"class": cls, "header": [], "header_class": [], "rows": [], "row_class": [],
                                "cell_class": []})
        elif tag == "tr" and self.tables:
            if "thead" not in self._stack:
                self.tables[-1]["rows"].append([])
                self.tables[-1]["row_class"].append(cls)
                self.tables[-1]["cell_class"].append([])
        elif tag in ("td", "th") and self.tables:
            self._cell = []
            table = self.tables[-1]
            if tag == "th" and "thead" in self._stack:
                table["header_class"].append(cls)
            else:
                table["cell_class"][-1].append(cls)
        elif tag in ("title", "h1", "h2", "p", "li", "style"):
            self._text = []

    def handle_endtag(self, tag):
        if self._stack and self._stack[-1] == tag:
            self._stack.pop()
        if tag in ("td", "th") and self._cell is not None and self.tables:
            text = "".join(self._cell)
            table = self.tables[-1]
            (table["header"] if "thead" in self._stack else table["rows"][-1]).append(text)
            self._cell = None
        elif tag in ("title", "h1", "h2", "p", "li", "style") and self._text is not None:
            text = "".join(self._text)
            if tag == "title":
                self.title = text
            elif tag == "h1":
                self.h1 = text
            elif tag == "h2":
                self.h2.append(text)
            elif tag == "p":
                self.paragraphs.append(text)
            elif tag == "li":
                self.items.append(text)
            else:
                self.style += text
            self._text = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._text is not None:
            self._text.append(data)

    def table(self, cls: str) -> dict:
        found = [t for t in self.tables if t["class"] == cls]
        assert len(found) == 1, [t["class"] for t in self.tables]
        return found[0]


def assert_self_contained(page: Page, text: str):
    """Nothing fetched: no tag that loads, no attribute pointing anywhere but inside the page, no CSS import or
    url() but to an id of the page, every fragment reference resolving, no id twice."""
    assert not (LOADING & set(page.tags) - {"use", "image"}), LOADING & set(page.tags)
    for tag, name, value in page.attrs:
        if name in ("href", "xlink:href", "src", "data", "srcset", "action", "formaction", "poster"):
            assert value.startswith("#"), (tag, name, value)
        if name != "xmlns" and not name.startswith("xmlns:"):
            assert not re.search(r"(?i)\b(https?:|ftp:)?//", value), (tag, name, value)
    assert "@import" not in page.style and "@font-face" not in page.style
    assert not re.search(r"(?i)url\(\s*['\"]?(?!#)", text)  # url(...) only as url(#id), inside the SVG
    assert not re.search(r"(?i)(src|href)\s*=\s*['\"]?\s*(https?:)?//", text)
    ids = set(page.ids)
    assert len(ids) == len(page.ids), [i for i in page.ids if page.ids.count(i) > 1][:5]
    refs = set(re.findall(r"url\(#([^)]+)\)", text)) | {v[1:] for _, n, v in page.attrs if n.endswith("href")}
    assert refs <= ids, sorted(refs - ids)[:5]


def figure(text: str) -> float | None:
    text = text.replace(",", "")
    return float(text) if text else None


@pytest.fixture(scope="module")
def mqa():
    return api.profile(MQA, imgsz=320, device_spec="cpu")


@pytest.fixture(scope="module")
def trio():
    return api.compare(TRIO, imgsz=320)


def test_profile_page_title_summary_findings_and_charts(mqa):
    text = profile_page(mqa)
    page = Page(text)
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert page.title == page.h1 == "archscope profile: yolov8n-mqa (scale n)"
    assert {"Findings", "Layers", "Charts"} <= set(page.h2)
    summary = page.paragraphs[0]
    assert f"{mqa.totals.params:,} parameters" in summary and f"{mqa.totals.flops / 1e9:.2f} GFLOPs" in summary
    assert "imgsz 320x320" in summary
    assert any("misses the attention matmuls" in p for p in page.paragraphs)
    assert page.svgs == 2  # the roofline and the cost per layer
    assert {"roofline", "layer-cost"} <= set(page.ids)
    assert_self_contained(page, text)


def test_profile_table_has_one_row_per_layer_with_the_report_figures(mqa):
    page = Page(profile_page(mqa))
    table = page.table("layers")
    header = table["header"]
    assert header[:7] == ["#", "from", "n", "params", "module", "arguments", "output"]
    assert {"GFLOPs", "MB moved", "attn GFLOPs", "pred ms", "bound"} <= set(header)
    assert len(table["rows"]) == len(mqa.layers) == 24
    col = {name: i for i, name in enumerate(header)}
    for row, classes, row_class, layer in zip(table["rows"], table["cell_class"], table["row_class"], mqa.layers):
        assert len(row) == len(header)
        assert int(row[col["#"]]) == layer.index and row[col["module"]] == layer.module
        assert int(row[col["n"]]) == layer.n
        assert figure(row[col["params"]]) == layer.params
        assert figure(row[col["GFLOPs"]]) == pytest.approx(layer.flops / 1e9, abs=0.005)
        assert figure(row[col["MB moved"]]) == pytest.approx(layer.bytes_unfused / 1e6, abs=0.005)
        assert figure(row[col["pred ms"]]) == pytest.approx(layer.predicted_ms, rel=5e-3)
        assert row[col["bound"]] == (layer.bound or "")
        attention = figure(row[col["attn GFLOPs"]])
        assert attention == (pytest.approx(layer.attention_flops / 1e9, abs=0.005) if layer.attention_flops else None)
        assert ("attn" in row_class) == bool(layer.attention_flops)
        for name in ("#", "params", "GFLOPs", "MB moved", "attn GFLOPs", "pred ms"):
            assert "num" in classes[col[name]].split()  # numbers right-aligned
        assert "num" not in classes[col["module"]].split() and "num" not in classes[col["bound"]].split()
    assert [int(r[0]) for r, c in zip(table["rows"], table["row_class"]) if "attn" in c] == [7]
    assert "td.num" in page.style and "text-align: right" in page.style.split("td.num", 1)[1].split("}")[0]


def test_profile_depth_rows_follow_their_layer(mqa):
    report = api.profile(MQA, imgsz=320, depth=1)
    table = Page(profile_page(report, depth=1)).table("layers")
    subs = sum(1 for layer in report.layers for sub in layer.submodules if sub.depth <= 1)
    assert subs and len(table["rows"]) == len(report.layers) + subs
    assert sum("sub" in c for c in table["row_class"]) == subs


def test_profile_findings_are_listed(mqa, monkeypatch):
    from archscope.reports.profile import Finding

    monkeypatch.setattr(mqa, "findings", [Finding("quadratic-attention", 7, "layer 7 <grows> quadratically")])
    page = Page(profile_page(mqa))
    assert "warning: layer 7 <grows> quadratically" in page.items  # escaped in the page, read back whole


def test_cli_output_file_and_format_flag_write_the_page(tmp_path):
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["profile", MQA, "--imgsz", "128", "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = Page(out.read_text())
    assert page.title == "archscope profile: yolov8n-mqa (scale n)" and len(page.table("layers")["rows"]) == 24
    result = runner.invoke(app, ["profile", MQA, "--imgsz", "128", "-f", "html"])
    assert result.exit_code == 0 and Page(result.stdout).svgs == 2


def test_comparison_page_has_totals_layers_and_every_model_on_the_roofline(trio):
    text = render_comparison(trio, "html")
    page = Page(text)
    assert page.title == "archscope compare: " + ", ".join(trio.labels)
    totals = page.table("totals")
    assert totals["header"][:2] == ["figure", trio.labels[0]] and len(totals["rows"]) == len(trio.totals)
    params = next(r for r in totals["rows"] if r[0] == "params")
    by_model = [r.totals.params for r in trio.reports]
    assert [figure(params[1]), figure(params[2]), figure(params[5])] == by_model
    assert figure(params[3]) == by_model[1] - by_model[0]
    layers = page.table("layers")
    assert [r[0] for r in layers["rows"]] == ["7", "", ""]  # the three models differ in layer 7 only
    assert [r[1] for r in layers["rows"]] == trio.labels
    assert [figure(r[layers["header"].index("params")]) for r in layers["rows"]] == [
        r.layers[7].params for r in trio.reports]
    assert page.svgs == 1
    assert {f"roofline-model-{k}" for k in range(3)} | {f"roofline-model-{k}-attention" for k in range(3)} <= set(
        page.ids)
    assert_self_contained(page, text)


def test_without_matplotlib_the_page_is_complete_with_one_line_instead_of_charts(mqa, trio, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # what an absent package looks like to import
    for text in (render_text(mqa, "html"), render_comparison(trio, "html")):
        page = Page(text)
        assert page.svgs == 0 and "<svg" not in text and NO_CHARTS in page.paragraphs
        assert len(page.tables) >= 1 and text.rstrip().endswith("</html>")
        assert_self_contained(page, text)
    assert len(Page(render_text(mqa, "html")).table("layers")["rows"]) == 24


def test_bench_page_has_real_tables():
    report = api.bench(str(CONFIGS / "tiny-detector.yaml"), imgsz=64, runs=3, warmup=1, device="cpu",
                       per_layer=True)
    text = render_bench(report, "html")
    page = Page(text)
    assert page.title.startswith("archscope bench: tiny-detector")
    stats = page.table("stats")
    assert len(stats["rows"]) == 1 and figure(stats["rows"][0][0]) == 1
    assert figure(stats["rows"][0][stats["header"].index("median ms")]) == pytest.approx(
        report.batches[0].median_ms, rel=5e-3)
    layers = page.table("layers")
    assert [int(r[0]) for r in layers["rows"]] == [r.index for r in report.batches[0].layers]
    assert_self_contained(page, text)


# --- the pictures -------------------------------------------------------------------------------------------------

matplotlib = pytest.importorskip("matplotlib")


def label_boxes(fig):
    """The drawn boxes (text with its white background) of the layer names, in display pixels."""
    fig.canvas.draw()
    texts = [t for t in fig.axes[0].texts if (t.get_gid() or "").startswith("layer-label-")]
    return texts, [t.get_bbox_patch().get_window_extent() if t.get_bbox_patch() else t.get_window_extent()
                   for t in texts]


def strictly_overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@pytest.mark.parametrize("which", ["trio", "mqa"])
def test_roofline_labels_never_overlap(which, trio, mqa):
    from archscope.compare.comparison import compare_reports
    from archscope.render.plot import roofline_figure

    comparison = trio if which == "trio" else compare_reports([mqa], device=trio.device)
    fig = roofline_figure(comparison)
    texts, boxes = label_boxes(fig)
    names = [t.get_text() for t in texts]
    attention = {f"{r.layers[7].index} {r.layers[7].module}" for r in comparison.reports}
    assert attention <= set(names)  # every attention layer named
    assert len(names) >= len(attention) + 3  # and the layers with the most FLOPs
    for (na, a), (nb, b) in itertools.combinations(zip(names, boxes), 2):
        assert not strictly_overlap(a, b), (na, nb)
    ax = fig.axes[0]
    frame = ax.get_window_extent()
    legend = ax.get_legend().get_window_extent()
    for name, box in zip(names, boxes):
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, name
        assert not strictly_overlap(box, legend), name


def test_roofline_labels_more_than_decades(trio):
    from archscope.render.plot import roofline_figure

    fig = roofline_figure(trio)
    fig.canvas.draw()
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    shown = [t for t in ax.xaxis.get_majorticklocs() if lo <= t <= hi]
    assert any(abs(v / 10 ** round(__import__("math").log10(v)) - 1) > 0.01 for v in shown)  # 2, 5, 20, 50 ...
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert {"2", "5", "20", "50"} & set(labels)
    assert len([t for t in ax.get_yticklabels() if t.get_text()]) >= 4


def test_cost_chart_bars_are_the_report_figures(mqa):
    from archscope.render.plot import layer_cost_figure

    fig = layer_cost_figure(mqa)
    top, bottom = fig.axes
    flops, attention = top.containers
    assert len(flops.patches) == len(mqa.layers)
    for bar, share, layer in zip(flops.patches, attention.patches, mqa.layers):
        assert bar.get_height() + share.get_height() == pytest.approx((layer.flops or 0) / 1e9)
        assert share.get_height() == pytest.approx((layer.attention_flops or 0) / 1e9)
    moved = bottom.containers[0]
    assert [b.get_height() for b in moved.patches] == pytest.approx([(x.bytes_unfused or 0) / 1e6 for x in mqa.layers])
    shares = [t.get_text() for t in top.texts]
    layer7 = mqa.layers[7]
    assert shares == [f"{100 * layer7.attention_flops / layer7.flops:.0f}% attn"]


@pytest.mark.parametrize("seed", range(4))
def test_label_placement_on_a_crowded_cluster_leaves_no_overlap(seed):
    """40 points in one clump, each with a name: every name that is drawn overlaps no other one, no star and stays in
    the axes; most are drawn (left out only where nothing fits)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from archscope.render.plot import _Label, _place_labels

    rng = np.random.default_rng(seed)
    xs, ys = 10 ** rng.normal(1, 0.15, 40), 10 ** rng.normal(11, 0.1, 40)
    fig = Figure(figsize=(9, 6), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(1, 100)
    ax.set_ylim(1e10, 1e12)
    ax.scatter(xs[5:], ys[5:], s=30)
    ax.scatter(xs[:5], ys[:5], s=190, marker="*")
    fig.canvas.draw()
    labels = [_Label(f"{i} {'LongModuleName' * (i % 3)}", x, y, "C0", -i, star=i < 5)
              for i, (x, y) in enumerate(zip(xs, ys))]
    _place_labels(fig, ax, labels, [], marker_px=4 * fig.dpi / 72)
    texts, boxes = label_boxes(fig)
    assert len(texts) >= 20
    assert {f"{i} {'LongModuleName' * (i % 3)}" for i in range(5)} <= {t.get_text() for t in texts}  # stars first
    for a, b in itertools.combinations(boxes, 2):
        assert not strictly_overlap(a, b)
    frame = ax.get_window_extent()
    stars = ax.transData.transform(np.column_stack([xs[:5], ys[:5]]))
    for box in boxes:
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
        assert not any(box.x0 < sx < box.x1 and box.y0 < sy < box.y1 for sx, sy in stars)


def test_plot_html_page_is_self_contained_too(trio):
    from archscope.render.plot import figure_bytes, roofline_figure

    text = figure_bytes(roofline_figure(trio), "html", title="roofline").decode()
    page = Page(text)
    assert page.title == "roofline" and page.svgs == 1 and "<metadata" not in text
    assert_self_contained(page, text)

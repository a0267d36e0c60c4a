"""The roofline picture: one point per layer with FLOPs, one colour per model, attention layers as stars, the three
file formats, measured FLOP/s from per-layer timings, and a clear message when matplotlib is missing."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import archscope.api as api
from archscope.cli.app import app
from archscope.compare.comparison import Measurement, compare_reports, roofline_points
from archscope.errors import ArchscopeError

pytest.importorskip("matplotlib")
from matplotlib.markers import MarkerStyle  # noqa: E402

from archscope.render.plot import figure_bytes, roofline_figure  # noqa: E402

runner = CliRunner()
SAMPLE = Path(__file__).resolve().parents[1] / "sample_configs" / "tiny-detector.yaml"


@pytest.fixture(scope="module")
def attention_pair(tmp_path_factory):
    """tiny-detector (C2PSA attention at layer 10) against the same model with a C3k2 there instead."""
    folder = tmp_path_factory.mktemp("models")
    text = SAMPLE.read_text()
    line = "  - [-1, 2, C2PSA, [1024]] # 10: self-attention over the 20x20 tokens at P5\n"
    assert line in text
    plain = folder / "no-attention.yaml"
    plain.write_text(text.replace(line, "  - [-1, 2, C3k2, [1024, True]] # 10\n"))
    return api.compare([str(plain), str(SAMPLE)], imgsz=64)


def offsets(fig, gid):
    found = [c for c in fig.axes[0].collections if c.get_gid() == gid]
    return np.concatenate([c.get_offsets() for c in found]) if found else np.empty((0, 2))


def test_one_point_per_layer_with_flops_and_attention_as_stars(attention_pair):
    c = attention_pair
    fig = roofline_figure(c)
    with_flops = [[layer for layer in r.layers if layer.flops] for r in c.reports]
    # Concat and nearest upsampling have no FLOPs: 2 x 2 Upsample + 2 x 4 Concat = 12 layers left out
    assert sum(len(x) for x in with_flops) == 2 * 24 - 12
    for k, layers in enumerate(with_flops):
        attention = [layer for layer in layers if layer.attention_flops]
        assert len(offsets(fig, f"model-{k}")) == len(layers) - len(attention)
        assert len(offsets(fig, f"model-{k}-attention")) == len(attention)
    assert [layer.index for layer in with_flops[1] if layer.attention_flops] == [10]  # C2PSA only
    assert len(offsets(fig, "model-0-attention")) == 0
    star = next(col for col in fig.axes[0].collections if col.get_gid() == "model-1-attention")
    dot = next(col for col in fig.axes[0].collections if col.get_gid() == "model-1")
    marker = MarkerStyle("*")
    assert np.allclose(star.get_paths()[0].vertices, marker.get_path().transformed(marker.get_transform()).vertices)
    assert dot.get_paths()[0].vertices.shape != star.get_paths()[0].vertices.shape
    assert {c.labels[0], c.labels[1], "attention layer"} <= {t.get_text() for t in fig.axes[0].get_legend().texts}


def test_points_sit_at_intensity_and_predicted_flops_per_second(attention_pair):
    c = attention_pair
    points, skipped = roofline_points(c)
    assert skipped == 12
    layer = c.reports[1].layers[10]
    p = next(p for p in points if p.model == 1 and p.layer == 10)
    assert p.attention and not p.measured
    assert p.intensity == pytest.approx(layer.flops / layer.bytes_unfused)
    assert p.flops_per_s == pytest.approx(layer.flops / (layer.predicted_ms / 1e3))
    # below the roof: min(peak, bandwidth * intensity)
    device = c.device
    assert p.flops_per_s <= min(device.peak("fp32"), device.bandwidth * p.intensity) * (1 + 1e-9)


def test_measured_per_layer_times_give_measured_flops_per_second(attention_pair):
    c = attention_pair
    timed = compare_reports(c.reports, device=c.device, labels=c.labels,
                            measurements=[None, Measurement(5.0, {10: 2.0})])
    points, _ = roofline_points(timed)
    p = next(p for p in points if p.model == 1 and p.layer == 10)
    assert p.measured and p.flops_per_s == pytest.approx(c.reports[1].layers[10].flops / 2e-3)
    assert "measured FLOP/s" in roofline_figure(timed).axes[0].get_ylabel()


@pytest.mark.parametrize("suffix, check", [
    (".png", lambda b: b.startswith(b"\x89PNG\r\n\x1a\n")),
    (".svg", lambda b: b"<svg" in b[:2000] and b.rstrip().endswith(b"</svg>")),
    (".html", lambda b: b.startswith(b"<!DOCTYPE html>") and b"<svg" in b and b.rstrip().endswith(b"</html>")),
])
def test_cli_writes_each_format(tmp_path, suffix, check):
    out = tmp_path / f"roof{suffix}"
    result = runner.invoke(app, ["compare", str(SAMPLE), f"{SAMPLE}:s", "--imgsz", "64", "--plot", str(out)])
    assert result.exit_code == 0, result.output
    assert check(out.read_bytes())
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary file beside it


def test_profile_plot_draws_one_model(tmp_path):
    out = tmp_path / "one.png"
    result = runner.invoke(app, ["profile", str(SAMPLE), "--imgsz", "64", "--plot", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"\x89PNG")
    assert "pred ms" in result.output  # the plot's device (cpu by default) is in the table too


def test_figure_bytes_html_is_standalone(attention_pair):
    page = figure_bytes(roofline_figure(attention_pair), "html", title="a <b> c").decode()
    assert "<title>a &lt;b&gt; c</title>" in page and "<?xml" not in page


def test_missing_matplotlib_is_a_clear_message(tmp_path, monkeypatch, attention_pair):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # what an absent package looks like to import
    with pytest.raises(ArchscopeError, match=r"pip install 'archscope-yolo\[plot\]'"):
        roofline_figure(attention_pair)
    out = tmp_path / "roof.png"
    monkeypatch.setattr(api, "compare", lambda *a, **k: pytest.fail("compared before checking matplotlib"))
    result = runner.invoke(app, ["compare", str(SAMPLE), f"{SAMPLE}:s", "--plot", str(out)])
    assert result.exit_code == 2 and "needs matplotlib" in result.output
    assert not out.exists()


def test_unknown_plot_suffix_is_rejected_before_work(tmp_path):
    result = runner.invoke(app, ["profile", str(SAMPLE), "--plot", str(tmp_path / "roof.jpg")])
    assert result.exit_code == 2 and "--plot must end in .png, .svg, .html" in result.output

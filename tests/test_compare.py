"""archscope compare: totals with hand-derived deltas, layer alignment by index and by stage, report JSON inputs,
the output formats, --bench through an injected measure, and bad input."""

from __future__ import annotations

import csv
import subprocess
import sys
import io
import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archscope.api as api
from archscope.cli.app import app
from archscope.compare.comparison import Comparison, Measurement, compare_reports, stage_of
from archscope.errors import ArchscopeError
from archscope.devices.presets import load_device

runner = CliRunner()
SAMPLE = str(Path(__file__).resolve().parents[1] / "sample_configs" / "tiny-detector.yaml")

# Two Convs; "wide" doubles the second one's channels. Conv(c1, c2, k) has c1*c2*k*k weights + 2*c2 BN parameters.
SMALL = """\
nc: 3
backbone:
  - [-1, 1, Conv, [16, 3, 2]]
  - [-1, 1, Conv, [{c}, 3, 2]]
head:
"""
EXTRA = SMALL + "  - [-1, 1, Conv, [32, 3, 1]]\n"  # one more layer at stride 4: the topologies differ

P0 = 3 * 16 * 9 + 2 * 16  # 464
P1_32 = 16 * 32 * 9 + 2 * 32  # 4,672
P1_64 = 16 * 64 * 9 + 2 * 64  # 9,344
P2 = 32 * 32 * 9 + 2 * 32  # 9,280
# MAC FLOPs of layer 1 at 64x64 input (output 16x16): 2 * Cout * 16*16 * Cin * 9
MAC1_32 = 2 * 32 * 256 * 16 * 9
MAC1_64 = 2 * 64 * 256 * 16 * 9


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


@pytest.fixture
def pair(tmp_path):
    return write(tmp_path, "narrow.yaml", SMALL.format(c=32)), write(tmp_path, "wide.yaml", SMALL.format(c=64))


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_totals_delta_and_ratio_are_the_hand_derived_ones(pair):
    c = api.compare(list(pair), imgsz=64)
    rows = {row.key: row for row in c.totals}
    assert rows["params"].values == [P0 + P1_32, P0 + P1_64]
    assert rows["params"].deltas == [None, P1_64 - P1_32]
    assert rows["params"].ratios[1] == pytest.approx((P0 + P1_64) / (P0 + P1_32))
    assert rows["mac_flops"].deltas[1] == MAC1_64 - MAC1_32
    # + BN (2/element) and SiLU (5/element) on the 32 extra output channels at 16x16
    assert rows["flops"].deltas[1] == MAC1_64 - MAC1_32 + 7 * 32 * 256
    assert rows["predicted_ms"].values[1] > rows["predicted_ms"].values[0] > 0
    assert "measured_ms" not in rows  # no --bench: no row
    assert c.labels == ["narrow", "wide"]
    assert c.predicted == "per-op"


def test_same_topology_aligns_by_index_and_keeps_only_changed_layers(pair):
    c = api.compare(list(pair), imgsz=64)
    assert c.alignment == "index"
    assert [(row.key, row.changed) for row in c.layers] == [("0", False), ("1", True)]
    narrow, wide = c.layers[1].cells
    assert (narrow.params, wide.params) == (P1_32, P1_64)
    assert (narrow.output, wide.output) == ([1, 32, 16, 16], [1, 64, 16, 16])


def test_different_topology_aligns_by_stage(tmp_path, pair):
    extra = write(tmp_path, "extra.yaml", EXTRA.format(c=32))
    c = api.compare([pair[0], extra], imgsz=64)
    assert c.alignment == "stage"
    rows = {row.key: row for row in c.layers}
    assert list(rows) == ["stride 2", "stride 4"]
    assert not rows["stride 2"].changed
    before, after = rows["stride 4"].cells
    assert (before.indices, after.indices) == ([1], [1, 2])
    assert (before.params, after.params) == (P1_32, P1_32 + P2)
    assert after.modules == ["Conv", "Conv"]


def test_stage_of_uses_output_size_and_puts_heads_apart():
    report = api.profile(SAMPLE, imgsz="64x128", analyse=False)
    stages = [stage_of(layer, report.model.imgsz) for layer in report.layers]
    assert stages[0] == 2 and stages[1] == 4 and stages[10] == 32 and stages[16] == 8
    assert stages[23] == "head"  # Detect: a 1x24xN tensor, not a feature map


def test_report_json_compares_with_a_yaml_and_labels_follow_the_files(tmp_path, pair):
    before = tmp_path / "before.json"
    code, out = run("profile", pair[0], "--imgsz", "64", "-o", before)  # no --device-spec: no own prediction
    assert code == 0, out
    c = api.compare([str(before), pair[0]], imgsz=64)
    assert c.labels == ["before", "narrow"]
    assert [row.values[0] == row.values[1] for row in c.totals] == [True] * len(c.totals)
    assert c.predicted == "per-layer" and "per-layer roofline" in c.notes[0]
    assert not any(row.changed for row in c.layers)
    # per-layer estimate: max(flops / peak, bytes / bandwidth), summed
    cpu = load_device("cpu")
    layers = c.reports[0].layers
    expected = sum(max(la.flops / cpu.peak("fp32"), la.bytes_unfused / cpu.bandwidth) for la in layers) * 1e3
    assert {row.key: row for row in c.totals}["predicted_ms"].values[0] == pytest.approx(expected)


def test_comparison_round_trips_through_json(pair):
    c = api.compare(list(pair), imgsz=64)
    c.measurements[1] = Measurement(2.5, {0: 1.0, 1: 1.5}, "cpu")
    c = compare_reports(c.reports, device=c.device, labels=c.labels, sources=c.sources, measurements=c.measurements)
    data = json.loads(json.dumps(c.to_dict()))
    assert data["schema"] == "archscope.compare/1"
    assert Comparison.from_dict(data).to_dict() == data


def test_three_models_are_each_compared_with_the_first(tmp_path, pair):
    third = write(tmp_path, "widest.yaml", SMALL.format(c=128))
    c = api.compare([*pair, third], imgsz=64)
    params = {row.key: row for row in c.totals}["params"]
    assert params.deltas[1:] == [P1_64 - P1_32, (16 * 128 * 9 + 256) - P1_32]


def test_scale_suffix_picks_each_models_scale():
    c = api.compare([SAMPLE, SAMPLE + ":s"], imgsz=64)
    assert [r.model.scale for r in c.reports] == ["n", "s"]
    assert c.labels == ["tiny-detector:n", "tiny-detector:s"]
    assert c.totals[0].values[0] == 2_593_740  # as `archscope profile` prints it for scale n


def test_bench_uses_the_measure_and_shows_measured_latency(pair):
    calls = []

    def fake(source, *, imgsz, batch, dtype, device):
        calls.append((Path(source.path).name, imgsz, device))
        return Measurement(10.0 if "narrow" in source.path else 15.0, {0: 4.0, 1: 6.0 + len(calls)}, "cpu")

    c = api.compare(list(pair), imgsz=64, bench=True, bench_device="cpu", measure=fake)
    assert calls == [("narrow.yaml", 64, "cpu"), ("wide.yaml", 64, "cpu")]
    measured = {row.key: row for row in c.totals}["measured_ms"]
    assert measured.values == [10.0, 15.0] and measured.deltas[1] == 5.0 and measured.ratios[1] == 1.5
    assert [cell.measured_ms for cell in c.layers[1].cells] == [7.0, 8.0]


def test_bench_runs_archscope_bench_for_real(pair):
    """compare --bench with the real archscope bench (CPU, tiny models): a median and per-layer times per model."""
    c = api.compare(list(pair), imgsz=64, bench=True, bench_device="cpu")
    for measured in c.measurements:
        assert measured.median_ms > 0
        assert sorted(measured.layer_ms) == [0, 1] and all(ms > 0 for ms in measured.layer_ms.values())
    assert "measured_ms" in {row.key for row in c.totals}


def test_bench_default_measure_calls_archscope_bench(pair, monkeypatch):
    class Row:
        def __init__(self, index, ms):
            self.index, self.median_ms = index, ms

    class Timed:
        median_ms = 3.0
        layers = [Row(0, 1.0), Row(1, 2.0)]

    class Environment:
        device = "cpu"

    class Result:  # the parts of a BenchReport compare reads
        batches = [Timed()]
        environment = Environment()

    seen = {}

    def bench(source, **kwargs):
        seen.update(kwargs, source=source)
        return Result()

    monkeypatch.setattr(api, "bench", bench, raising=False)
    code, out = run("compare", *pair, "--imgsz", "64", "--bench", "--bench-device", "cpu")
    assert code == 0, out
    assert "measured ms (median)" in out
    assert seen["per_layer"] is True and seen["device"] == "cpu" and seen["imgsz"] == "64"


def test_cli_table_colours_and_shows_the_changed_layer(pair):
    code, out = run("compare", *pair, "--imgsz", "64")
    assert code == 0, out
    assert "layers aligned by index" in out
    assert f"{P0 + P1_32:,}" in out and f"+{P1_64 - P1_32:,}" in out
    assert "Layers that differ" in out and "1 layer identical in every model, not shown" in out


@pytest.mark.parametrize("fmt", ["markdown", "md"])
def test_cli_markdown(pair, fmt):
    code, out = run("compare", *pair, "--imgsz", "64", "--format", fmt)
    assert code == 0, out
    assert f"| params | {P0 + P1_32:,} | {P0 + P1_64:,} | +{P1_64 - P1_32:,} 🔴 |" in out
    assert "| # | model | module | output |" in out


def test_cli_csv_is_long_format(pair):
    code, out = run("compare", *pair, "--imgsz", "64", "--format", "csv")
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    params = [r for r in rows if r["section"] == "totals" and r["figure"] == "params"]
    assert [(r["model"], r["value"], r["delta"]) for r in params] == [
        ("narrow", str(P0 + P1_32), ""), ("wide", str(P0 + P1_64), str(P1_64 - P1_32))]
    layer = [r for r in rows if r["section"] == "layer" and r["key"] == "1" and r["figure"] == "mac_flops"]
    assert layer == []  # layer rows carry the layer figures only
    flops = [r for r in rows if r["section"] == "layer" and r["key"] == "1" and r["figure"] == "params"]
    assert flops[1]["delta"] == str(P1_64 - P1_32)


def test_cli_json_to_a_file(tmp_path, pair):
    out_file = tmp_path / "cmp.json"
    code, out = run("compare", *pair, "--imgsz", "64", "-o", out_file)
    assert code == 0, out
    data = json.loads(out_file.read_text())
    assert data["schema"] == "archscope.compare/1" and data["alignment"] == "index"
    assert [m["label"] for m in data["models"]] == ["narrow", "wide"]


@pytest.mark.parametrize("make_args, fragment", [
    (lambda p, t: [p[0]], "compare needs at least two models"),
    (lambda p, t: [p[0], t / "missing.yaml"], "missing.yaml: no such file"),
    (lambda p, t: [p[0], f"{SAMPLE}:zz"], "tiny-detector.yaml: unknown scale 'zz'"),
    (lambda p, t: [p[0], t / "not-a-report.json"], "not-a-report.json: not an archscope report"),
    (lambda p, t: [p[0], f"{t / 'not-a-report.json'}:n"], "a report JSON has its scale fixed"),
    (lambda p, t: [p[0], t / "newer.json"], "newer archscope"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, pair, make_args, fragment):
    (tmp_path / "not-a-report.json").write_text('{"model": "x"}')
    (tmp_path / "newer.json").write_text('{"schema": "archscope.report/7"}')
    target = tmp_path / "out.md"
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out = run("compare", *make_args(pair, tmp_path), "--imgsz", "64", "-o", target, "--plot",
                    tmp_path / "roof.png")
    assert code == 2, out
    assert len(out.strip().splitlines()) == 1 and "Traceback" not in out
    assert fragment in out
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, not even half


def test_api_needs_two_models(pair):
    with pytest.raises(ArchscopeError, match="at least two"):
        api.compare([pair[0]])


def test_profile_accepts_format_markdown():
    code, out = run("profile", SAMPLE, "--imgsz", "64", "--format", "markdown")
    assert code == 0, out
    assert out.startswith("**tiny-detector (scale n)") and "| # | from |" in out


def test_report_json_inputs_compare_without_importing_torch(tmp_path, pair):
    for name, path in zip(("a", "b"), pair):
        assert run("profile", path, "--imgsz", "64", "--device-spec", "cpu", "-o", tmp_path / f"{name}.json")[0] == 0
    code = ("import sys; from archscope.cli.app import main; sys.argv = ['archscope', 'compare', 'a.json', 'b.json', "
            "'--format', 'json']\ntry:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "assert 'torch' not in sys.modules, 'torch imported'")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["predicted"] == "per-op"  # both profiled on cpu: their own per-op times

"""archscope sweep: the engine's points equal individual profiles and the conv-FLOPs formula at every size, the
workers give the same points as one process, the crossover finder on series whose flips are known by hand, the
outputs (table within 80 columns, JSON, CSV, the plot as a PNG) and bad input as one line, exit 2."""

from __future__ import annotations

import csv
import io
import json
import struct
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archscope.api as api
from archscope.analysis.sweep import PointTask, SweepSettings, chunks, parse_sizes, run_points
from archscope.cli.app import app
from archscope.compare.sweep import find_crossovers, flips, pair_crossovers
from archscope.errors import ArchscopeError
from archscope.render.sweep import render_sweep
from archscope.reports.sweep import SweepModel, SweepPoint, SweepReport

runner = CliRunner()

# Conv = Conv2d (no bias) + BN + SiLU; widths are multiples of 8 so that no channel rounding applies (scale-free YAML)
CONVNET = """\
nc: 2
backbone:
  - [-1, 1, Conv, [8, 3, 2]]    # 0: 3 -> 8, 3x3, stride 2
  - [-1, 1, Conv, [16, 3, 2]]   # 1: 8 -> 16, 3x3, stride 2
  - [-1, 1, Conv, [16, 1, 1]]   # 2: 16 -> 16, 1x1
head:
  - [-1, 1, Conv, [8, 1, 1]]    # 3: 16 -> 8, 1x1
"""
# many channels, no attention; and few channels with full attention at stride 8 (tokens grow as size^2)
WIDE = """\
nc: 2
backbone:
  - [-1, 1, Conv, [32, 3, 2]]
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, Conv, [64, 3, 2]]
head:
  - [-1, 1, Conv, [64, 3, 1]]
"""
ATTENTION = """\
nc: 2
backbone:
  - [-1, 1, Conv, [16, 3, 2]]
  - [-1, 1, Conv, [32, 3, 2]]
  - [-1, 1, Conv, [32, 3, 2]]
head:
  - [-1, 1, MultiHeadAttentionLayerWithDownSampling, [2, 16, 16, 1, 1, 1]]
"""


def conv_mac_flops(size: int, batch: int) -> int:
    """2 x (k*k*c1*c2*Ho*Wo) summed over CONVNET's four convs, by hand."""
    h1, h2 = size // 2, size // 4
    macs = 9 * 3 * 8 * h1 * h1 + 9 * 8 * 16 * h2 * h2 + 16 * 16 * h2 * h2 + 16 * 8 * h2 * h2
    return 2 * batch * macs


def conv_params() -> int:
    """Conv weights plus BN's weight and bias per output channel."""
    return sum(k * k * c1 * c2 + 2 * c2 for k, c1, c2 in ((3, 3, 8), (3, 8, 16), (1, 16, 16), (1, 16, 8)))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    paths = {}
    for name, text in (("convnet", CONVNET), ("wide", WIDE), ("attn", ATTENTION)):
        paths[name] = folder / f"{name}.yaml"
        paths[name].write_text(text)
    return paths


# ------------------------------------------------------------------------------------------------ sizes

def test_sizes_lists_and_ranges():
    assert parse_sizes("224,256,320") == [224, 256, 320]
    assert parse_sizes("256:512:128") == [256, 384, 512]  # stop included
    assert parse_sizes("320, 224,256:320:32") == [224, 256, 288, 320]  # sorted, no repeats
    assert parse_sizes(640) == [640]
    assert parse_sizes([320, 224]) == [224, 320]


@pytest.mark.parametrize("bad", ["", "224,,256", "abc", "224x256", "-32", "0", "512:256:32", "256:512:0",
                                 "256:512", "1:2:3:4", "1:100000000:1", "1.5"])
def test_bad_sizes_are_refused(bad):
    with pytest.raises(ArchscopeError, match="imgsz"):
        parse_sizes(bad)


def test_chunks_cover_every_task_once_in_order():
    tasks = [PointTask("m", "m.yaml", None, s, 1) for s in range(0, 330, 32)]
    for jobs in (1, 2, 3, 50):
        pieces = chunks(tasks, jobs)
        assert [t for p in pieces for t in p] == tasks
        assert len(pieces) <= 4 * jobs and max(map(len, pieces)) - min(map(len, pieces)) <= 1


# ------------------------------------------------------------------------------------------------ engine

def test_points_equal_the_formula_and_individual_profiles(models):
    sizes, batches = [32, 64, 96], [1, 2]
    report = api.sweep([str(models["convnet"])], imgsz=sizes, batch=[1, 2], device_spec="rpi5")
    assert len(report.points) == len(sizes) * len(batches)
    for batch in batches:
        for size in sizes:
            point = report.point("convnet", size, batch)
            assert point is not None and point.imgsz == [size, size]
            assert point.mac_flops == conv_mac_flops(size, batch)
            assert point.params == conv_params() == 1848
            alone = api.profile(str(models["convnet"]), imgsz=size, batch=batch, device_spec="rpi5")
            t = alone.totals
            assert (point.flops, point.bytes_unfused, point.bytes_fused, point.peak_activation_bytes) == \
                   (t.flops, t.bytes_unfused, t.bytes_fused, t.peak_activation_bytes)
            assert point.predicted_ms == pytest.approx(t.predicted_ms, rel=1e-12)
    # batch 2 is twice batch 1 for every additive figure
    for size in sizes:
        one, two = report.point("convnet", size, 1), report.point("convnet", size, 2)
        assert two.flops == 2 * one.flops and two.bytes_unfused > one.bytes_unfused


SAMPLES = Path(__file__).resolve().parents[1] / "sample_configs"


@pytest.mark.parametrize("name", ["yolov8n-mqa-kv2.yaml", "rtdetr-l-mqa.yaml", "tiny-detector.yaml"])
def test_one_build_reshaped_per_point_counts_as_a_fresh_profile(name):
    """The engine builds a model once and re-runs only the shape pass for the next point: heads that cache anchors
    by shape (Detect, RTDETRDecoder) and AIFI-like position embeddings must give what a fresh profile gives, in any
    order of sizes and batches."""
    path = str(SAMPLES / name)
    tasks = [PointTask("m", path, None, size, batch) for size, batch in ((256, 1), (128, 2), (320, 1), (128, 1))]
    for task, point in zip(tasks, run_points(tasks, SweepSettings(device_spec="cpu"))):
        t = api.profile(path, imgsz=task.size, batch=task.batch, device_spec="cpu").totals
        assert (point.flops, point.mac_flops, point.attention_flops, point.bytes_unfused, point.bytes_fused,
                point.attention_bytes, point.attention_bytes_fused, point.peak_activation_bytes, point.params) == \
               (t.flops, t.mac_flops, t.attention_flops, t.bytes_unfused, t.bytes_fused, t.attention_bytes,
                t.attention_bytes_fused, t.peak_activation_bytes, t.params)
        assert point.predicted_ms == pytest.approx(t.predicted_ms, rel=1e-12)


def test_a_file_changed_between_sweeps_is_read_again(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(CONVNET)
    first = api.sweep([str(path)], imgsz="32").points[0]
    path.write_text(CONVNET.replace("[8, 1, 1]]    # 3", "[16, 1, 1]]    # 3"))
    second = api.sweep([str(path)], imgsz="32").points[0]
    assert second.params == first.params + 16 * 8 + 2 * 8


def test_workers_give_the_same_points_in_the_same_order(models):
    tasks = [PointTask(n, str(models[n]), None, s, b) for n in ("convnet", "attn") for s in (32, 64, 128)
             for b in (1, 2)]
    one = run_points(tasks, SweepSettings(device_spec="cpu"), jobs=1)
    two = run_points(tasks, SweepSettings(device_spec="cpu"), jobs=2)
    assert one == two
    assert [(p.model, p.size, p.batch) for p in two] == [(t.label, t.size, t.batch) for t in tasks]


def test_a_size_the_model_cannot_take_names_the_point(models):
    with pytest.raises(ArchscopeError, match=r"at imgsz 34, batch 1: .*not divisible"):
        api.sweep([str(models["convnet"])], imgsz="32,34")
    with pytest.raises(ArchscopeError, match="jobs"):
        run_points([PointTask("m", str(models["convnet"]), None, 32, 1)], SweepSettings(), jobs=0)


# ------------------------------------------------------------------------------------------------ crossovers

def test_flips_interpolate_between_points():
    # second - first: -0.5 at 100, +0.5 at 200: the lines cross half-way
    assert flips([100, 200, 300], [1, 2, 3], [0.5, 2.5, 4]) == [(150, 100, 200, -1)]
    # -1 at 100, +3 at 200: a quarter of the way
    assert flips([100, 200], [2, 2], [1, 5]) == [(125, 100, 200, -1)]
    # equal at 200, the order differs on both sides: the crossover is at that point
    assert flips([100, 200, 300], [1, 2, 3], [0.5, 2, 3.5]) == [(200, 100, 300, -1)]
    # equal at 200 but the same order on both sides: a touch, no flip; never ahead, no flip
    assert flips([100, 200, 300], [1, 2, 3], [0.5, 2, 2.5]) == []
    assert flips([100, 200, 300], [1, 2, 3], [2, 3, 4]) == []
    # two flips: second slower, then faster, then slower again
    # (-1 at 3, +2 at 4: a third of the way)
    assert flips([1, 2, 3, 4], [10, 10, 10, 10], [11, 9, 9, 12]) == [(1.5, 1, 2, 1),
                                                                    (pytest.approx(3 + 1 / 3), 3, 4, -1)]
    with pytest.raises(ValueError):
        flips([200, 100], [1, 2], [2, 1])


def _synthetic(times: dict[str, list[float]], sizes=(224, 320, 416)) -> SweepReport:
    points = [SweepPoint(model=m, imgsz=[s, s], batch=1, params=1, flops=1, mac_flops=1, attention_flops=0,
                         bytes_unfused=1, bytes_fused=1, attention_bytes=0, attention_bytes_fused=0,
                         peak_activation_bytes=1, predicted_ms=t) for m, ts in times.items() for s, t in zip(sizes, ts)]
    return SweepReport(models=[SweepModel(m, f"{m}.yaml", m, None, 1) for m in times], points=points,
                       device_spec="edge", predicted_unit="ms", dtype="fp32", imgsz=list(sizes), batches=[1])


def test_crossover_messages_name_the_flip_and_the_winner():
    report = _synthetic({"mhsa": [2.0, 4.0, 8.0], "mqa": [1.0, 3.0, 10.0], "kv2": [0.5, 1.0, 2.0]})
    found = find_crossovers(report)
    assert [(c.first, c.second) for c in found] == [("mhsa", "mqa"), ("mhsa", "kv2"), ("mqa", "kv2")]
    flip = found[0]
    # mqa - mhsa: -1 at 320, +2 at 416: one third of the way from 320 to 416
    assert flip.at_px == pytest.approx(352.0) and flip.between_px == [320, 416]
    assert (flip.faster_below, flip.faster_above) == ("mqa", "mhsa")
    assert flip.message.startswith("mqa stops paying off over mhsa above 352 px (predicted on edge, batch 1")
    assert flip.ratio_range == [pytest.approx(0.5), pytest.approx(1.25)]
    assert found[1].at_px is None and found[1].faster_below == "kv2"
    assert found[1].message.startswith("kv2 is faster than mhsa at every size swept, 224 px to 416 px")
    # the other way round: the later model starts paying off
    later = pair_crossovers(_synthetic({"a": [1.0, 2.0, 3.0], "b": [2.0, 2.5, 2.0]}), "a", "b", 1, "predicted")
    assert later[0].message.startswith("b starts paying off over a above")
    same = pair_crossovers(_synthetic({"a": [1.0, 2.0, 3.0], "b": [1.0, 2.0, 3.0]}), "a", "b", 1, "predicted")
    assert same[0].message.startswith("b and a take the same time at every size")


def test_the_sweep_finds_the_crossover_of_real_models_where_independent_profiles_put_it(models):
    sizes = [64, 128, 192, 256, 320]
    report = api.sweep([str(models["wide"]), str(models["attn"])], imgsz=sizes, device_spec="cpu")
    [crossover] = report.crossovers
    wide = [api.profile(str(models["wide"]), imgsz=s, device_spec="cpu").totals.predicted_ms for s in sizes]
    attn = [api.profile(str(models["attn"]), imgsz=s, device_spec="cpu").totals.predicted_ms for s in sizes]
    k = next(i for i in range(len(sizes)) if attn[i] > wide[i])  # the first size where attention is slower
    assert attn[k - 1] < wide[k - 1]
    d0, d1 = attn[k - 1] - wide[k - 1], attn[k] - wide[k]
    expected = sizes[k - 1] + (sizes[k] - sizes[k - 1]) * d0 / (d0 - d1)
    assert crossover.at_px == pytest.approx(expected, abs=0.05)
    assert crossover.between_px == [sizes[k - 1], sizes[k]] and crossover.faster_below == "attn"
    assert report.findings == [crossover.message]


# ------------------------------------------------------------------------------------------------ bench

def test_bench_times_each_point_and_keeps_the_refused_ones(models):
    calls = []

    def measure(source, **options):
        calls.append((source.path, options["imgsz"], options["batch"], options["runs"], options["warmup"]))
        if options["imgsz"] == 96:
            raise ArchscopeError("batch 1 at 96x96 fp32 needs about 9 GiB on cpu but only 1 GiB is free")
        return options["imgsz"] / 10

    report = api.sweep([str(models["convnet"])], imgsz="32,64,96", bench=True, measure=measure)
    assert [c[1:] for c in calls] == [(32, 1, 5, 1), (64, 1, 5, 1), (96, 1, 5, 1)]  # small runs count by default
    assert [p.measured_ms for p in report.points] == [3.2, 6.4, None]
    assert "needs about 9 GiB" in report.points[2].not_measured
    assert report.bench["runs"] == 5 and any("1 of 3 points not timed" in n for n in report.notes)


def test_bench_on_the_cpu_for_real(models):
    report = api.sweep([str(models["convnet"])], imgsz="32,64", bench=True, bench_device="cpu", threads=1, runs=2,
                       warmup=0)
    assert all(p.measured_ms and p.measured_ms > 0 and p.measured_runs == 2 for p in report.points)


# ------------------------------------------------------------------------------------------------ outputs

def test_json_reads_back_and_csv_has_one_row_per_point(models, tmp_path):
    out = tmp_path / "s.json"
    result = runner.invoke(app, ["sweep", str(models["wide"]), str(models["attn"]), "--imgsz", "64:320:64",
                                 "--batch", "1,2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["schema"] == "archscope.sweep/1" and len(data["points"]) == 2 * 5 * 2
    back = SweepReport.from_dict(data)
    assert back.to_dict() == data
    assert len(back.crossovers) == 2 and all(c.at_px for c in back.crossovers)  # both batches flip
    result = runner.invoke(app, ["sweep", str(models["wide"]), str(models["attn"]), "--imgsz", "64:320:64",
                                 "-f", "csv"])
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 10 and rows[0]["model"] == "wide" and rows[0]["vs_first"] == "1.0"
    assert {r["imgsz_h"] for r in rows} == {"64", "128", "192", "256", "320"}
    assert float(rows[1]["predicted_ms"]) == back.point("attn", 64, 1).predicted_ms
    result = runner.invoke(app, ["sweep", str(models["wide"]), str(models["attn"]), "--imgsz", "64,320", "-f", "md"])
    lines = result.stdout.splitlines()
    assert lines[2] == "| model | imgsz | batch | GFLOPs | MB moved | attn MB | pred ms | x first |"
    assert len([line for line in lines if line.startswith("| wide |") or line.startswith("| attn |")]) == 4
    assert any(line.startswith("- crossover: attn stops paying off over wide above") for line in lines)


def test_the_table_fits_80_columns_and_names_the_crossover(models):
    result = runner.invoke(app, ["sweep", str(models["wide"]), str(models["attn"]), "--imgsz", "64:320:64"],
                           env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    header = next(i for i, line in enumerate(lines) if line.startswith("model"))
    assert "attention eager" in " ".join(lines[:header])  # the headline, wrapped at 80 columns, says the mode
    assert lines[header].split() == ["model", "imgsz", "batch", "GFLOPs", "MB", "moved", "attn", "MB", "pred", "ms",
                                     "x", "first"]
    assert "crossover: attn stops paying off over wide above" in result.stdout


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_the_plot_is_written(models, tmp_path):
    pytest.importorskip("matplotlib")
    png, svg = tmp_path / "s.png", tmp_path / "s.svg"
    for path in (png, svg):
        result = runner.invoke(app, ["sweep", str(models["wide"]), str(models["attn"]), "--imgsz", "64:320:64",
                                     "--batch", "1,2", "--plot", str(path)])
        assert result.exit_code == 0, result.output
    width, height = _png_size(png.read_bytes())
    assert width > 1000 and height > 800  # two batch columns, three panels
    assert "<svg" in svg.read_text()
    from archscope.render.sweep_plot import sweep_figure

    fig = sweep_figure(api.sweep([str(models["wide"]), str(models["attn"])], imgsz="64:320:64"))
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert labels[:3] == ["predicted time per forward (ms)", "predicted time / wide\n(below 1: faster)",
                          "memory traffic per forward (MB, unfused)"]
    assert fig.axes[2].get_xlabel() == "image size (px, square input)"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["wide", "attn", "predicted-time crossover (numbered below)"]
    numbers = [t.get_text() for t in fig.axes[0].texts]
    assert numbers == ["1"]  # the one flip, numbered on the time panel


@pytest.mark.parametrize("args, words", [
    (["--imgsz", "224,abc"], "--imgsz must be a comma-separated list"),
    (["--imgsz", "512:256:32"], "start <= stop"),
    (["--batch", "0"], "--batch must be a positive integer"),
    (["--jobs", "0"], "--jobs must be a positive integer"),
    (["--device-spec", "nosuch"], "nosuch"),
    (["--plot", "x.gif"], "--plot must end in"),
    (["-o", "x.html"], "sweep writes table, json, csv or md"),
    (["--bench", "--threads", "0", "--imgsz", "32"], "--threads must be an integer >= 1"),
    (["--bench", "--runs", "0", "--imgsz", "32"], "--runs must be a positive integer"),
    (["--bench", "--device", "cuda:7", "--imgsz", "32"], "--device cuda:7"),
])
def test_bad_input_is_one_line_exit_2(models, args, words):
    result = runner.invoke(app, ["sweep", str(models["convnet"]), *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("archscope: error: ") and words in lines[0], lines
    assert "Traceback" not in result.output


def test_a_missing_model_file_is_one_line(tmp_path):
    result = runner.invoke(app, ["sweep", str(tmp_path / "nope.yaml"), "--imgsz", "64"])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "nope.yaml" in result.stderr


def test_the_report_prints_as_a_table_in_python(models):
    report = api.sweep([str(models["convnet"])], imgsz="32,64")
    text = textwrap.dedent(str(report))
    assert text.startswith("sweep of convnet: 2 sizes 32-64 px")


def test_the_plot_with_measured_times_draws_them_dashed():
    pytest.importorskip("matplotlib")
    from archscope.render.sweep_plot import sweep_figure

    report = _synthetic({"mhsa": [2.0, 4.0, 8.0], "mqa": [1.0, 3.0, 10.0]})
    for p in report.points:
        p.measured_ms = p.predicted_ms * 3
    report.crossovers = find_crossovers(report)
    assert [c.basis for c in report.crossovers] == ["predicted", "measured"]
    fig = sweep_figure(report)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["mhsa (predicted)", "mhsa (measured)", "mqa (predicted)", "mqa (measured)",
                      "predicted-time crossover (numbered below)"]
    dashed = [line for line in fig.axes[0].get_lines() if line.get_linestyle() == "--"]
    assert [list(line.get_ydata()) for line in dashed] == [[6.0, 12.0, 24.0], [3.0, 9.0, 30.0]]
    ratio = [line for line in fig.axes[1].get_lines() if line.get_linestyle() == "--"]
    assert [list(line.get_ydata()) for line in ratio] == [[0.5, 0.75, 1.25]]
    assert fig.axes[1].get_ylabel().startswith("time / mhsa")
    assert "mqa stops paying off over mhsa above 352 px" in fig._supxlabel.get_text()


def test_layer_figures_are_the_profiles_layer_row_and_drive_the_crossovers(models):
    path = str(SAMPLES / "yolov8n-mqa.yaml")
    report = api.sweep([str(SAMPLES / "yolov8n-mhsa.yaml"), path], imgsz="128,256", layer=7, device_spec="cpu")
    assert report.layer == 7 and report.to_dict()["layer"] == 7
    for size in (128, 256):
        row = api.profile(path, imgsz=size, device_spec="cpu").layers[7]
        point = report.point("yolov8n-mqa", size, 1)
        assert (point.layer_module, point.layer_flops, point.layer_bytes_unfused, point.layer_attention_bytes,
                point.layer_attention_bytes_fused) == (row.module, row.flops, row.bytes_unfused, row.attention_bytes,
                                                       row.attention_bytes_fused)
        assert point.layer_predicted_ms == pytest.approx(row.predicted_ms, rel=1e-12)
    assert report.series("yolov8n-mqa", 1) == [(s, report.point("yolov8n-mqa", s, 1).layer_predicted_ms)
                                               for s in (128, 256)]
    assert "(layer 7's time, predicted on cpu, batch 1;" in report.findings[0]
    with pytest.raises(ArchscopeError, match="--layer 99: the model has layers 0 to 23"):
        api.sweep([path], imgsz="128", layer=99)


def test_bench_with_a_layer_times_it_alone(models):
    def measure(source, **options):
        assert options["per_layer"] is True
        return options["imgsz"] / 10, options["imgsz"] / 100

    report = api.sweep([str(models["convnet"])], imgsz="32,64", layer=1, bench=True, measure=measure)
    assert [(p.measured_ms, p.layer_measured_ms) for p in report.points] == [(3.2, 0.32), (6.4, 0.64)]
    assert report.series("convnet", 1, "measured") == [(32, 0.32), (64, 0.64)]
    header = next(line for line in render_sweep(report, "table", width=200).splitlines() if line.startswith("model"))
    assert header.split("  ")[-4:] == ["L1 pred ms", "L1 x first", "L1 meas ms", "L1 meas x"]


def test_attention_mode_reaches_every_point_and_the_report():
    """--attention fused leaves the score matrices out of the predicted time of the attention layer only: the
    fused time of layer 7 equals what profile predicts with the same mode (an independent run), and the report,
    its JSON and its headline say which mode ran."""
    from archscope.render.sweep import headline
    from archscope.reports.sweep import SweepReport

    mhsa = str(SAMPLES / "yolov8n-mhsa.yaml")
    eager = api.sweep([mhsa], imgsz="128,256", device_spec="pixel8-edgetpu", dtype="int8", layer=7,
                      attention="eager")
    fused = api.sweep([mhsa], imgsz="128,256", device_spec="pixel8-edgetpu", dtype="int8", layer=7,
                      attention="fused")
    assert (eager.attention, fused.attention) == ("eager", "fused")
    for e, f in zip(eager.points, fused.points):
        assert f.layer_predicted_ms < e.layer_predicted_ms
        direct = api.profile(mhsa, imgsz=f.size, device_spec="pixel8-edgetpu", dtype="int8", attention="fused")
        assert f.layer_predicted_ms == pytest.approx(direct.layers[7].predicted_ms, rel=1e-12)
    assert SweepReport.from_dict(fused.to_dict()).attention == "fused"
    assert "attention fused" in headline(fused)
    assert api.sweep([mhsa], imgsz="128", device_spec="pixel8-edgetpu", dtype="int8").attention == "fused"

"""The roofline calibrated per op class: the ATen op -> class mapping, the per-class roofline on a hand-made device
file (hand-computed times), the device file with and without its table, the prediction-error statistics, and
calibrate's op-class loop on a fake clock. No timed assertion here."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from archscope.analysis import costs
from archscope.analysis.records import OpRecord
from archscope.devices import calibrate as cal
from archscope.devices.roofline import roofline
from archscope.devices.spec import ClassRate, DeviceSpec, device_from_dict, load_device_file, save_device
from archscope.errors import ArchscopeError
from archscope.reports.bench import BatchStats, LayerTiming, prediction_error
from archscope.util.stats import median_factor, ranks, spearman
from archscope.vocab import OP_CLASSES

SAMPLES = Path(__file__).resolve().parent.parent / "sample_configs"
aten = torch.ops.aten


# ------------------------------------------------------------------------------------------ op -> class mapping
def test_every_builtin_cost_names_a_known_class_and_data_movement_is_copy():
    for packet, cost in costs.registered_ops().items():
        assert cost.op_class in OP_CLASSES, packet  # archscope's own formulas all name a class
    for packet in costs.DATA_MOVEMENT:
        assert costs.op_class(packet) == "copy", packet
    assert costs.op_class(aten.empty) == ""  # no traffic, no class
    assert costs.op_class(aten.view) == ""


def test_a_convolution_is_depthwise_by_its_weight():
    x = torch.empty(1, 64, 8, 8, device="meta")
    dw = torch.empty(64, 1, 3, 3, device="meta")
    dense = torch.empty(32, 64, 3, 3, device="meta")
    grouped = torch.empty(64, 8, 3, 3, device="meta")
    assert costs.op_class(aten.convolution, (x, dw)) == "depthwise_conv"
    assert costs.op_class(aten.convolution, (x, dense)) == "conv"
    assert costs.op_class(aten.convolution, (x, grouped)) == "conv"
    one_channel = torch.empty(1, 1, 8, 8, device="meta")
    assert costs.op_class(aten.convolution, (one_channel, torch.empty(8, 1, 3, 3, device="meta"))) == "conv"
    transposed = (x, dw, None, [1, 1], [0, 0], [1, 1], True, [0, 0], 64)
    assert costs.op_class(aten.convolution, transposed) == "conv"
    assert costs.op_class(aten.convolution) == "conv"  # without the call's arguments


def test_a_user_cost_may_name_a_class_and_a_wrong_one_is_refused():
    with pytest.raises(ValueError, match="op_class must be one of"):
        costs.register_op_cost(aten.erfinv, lambda a, k, o: 1, op_class="gemm")
    costs.register_op_cost(aten.erfinv, lambda a, k, o: 1, op_class="elementwise")
    try:
        assert costs.op_class(aten.erfinv) == "elementwise"
    finally:
        costs.unregister_op_cost(aten.erfinv)
    assert costs.op_class(aten.erfinv) == ""


def _ops_of(name: str, imgsz: int = 320) -> list[OpRecord]:
    from archscope.analysis.analyze import analyze
    from archscope.build.builder import BuildOptions, build_model
    from archscope.spec.model_spec import load_spec

    built = build_model(load_spec(str(SAMPLES / name)), BuildOptions(imgsz=(imgsz, imgsz)))
    return analyze(built, legacy=False).ops


@pytest.mark.parametrize("name, expected", [
    # op name -> the class its records carry, for the ops these models run
    ("yolov8n-mqa.yaml", {"convolution": {"conv"}, "silu": {"elementwise"}, "cat": {"copy"},
                          "upsample_nearest2d": {"resize"}, "max_pool2d_with_indices": {"pooling"},
                          "bmm": {"matmul"}, "_softmax": {"softmax_norm"}}),
    ("yolov8n-iRMB.yaml", {"convolution": {"conv", "depthwise_conv"}}),
    ("yolov5n-C3_UIB.yaml", {"convolution": {"conv", "depthwise_conv"}}),
])
def test_the_records_of_real_models_carry_their_class(name, expected):
    ops = _ops_of(name)
    seen: dict[str, set[str]] = {}
    for op in ops:
        seen.setdefault(op.op, set()).add(op.op_class)
        if op.op == "convolution":
            assert op.op_class in ("conv", "depthwise_conv")
    for op_name, classes in expected.items():
        assert seen.get(op_name) == classes, (op_name, seen.get(op_name))
    moving = [op for op in ops if op.bytes and not op.op_class]
    assert not moving, sorted({op.op for op in moving})  # every op that moves bytes has a class


def test_the_depthwise_records_are_the_convolutions_with_one_input_channel_per_group():
    ops = [op for op in _ops_of("yolov8n-iRMB.yaml") if op.op == "convolution"]
    dw = [op for op in ops if op.op_class == "depthwise_conv"]
    assert dw and len(dw) < len(ops)
    # a depthwise k x k conv costs 2 k^2 FLOPs per output element: far less than a dense one per byte
    assert max(op.mac_flops / op.bytes for op in dw) < max(op.mac_flops / op.bytes for op in ops if op not in dw)


# ------------------------------------------------------------------------------- the per-class roofline, by hand
DEVICE_YAML = """\
name: hand-made
peak_flops: {fp32: 1.0e+12}
bandwidth: 1.0e+11
source: a test
op_classes:
  fp32:
    conv: {flops_per_s: 1.0e+11, bytes_per_s: 1.0e+10, overhead_s: 1.0e-05}
    elementwise: {flops_per_s: 1.0e+12, bytes_per_s: 2.0e+10}
    copy:
      flops_per_s: 1.0e+12
      bytes_per_s: 1.0e+10
      driver: bytes
      by_size: [[1.0e+06, 1.0e+10], [4.0e+06, 4.0e+10]]
"""


@pytest.fixture()
def hand_device(tmp_path) -> DeviceSpec:
    path = tmp_path / "hand.yaml"
    path.write_text(DEVICE_YAML)
    return load_device_file(path)


def test_the_roofline_uses_each_class_figures(hand_device):
    ops = [
        # conv: 1e9 FLOPs / 1e11 = 10 ms (compute) vs 1e6 B / 1e10 = 0.1 ms; + 0.01 ms overhead = 10.01 ms
        OpRecord("convolution", 0, "conv", 1_000_000_000, 0, 600_000, 400_000, op_class="conv"),
        # elementwise: 4e6 B / 2e10 = 0.2 ms (memory) vs 1e6 / 1e12 = 0.001 ms
        OpRecord("silu", 0, "act", 0, 1_000_000, 2_000_000, 2_000_000, op_class="elementwise"),
        # copy of 2e6 B: between the sizes 1e6 and 4e6 ... (see below)
        OpRecord("cat", 1, "", 0, 0, 1_000_000, 1_000_000, op_class="copy"),
        # no class: the device's one figures, 1e6 B / 1e11 = 0.01 ms
        OpRecord("mystery", 1, "", 0, 0, 500_000, 500_000, op_class=""),
        # a class the table lacks: the one figures too, 1e9 / 1e12 = 1 ms
        OpRecord("bmm", 1, "", 1_000_000_000, 0, 1_000, 1_000, op_class="matmul"),
    ]
    result = roofline(hand_device, "fp32", ops)
    layer0, layer1 = result.layer(0), result.layer(1)
    assert layer0.predicted_ms == pytest.approx(10.01 + 0.2)
    assert layer0.bound == "compute"
    assert layer0.compute_ms == pytest.approx(10.0 + 0.001)
    assert layer0.memory_ms == pytest.approx(0.1 + 0.2)
    # 2e6 B lies at the geometric middle of 1e6 and 4e6 ... no: ln(2e6) is 1/2 of the way in log: equal weights
    # exp(-0.5 (ln 2 / ln 2)^2) for both, so the rate is the geometric mean of 1e10 and 4e10 = 2e10 B/s: 0.1 ms
    copy_ms = 2e6 / 2e10 * 1e3
    assert layer1.predicted_ms == pytest.approx(copy_ms + 0.01 + 1.0)
    assert result.predicted_ms == pytest.approx(10.21 + copy_ms + 1.01)


def test_a_size_table_holds_its_end_rates_outside_the_measured_sizes(hand_device):
    rate = hand_device.class_rate("fp32", "copy")
    assert rate is not None and rate.driver == "bytes"
    small, large = rate.rate_at(10.0)[1], rate.rate_at(1e9)[1]
    w_near, w_far = 1.0, math.exp(-0.5 * (math.log(4) / math.log(2)) ** 2)  # at 1e6: itself and 4e6 two widths off
    assert small == pytest.approx(math.exp((w_near * math.log(1e10) + w_far * math.log(4e10)) / (w_near + w_far)))
    assert large == pytest.approx(math.exp((w_far * math.log(1e10) + w_near * math.log(4e10)) / (w_near + w_far)))
    assert rate.rate_at(1e9)[0] == 1e12  # the other roof is the entry's own figure


def test_without_a_table_the_roofline_is_the_one_peak_one(hand_device):
    import dataclasses

    plain = dataclasses.replace(hand_device, op_classes={})
    op = OpRecord("convolution", 0, "", 1_000_000_000, 0, 600_000, 400_000, op_class="conv")
    assert roofline(plain, "fp32", [op]).predicted_ms == pytest.approx(1.0)  # 1e9 / 1e12
    assert hand_device.class_rate("fp16", "conv") is None  # another dtype: no table
    assert roofline(hand_device, "fp32", [op]).predicted_ms == pytest.approx(10.01)


# ------------------------------------------------------------------------------------ the device file round trip
def test_a_device_file_round_trips_with_its_table(tmp_path, hand_device):
    path = save_device(hand_device, tmp_path / "again.yaml")
    again = load_device_file(path)
    assert again == hand_device
    assert again.op_classes["fp32"]["copy"].by_size == ((1e6, 1e10), (4e6, 4e10))
    assert again.op_classes["fp32"]["conv"] == ClassRate(1e11, 1e10, 1e-5)


def test_a_device_file_without_a_table_keeps_working(tmp_path):
    from archscope.devices.presets import get_preset

    spec = get_preset("cpu")
    assert spec.op_classes == {} and "op_classes" not in spec.to_dict()
    again = load_device_file(save_device(spec, tmp_path / "cpu.yaml"))
    assert again == spec and "op_classes" not in (tmp_path / "cpu.yaml").read_text()


@pytest.mark.parametrize("table, message", [
    ({"fp32": {"gemm": {"flops_per_s": 1, "bytes_per_s": 1}}}, "unknown op class 'gemm'"),
    ({"fp32": {"conv": {"flops_per_s": -1, "bytes_per_s": 1}}}, "op_classes.fp32.conv.flops_per_s must be"),
    ({"fp32": {"conv": {"flops_per_s": 1}}}, "must be a mapping with flops_per_s, bytes_per_s"),
    ({"fp32": {"conv": {"flops_per_s": 1, "bytes_per_s": 1, "overhead_s": -2}}}, "overhead_s must be a number >= 0"),
    ({"fp32": {"copy": {"flops_per_s": 1, "bytes_per_s": 1, "by_size": [[1, 2]]}}}, "driver must be 'flops' or"),
    ({"fp32": {"copy": {"flops_per_s": 1, "bytes_per_s": 1, "driver": "bytes", "by_size": [[1]]}}},
     "by_size must be a list of"),
    ([1, 2], "'op_classes' must map a dtype"),
])
def test_a_bad_table_is_one_clear_error(tmp_path, table, message):
    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "peak_flops": {"fp32": 1e12}, "bandwidth": 1e11,
                                    "op_classes": table}))
    with pytest.raises(ArchscopeError, match=message) as info:
        load_device_file(path)
    assert info.value.file == str(path) and info.value.line is not None


# ------------------------------------------------------------------------------------------- the statistics
def test_spearman_known_values():
    assert spearman([1, 2, 3, 4, 5], [10, 20, 30, 40, 50]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks of y: 1, 2, 3.5, 5, 3.5; covariance of the ranks 8, variances 10 and 9.5
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95))
    assert ranks([3.0, 1.0, 3.0, 2.0]) == [3.5, 1.0, 3.5, 2.0]
    assert spearman([1, 2], [3, 3]) is None  # a constant series has no rank order
    assert spearman([1], [2]) is None


def test_median_factor_is_the_geometric_median_error():
    assert median_factor([2.0, 1.0, 1.0], [1.0, 1.0, 4.0]) == pytest.approx(2.0)  # |ln|: ln 2, 0, ln 4
    assert median_factor([1.0, 3.0], [2.0, 1.0]) == pytest.approx(math.sqrt(2 * 3))  # mean of ln 2 and ln 3
    assert median_factor([0.0, None], [1.0, 1.0]) is None  # nothing to compare  # type: ignore[list-item]


def _layer(index: int, measured: float, predicted: float | None) -> LayerTiming:
    return LayerTiming(index=index, from_=-1, module="Conv", median_ms=measured, mean_ms=measured, share=0.0,
                       flops=0, bytes=0, achieved_flops_per_s=None, achieved_bytes_per_s=None,
                       predicted_ms=predicted, vs_predicted=None)


def _stats(layers, median=10.0, predicted=9.0) -> BatchStats:
    return BatchStats(batch=1, median_ms=median, mean_ms=median, p10_ms=median, p90_ms=median, std_ms=0.0,
                      min_ms=median, max_ms=median, runs=3, outliers=0, images_per_s=100.0, flops=1, bytes=1,
                      achieved_flops_per_s=1.0, achieved_bytes_per_s=1.0, memory_estimate_bytes=1,
                      predicted_ms=predicted, layers=layers, layer_runs=3, layers_sum_ms=7.0)


def test_a_batch_reports_how_far_the_prediction_is():
    stats = _stats([_layer(0, 4.0, 2.0), _layer(1, 1.0, 1.0), _layer(2, 2.0, 8.0), _layer(3, 0.5, None)])
    error = prediction_error(stats)
    assert error is not None and error.layers == 3  # the layer without a prediction is left out
    assert error.median_factor == pytest.approx(2.0)  # factors 2, 1, 4
    assert error.rank_correlation == pytest.approx(0.5)  # ranks (3, 1, 2) vs (2, 1, 3)
    assert error.whole_model_ratio == pytest.approx(0.9)
    d = stats.to_dict()["prediction_error"]
    assert d == {"layers": 3, "median_factor": pytest.approx(2.0), "rank_correlation": pytest.approx(0.5),
                 "whole_model_ratio": pytest.approx(0.9)}
    assert prediction_error(_stats(None)) is None
    assert prediction_error(_stats([_layer(0, 1.0, None)])) is None


def test_the_bench_rendering_says_how_far_the_prediction_is():
    from archscope.render.bench import prediction_line, to_csv
    from archscope.reports.bench import BenchEnvironment, BenchModel, BenchReport, BenchSettings

    stats = _stats([_layer(0, 4.0, 2.0), _layer(1, 1.0, 1.0), _layer(2, 2.0, 8.0)])
    line = prediction_line(stats)
    assert line == ("batch 1: prediction vs measurement over 3 layers: median error x2.00, rank correlation 0.50; "
                    "whole model predicted / measured 0.90")
    report = BenchReport(
        BenchModel("m.yaml", "m", None, [64, 64], 3, 80, 1, 3),
        BenchEnvironment("0", "2", "3.12", "Linux", "cpu", "cpu", "cpu", 1, "fp32"),
        BenchSettings("cpu", "fp32", [1], [64, 64], False, False, False, 1, 3, 0.0, 10, 0, True), [stats])
    text = report.__str__()
    assert "median error x2.00" in text.replace("\n", " ")
    rows = to_csv(report).splitlines()
    header = rows[0].split(",")
    assert rows[1].split(",")[header.index("pred_median_factor")] == "2.0"
    again = BenchReport.from_dict(report.to_dict())  # the derived figures are not read back, only recomputed
    assert again.batches[0].prediction_error == stats.prediction_error


# ------------------------------------------------------------------------------ calibrate's op-class loop, faked
class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.syncs = 0

    def __call__(self) -> float:
        return self.now

    def sync(self) -> None:
        self.syncs += 1


def _fake_case(clock: FakeClock, op_class: str, flops: int, nbytes: int, rate: float, overhead: float,
               quantity: str) -> cal.ClassCase:
    q = flops if quantity == "flops" else nbytes

    def make(device: str):
        assert device == "fake"

        def call():
            clock.now += overhead + q / rate

        return call

    return cal.ClassCase(op_class, f"{op_class} {q}", flops, nbytes, make)


def test_measure_classes_recovers_the_fake_rates_and_overheads():
    clock = FakeClock()
    cases = [_fake_case(clock, "conv", f, f // 10, 5e10, 2e-5, "flops") for f in (10**6, 10**7, 10**8)]
    cases += [_fake_case(clock, "copy", 0, b, 2e10, 0.0, "bytes") for b in (10**4, 10**6, 10**7)]
    result = cal.measure_classes(cases, 2.0, device="fake", synchronize=clock.sync, clock=clock, trials=3,
                                 repeats=3)
    conv, copy = result.fits["conv"], result.fits["copy"]
    assert (conv.driver, copy.driver) == ("flops", "bytes")
    assert conv.rate == pytest.approx(5e10, rel=1e-6) and conv.overhead_s == pytest.approx(2e-5, rel=1e-6)
    assert copy.rate == pytest.approx(2e10, rel=1e-6) and copy.overhead_s == pytest.approx(0.0, abs=1e-12)
    assert all(r == pytest.approx(5e10, rel=1e-6) for _, r in conv.by_size())
    assert conv.max_error() == pytest.approx(1.0)
    assert result.seconds["conv 1000000"] == pytest.approx(2e-5 + 1e6 / 5e10)
    assert clock.syncs > 0
    assert clock.now <= 2.0 * 1.05 + 3 * (2e-5 + 1e8 / 5e10)  # in budget (each case at least one timed call)
    rates = cal.class_rates(result.fits.values(), peak_flops=1e12, bandwidth=3e10)
    assert rates["conv"].bytes_per_s == 3e10 and rates["copy"].flops_per_s == 1e12  # the device's other roof


def test_fit_line_never_gives_a_negative_overhead():
    rate, overhead = cal.fit_line([(1.0, 1.0), (2.0, 3.0), (3.0, 5.0)])  # a line with intercept -1
    assert overhead == 0.0 and rate > 0
    rate, overhead = cal.fit_line([(1.0, 2.0), (3.0, 4.0)])  # exact: 1 + q
    assert rate == pytest.approx(1.0) and overhead == pytest.approx(1.0)
    with pytest.raises(ValueError):
        cal.fit_line([(0.0, 1.0)])


def test_calibrate_saves_the_op_class_table(monkeypatch, tmp_path):
    from tests.test_hardware import FakeAsyncDevice

    dev = FakeAsyncDevice(flops_per_s=2.0e11, bytes_per_s=4.0e10)
    dev.install(monkeypatch)
    clock = FakeClock()
    clock.now = 0.0

    def cases(classes=None):
        def case(op_class, q, rate):
            def make(device):
                def call():
                    dev.now += q / rate

                return call

            flops, nbytes = (q, q // 4) if cal.CLASS_DRIVER[op_class] == "flops" else (0, q)
            return cal.ClassCase(op_class, f"{op_class} {q}", flops, nbytes, make)

        return [case("conv", 10**7, 1e11), case("conv", 10**8, 1e11), case("resize", 10**6, 5e9)]

    monkeypatch.setattr(cal, "class_cases", cases)
    spec = cal.calibrate("cpu", dtypes=("fp32",), seconds=1.0, matmul_size=64, stream_bytes=1 << 16,
                         backend=cal.Backend("cpu", dev.synchronize), clock=dev.clock, class_seconds=1.0)
    table = spec.op_classes["fp32"]
    assert set(table) == {"conv", "resize"}
    assert table["conv"].flops_per_s == pytest.approx(1e11, rel=1e-6)
    assert table["conv"].bytes_per_s == pytest.approx(4.0e10, rel=1e-6)  # the measured copy bandwidth
    assert table["resize"].bytes_per_s == pytest.approx(5e9, rel=1e-6)
    assert table["resize"].flops_per_s == pytest.approx(2.0e11, rel=1e-6)  # the measured matmul peak
    assert "op classes" in spec.source
    again = load_device_file(save_device(spec, tmp_path / "d.yaml"))
    assert again.op_classes == spec.op_classes
    with pytest.raises(ArchscopeError, match="unknown op class 'gemm'"):
        cal.calibrate("cpu", dtypes=("fp32",), seconds=0.1, classes=["gemm"], class_seconds=1.0,
                      backend=cal.Backend("cpu", dev.synchronize), clock=dev.clock)


def test_the_calibration_cases_count_as_the_engine_counts_them():
    """Each case's hand-written FLOPs, bytes and class are what archscope's counting mode records for it."""
    from archscope.analysis.mode import CountingMode, Recorder

    for case in cal.class_cases():
        fn = case.make("meta")
        recorder = Recorder(4)
        with torch.no_grad(), CountingMode(recorder, shape_only=True):
            fn()
        counted = [op for op in recorder.ops if op.bytes]
        assert {op.op_class for op in counted} == {case.op_class}, (case.label, counted)
        assert sum(op.flops for op in counted) == case.flops, case.label
        assert sum(op.bytes for op in counted) == case.bytes, case.label


def test_a_device_spec_from_a_dict_without_the_table_has_none():
    spec = device_from_dict({"name": "x", "peak_flops": {"fp32": 1e12}, "bandwidth": 1e11})
    assert spec.op_classes == {} and spec.class_rate("fp32", "conv") is None

"""The calibrated roofline's two refinements: rates blended by each op's shape features (``vocab.CLASS_FEATURES``),
and fresh memory (pages a forward had not touched yet) priced by a calibrated rate. Figures are derived by hand
from the definitions; no timed assertion here (``benchmarks/roofline_accuracy.py`` measures the accuracy)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from archscope.analysis import costs
from archscope.analysis.liveness import FRESH_ALWAYS_BYTES
from archscope.analysis.records import OpRecord
from archscope.devices import calibrate as cal
from archscope.devices.roofline import fresh_seconds, roofline
from archscope.devices.spec import ClassRate, DeviceSpec, blend, load_device_file, save_device
from archscope.errors import ArchscopeError
from archscope.vocab import CLASS_FEATURES, FEATURE_WIDTHS

aten = torch.ops.aten


def _records(module: nn.Module, shape: tuple[int, ...]) -> list[OpRecord]:
    from archscope.analysis.analyze import analyze
    from archscope.build.modules import build_module

    return list(analyze(build_module(module, input_size=shape), legacy=False).ops)


# ------------------------------------------------------------------------------------------------ shape features
def test_a_convolution_is_described_by_its_implicit_gemm():
    x = torch.empty(1, 3, 32, 32, device="meta")
    w = torch.empty(16, 3, 3, 3, device="meta")
    out = torch.empty(1, 16, 16, 16, device="meta")
    args = (x, w, None, [2, 2], [1, 1], [1, 1], False, [0, 0], 1)
    # reduction Cin/groups*kh*kw = 27, 16 output channels, 16*16 output pixels, a 3x3 kernel, stride 2*2, and the
    # operands' age: without one, the call's own bytes (as in a loop)
    assert costs.op_features("conv", aten.convolution, args, [out], 0, 1000) == (27.0, 16.0, 256.0, 9.0, 4.0, 1000.0)
    assert costs.op_features("conv", aten.convolution, args, [out], 0, 1000, 5e7)[-1] == 5e7
    dw = torch.empty(16, 1, 5, 5, device="meta")
    x16 = torch.empty(2, 16, 8, 8, device="meta")
    out16 = torch.empty(2, 16, 8, 8, device="meta")
    dargs = (x16, dw, None, [1, 1], [2, 2], [1, 1], False, [0, 0], 16)
    # 16 channels, batch 2 x 8 x 8 output pixels, a 5x5 kernel, stride 1
    assert costs.op_features("depthwise_conv", aten.convolution, dargs, [out16], 0, 64) == (16.0, 128.0, 25.0, 1.0,
                                                                                              64.0)


def test_matmuls_resizes_copies_and_pools_have_their_own_features():
    a, b = torch.empty(4, 100, 32, device="meta"), torch.empty(4, 32, 100, device="meta")
    out = torch.empty(4, 100, 100, device="meta")
    assert costs.op_features("matmul", aten.bmm, (a, b), [out], 0, 0) == (400.0, 32.0, 100.0)  # B*M, K, N
    bias, m1, m2 = torch.empty(8, device="meta"), torch.empty(5, 6, device="meta"), torch.empty(6, 8, device="meta")
    assert costs.op_features("matmul", aten.addmm, (bias, m1, m2), [torch.empty(5, 8, device="meta")], 0, 0) == \
        (5.0, 6.0, 8.0)
    up = torch.empty(1, 8, 40, 40, device="meta")
    assert costs.op_features("resize", aten.upsample_nearest2d, (torch.empty(1, 8, 20, 20, device="meta"),),
                             [up], 0, 64000) == (64000.0, 40.0)  # bytes, the output row length
    x = torch.empty(1, 8, 4, 4, device="meta")
    assert costs.op_features("copy", aten.cat, ([x, x], 1), [torch.empty(1, 16, 4, 4, device="meta")], 0, 1024) \
        == (1024.0, 1.0, 1024.0)
    assert costs.op_features("copy", aten.clone, (x.permute(0, 2, 3, 1),), [x], 0, 1024)[:2] == (1024.0, 2.0)
    assert costs.op_features("pooling", aten.max_pool2d_with_indices, (x, [5, 5], [1, 1], [2, 2]), [x], 0, 1024) \
        == (1024.0, 25.0)
    assert costs.op_features("elementwise", aten.silu, (x,), [x], 640, 1024) == (1024.0, 0.625)  # FLOPs per byte
    assert costs.op_features("softmax_norm", aten.native_layer_norm, (x,), [x], 0, 0) == (1e-3, 1e-3)  # clamped
    assert costs.op_features("conv", aten.convolution_backward, (x, x, x), [x], 0, 0) == ()  # no forward shape


def test_every_record_of_a_model_carries_the_features_its_class_names():
    module = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.SiLU(), nn.Upsample(scale_factor=2.0),
                           nn.MaxPool2d(5, 1, 2))
    ops = [op for op in _records(module, (1, 3, 16, 16)) if op.op_class]
    assert {op.op_class for op in ops} == {"conv", "softmax_norm", "elementwise", "resize", "pooling"}
    for op in ops:
        assert len(op.features) == len(CLASS_FEATURES[op.op_class]), op
    conv = next(op for op in ops if op.op_class == "conv")
    assert conv.features[:5] == (27.0, 8.0, 64.0, 9.0, 4.0)


def test_an_operands_age_is_what_the_forward_wrote_since_it():
    class Join(nn.Module):
        def forward(self, x):
            y = x * 2.0  # 4 KiB written at 4 KiB (the input came first)
            z = y + 1.0  # 4 KiB more
            return torch.cat([z, x], 1)  # its oldest operand is the input: 12 KiB were written since

    cat = [op for op in _records(nn.Sequential(Join()), (1, 1024)) if op.op == "cat"][0]
    assert cat.features == (16384.0, 1.0, 12288.0)  # 8 KiB read + 8 KiB written, contiguous, 12 KiB old
    # a weight was last read one forward ago: the forward's writes (input 3,072 B + conv output 2,048 B)
    conv = _records(nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False)), (1, 3, 16, 16))[0]
    assert conv.features == (27.0, 8.0, 64.0, 9.0, 4.0, 5120.0)


def test_every_calibration_kernel_is_described_like_a_models_op():
    """Each case's written-out features are those the counting engine records for its call (as its FLOPs and
    bytes are, tests/test_op_classes.py): the kernels and a model's ops are described alike."""
    from archscope.analysis.mode import CountingMode, Recorder

    for case in cal.class_cases():
        recorder = Recorder(4)
        call = case.make("meta")
        with torch.no_grad(), CountingMode(recorder, shape_only=True):
            call()
        counted = [op for op in recorder.ops if op.op_class == case.op_class]
        assert len(counted) == 1, case.label
        assert counted[0].features == pytest.approx(case.features), case.label
        assert len(case.features) == len(CLASS_FEATURES[case.op_class]), case.label
    stem = next(c for c in cal.class_cases(["conv"]) if c.label == "conv 3->16 k3 s2 640x640")
    assert stem.features == (27.0, 16.0, 320.0 * 320.0, 9.0, 4.0, float(stem.bytes))  # in a loop: its own bytes


def test_no_calibration_output_reaches_the_size_a_heap_stops_keeping():
    """Such an output would be fresh memory on every call: its page faults would pollute the kernel's rate."""
    from archscope.analysis.mode import CountingMode, Recorder

    for case in cal.class_cases():
        recorder = Recorder(4)
        call = case.make("meta")
        with torch.no_grad(), CountingMode(recorder, shape_only=True):
            call()
        assert all(op.bytes_written < FRESH_ALWAYS_BYTES for op in recorder.ops), case.label


# ------------------------------------------------------------------------------------------------- the blending
def test_blend_weights_by_distance_in_log_space():
    ln2 = math.log(2.0)
    # two points, one width (a factor 2) either side: equal weights, the geometric mean
    assert blend([(1.0,), (4.0,)], [10.0, 40.0], (2.0,), [ln2]) == pytest.approx(20.0)
    # at a point: itself weight 1, the other two widths off, weight exp(-2)
    w = math.exp(-0.5 * 4)
    assert blend([(1.0,), (4.0,)], [10.0, 40.0], (1.0,), [ln2]) == pytest.approx(
        math.exp((math.log(10) + w * math.log(40)) / (1 + w)))
    # beyond the points: as at the edge, where the nearest weighs most (as at 4.0 itself)
    assert blend([(1.0,), (4.0,)], [10.0, 40.0], (2.0**100,), [ln2]) == pytest.approx(
        math.exp((w * math.log(10) + math.log(40)) / (1 + w)))
    # between points far apart (100 widths each way in the other feature): the nearest alone, never 0/0
    far = blend([(1.0, 1.0), (1.0, 2.0**200)], [10.0, 40.0], (1.0, 2.0**20), [ln2, ln2])
    assert far == pytest.approx(10.0)
    # two features: a near-categorical one (kernel area, width 1.2) keeps a 1x1 point from standing for a 3x3 op
    narrow = math.log(FEATURE_WIDTHS["kernel_area"])
    rate = blend([(64.0, 1.0), (64.0, 9.0)], [60.0, 180.0], (64.0, 9.0), [ln2, narrow])
    assert rate == pytest.approx(180.0, rel=1e-6)


def test_a_class_rate_blends_by_features_and_falls_back_to_bytes_then_its_one_figure():
    rate = ClassRate(1e11, 2e10, 0.0, "flops", ((1e6, 5e10),), CLASS_FEATURES["conv"],
                     ((27.0, 16.0, 1e5, 9.0, 4.0, 1e6, 1e10), (576.0, 64.0, 1600.0, 9.0, 1.0, 1e6, 1.8e11)))
    assert rate.rate_at(1e6, (27.0, 16.0, 1e5, 9.0, 4.0, 1e6)) == pytest.approx((1e10, 2e10))  # the stem's own
    assert rate.rate_at(1e6, (576.0, 64.0, 1600.0, 9.0, 1.0, 1e6))[0] == pytest.approx(1.8e11, rel=1e-6)
    assert rate.rate_at(1e6) == pytest.approx((5e10, 2e10))  # an op without features: the size table
    plain = ClassRate(1e11, 2e10, 0.0, "flops", (), CLASS_FEATURES["conv"], rate.points)
    assert plain.rate_at(1e6) == (1e11, 2e10)  # neither: the class's one figure


# ------------------------------------------------------------------------------------------------- fresh memory
def test_heap_sized_allocations_are_not_fresh_memory():
    class Block(nn.Module):
        def forward(self, x):
            return (x * 2.0 + 1.0) - 1.0  # 4 KiB each: the heap's to keep

    ops = _records(nn.Sequential(Block()), (1, 1024))
    assert [(op.op, op.fresh_bytes) for op in ops] == [("mul", 0), ("add", 0), ("sub", 0)]


def test_an_allocation_too_large_for_a_heap_is_fresh_every_time():
    class Big(nn.Module):
        def forward(self, x):
            a = x * 2.0  # 32 MiB: from the operating system, all fresh
            del a
            b = x * 3.0  # again: freed blocks this large go back to the system
            return b

    elements = FRESH_ALWAYS_BYTES // 4
    ops = _records(nn.Sequential(Big()), (1, elements))
    assert [op.fresh_bytes for op in ops] == [FRESH_ALWAYS_BYTES, FRESH_ALWAYS_BYTES]


def _device(fresh: float | None) -> DeviceSpec:
    return DeviceSpec("hand", {"fp32": 1e12}, 1e11, "a test", fresh_bytes_per_s=fresh)


def test_the_roofline_charges_fresh_memory_at_the_calibrated_rate():
    op = OpRecord("mul", 0, "", 0, 1000, 4_000_000, 4_000_000, fresh_bytes=2_000_000)
    # 8e6 B / 1e11 = 0.08 ms, and 2e6 fresh B / 1e9 = 2 ms more
    assert roofline(_device(1e9), "fp32", [op]).predicted_ms == pytest.approx(0.08 + 2.0)
    assert roofline(_device(None), "fp32", [op]).predicted_ms == pytest.approx(0.08)  # not calibrated: free
    scores = OpRecord("bmm", 0, "", 1000, 0, 1000, 4_000_000, (1, 1000, 1000), True, score_bytes=4_000_000,
                      fresh_bytes=4_000_000)
    assert fresh_seconds(_device(1e9), scores, "eager") == pytest.approx(4e-3)
    assert fresh_seconds(_device(1e9), scores, "fused") == 0.0  # fused attention never writes its scores


def test_the_attention_sample_makes_its_score_matrices_fresh_at_640():
    """yolov8n-mhsa at 640: layer 7's 4 heads x 1600 x 1600 fp32 scores are 41 MB, above what a heap keeps."""
    from pathlib import Path

    from archscope.analysis.analyze import analyze
    from archscope.build.builder import BuildOptions, build_model
    from archscope.spec.model_spec import load_spec

    sample = Path(__file__).resolve().parent.parent / "sample_configs" / "yolov8n-mhsa.yaml"
    ops = analyze(build_model(load_spec(sample), BuildOptions(imgsz=(640, 640))), legacy=False).ops
    scores = [op for op in ops if op.op == "bmm" and op.out_shape and op.out_shape[-1] == 1600]
    assert scores and all(op.fresh_bytes == 4 * 1600 * 1600 * 4 for op in scores[:1])


# -------------------------------------------------------------------------------------------- the device file
def test_a_device_file_round_trips_with_points_and_the_fresh_rate(tmp_path):
    points = ((27.0, 16.0, 1e5, 9.0, 4.0, 6.7e7, 1e10),)
    spec = DeviceSpec("hand", {"fp32": 1e12}, 1e11, "a test", fresh_bytes_per_s=2.5e9,
                      op_classes={"fp32": {"conv": ClassRate(1e11, 1e11, 4e-6, "flops", (), CLASS_FEATURES["conv"],
                                                             points)}})
    again = load_device_file(save_device(spec, tmp_path / "d.yaml"))
    assert again == spec


def test_a_device_file_with_other_features_is_refused_in_one_line(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text("name: x\npeak_flops: {fp32: 1.0e+12}\nbandwidth: 1.0e+11\nop_classes:\n  fp32:\n    conv:\n"
                    "      flops_per_s: 1.0e+11\n      bytes_per_s: 1.0e+10\n      driver: flops\n"
                    "      features: [bytes]\n      points: [[1.0e+06, 1.0e+10]]\n")
    with pytest.raises(ArchscopeError, match=r"conv.features must be \['reduction'.*calibrate again"):
        load_device_file(path)
    path.write_text("name: x\npeak_flops: {fp32: 1.0e+12}\nbandwidth: 1.0e+11\nfresh_bytes_per_s: -1\n")
    with pytest.raises(ArchscopeError, match="'fresh_bytes_per_s' must be a positive number"):
        load_device_file(path)


# -------------------------------------------------------------------------------------- calibrate, faked clock
def test_a_tiny_call_sets_its_class_overhead():
    class Clock:
        now = 0.0

        def __call__(self):
            return self.now

    clock = Clock()

    def case(q: int, floor: bool = False) -> cal.ClassCase:
        def make(device):
            def call():
                clock.now += 3e-6 + q / 1e10  # 3 us a call and 10 GB/s

            return call

        return cal.ClassCase("copy", f"copy {q}", 0, q, make, floor)

    result = cal.measure_classes([case(64, floor=True), case(10**6), case(10**7)], 1.0, device="fake", clock=clock)
    fit = result.fits["copy"]
    assert fit.overhead_s == pytest.approx(3e-6 + 64 / 1e10)  # the tiny call's time
    assert [label for label, *_ in fit.points] == ["copy 1000000", "copy 10000000"]  # not a rate point
    assert all(r == pytest.approx(1e10, rel=1e-4) for _, r in fit.by_size())


def test_the_presets_price_no_fresh_memory():
    """Only a calibration measures what fresh memory costs: a preset predicts what it did before."""
    from archscope.devices.presets import PRESETS

    assert all(spec.fresh_bytes_per_s is None for spec in PRESETS.values())


def test_a_cold_call_is_timed_in_a_loop_and_after_each_eviction():
    """Three points per convolution or concat: in a loop (its operands' age = its own bytes) and after each of
    EVICTIONS bytes of other traffic (that age); the fake call is slower the more was evicted before it."""

    class Clock:
        now = 0.0
        evicted = 0

        def __call__(self):
            return self.now

    clock = Clock()

    def evict(nbytes: int) -> None:
        clock.evicted = nbytes

    def make(device):
        def call():
            clock.now += 1e-3 * (2.0 if clock.evicted >= 64 << 20 else 1.0)
            clock.evicted = 0  # what the call reads is cached again

        return cal.ColdCall(call, lambda: None)

    case = cal.ClassCase("copy", "cat 2x64 40x40", 0, 819200, make, features=(819200.0, 1.0, 819200.0))
    result = cal.measure_classes([case], 1.0, device="fake", clock=clock, evict=evict)
    fit = result.fits["copy"]
    labels = [label for label, *_ in fit.points]
    assert labels == ["cat 2x64 40x40", "cat 2x64 40x40 after 16 MiB", "cat 2x64 40x40 after 64 MiB"]
    assert [result.seconds[label] for label in labels] == pytest.approx([1e-3, 1e-3, 2e-3])
    assert [fit.features[label][-1] for label in labels] == [819200.0, 16 << 20, 64 << 20]  # the operands' ages

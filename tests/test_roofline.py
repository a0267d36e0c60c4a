"""Roofline arithmetic on hand-made OpRecords; every expected time below is derived by hand in the comments."""

from __future__ import annotations

import pytest

from archscope.analysis.records import OpRecord
from archscope.errors import ArchscopeError
from archscope.devices.spec import DeviceSpec
from archscope.devices.presets import load_device
from archscope.devices.roofline import arithmetic_intensity, attainable_flops, op_roofline, ridge_point, roofline, submodule_roofline

# A toy device: 1 TFLOP/s fp32, 100 GB/s -> ridge point 10 FLOP/byte.
TOY = DeviceSpec("toy", {"fp32": 1e12, "fp16": 4e12}, 1e11, "hand-made for tests")

# Feature map 1 x 64 x 80 x 80 at fp32: 409,600 elements, 1,638,400 bytes.
N = 64 * 80 * 80
FMAP = N * 4

# 3x3 conv 64 -> 64, stride 1, no bias, on that map:
#   mac_flops = 2 * Cout * Hout * Wout * Cin * kh * kw = 2 * 64 * 6400 * 64 * 9 = 471,859,200
#   reads input 1,638,400 + weight 64*64*9*4 = 147,456 -> 1,785,856; writes 1,638,400; total 3,424,256 bytes
#   compute 471,859,200 / 1e12 s = 0.4718592 ms; memory 3,424,256 / 1e11 s = 0.03424256 ms -> compute-bound
CONV = OpRecord("convolution", 0, "cv1.conv", 471_859_200, 0, FMAP + 147_456, FMAP)

# residual add of two such maps: 1 FLOP per element = 409,600 other_flops
#   reads 2 * 1,638,400 = 3,276,800; writes 1,638,400; total 4,915,200 bytes
#   compute 409,600 / 1e12 s = 0.0004096 ms; memory 4,915,200 / 1e11 s = 0.049152 ms -> memory-bound
ADD = OpRecord("add", 0, "", 0, N, 2 * FMAP, FMAP)


def test_compute_bound_conv_by_hand():
    r = op_roofline(TOY, "fp32", CONV)
    assert r.compute_ms == pytest.approx(0.4718592)
    assert r.memory_ms == pytest.approx(0.03424256)
    assert r.predicted_ms == pytest.approx(0.4718592)
    assert r.bound == "compute"
    assert r.intensity == pytest.approx(471_859_200 / 3_424_256)  # ~137.8 FLOP/byte, above the ridge (10)


def test_memory_bound_elementwise_by_hand():
    r = op_roofline(TOY, "fp32", ADD)
    assert r.compute_ms == pytest.approx(0.0004096)
    assert r.memory_ms == pytest.approx(0.049152)
    assert r.predicted_ms == pytest.approx(0.049152)
    assert r.bound == "memory"
    assert r.intensity == pytest.approx(409_600 / 4_915_200)  # 1/12 FLOP/byte


def test_layer_sums_ops_and_takes_the_roof_that_dominates_its_time():
    add1 = OpRecord("add", 1, "", 0, N, 2 * FMAP, FMAP)
    res = roofline(TOY, "fp32", [CONV, ADD, add1])
    l0, l1 = res.layers
    # layer 0 = conv + add: 0.4718592 + 0.049152 = 0.5210112 ms
    assert l0.index == 0 and l0.ops == 2
    assert l0.predicted_ms == pytest.approx(0.5210112)
    assert l0.compute_ms == pytest.approx(0.4718592 + 0.0004096)  # the compute roof alone
    assert l0.memory_ms == pytest.approx(0.03424256 + 0.049152)  # the memory roof alone
    assert l0.compute_bound_ms == pytest.approx(0.4718592)
    assert l0.memory_bound_ms == pytest.approx(0.049152)
    assert l0.bound == "compute"
    assert l0.flops == 471_859_200 + 409_600 and l0.bytes == 3_424_256 + 4_915_200
    # layer 1 = one add: memory-bound
    assert l1.predicted_ms == pytest.approx(0.049152) and l1.bound == "memory"
    # totals
    assert res.predicted_ms == pytest.approx(0.5210112 + 0.049152)
    assert res.ridge_point == pytest.approx(10.0)
    assert res.peak_flops == 1e12 and res.bandwidth == 1e11 and not res.relative_only


def test_many_small_memory_bound_ops_outweigh_one_compute_bound_op():
    # 11 adds (11 * 0.049152 = 0.540672 ms) against one conv (0.4718592 ms): the layer is memory-bound
    ops = [CONV] + [ADD] * 11
    layer = roofline(TOY, "fp32", ops).layers[0]
    assert layer.memory_bound_ms == pytest.approx(0.540672)
    assert layer.bound == "memory"


def test_dtype_changes_the_compute_roof_only():
    # fp16 peak 4e12: conv compute 471,859,200 / 4e12 s = 0.1179648 ms, still above its memory time
    # (the records' bytes are taken as given: they were counted at the analysed dtype)
    r = op_roofline(TOY, "float16", CONV)
    assert r.compute_ms == pytest.approx(0.1179648)
    assert r.memory_ms == pytest.approx(0.03424256)


def test_requested_layers_keep_their_order_and_empty_layers_read_none():
    res = roofline(TOY, "fp32", [CONV], layers=[2, 0, 1])
    assert [layer.index for layer in res.layers] == [2, 0, 1]
    assert res.layer(2).predicted_ms == 0.0 and res.layer(2).bound == "none"
    assert res.layer(2).intensity is None
    with pytest.raises(KeyError):
        res.layer(7)


def test_ops_outside_every_layer_are_kept_apart_but_counted_in_the_total():
    stray = OpRecord("add", -1, "", 0, N, 2 * FMAP, FMAP)
    res = roofline(TOY, "fp32", [CONV, stray])
    assert [layer.index for layer in res.layers] == [0]
    assert res.outside is not None and res.outside.predicted_ms == pytest.approx(0.049152)
    assert res.predicted_ms == pytest.approx(0.4718592 + 0.049152)


def test_submodules_sum_at_every_depth():
    ops = [
        OpRecord("convolution", 3, "m.0.cv1.conv", 2_000_000, 0, 10_000, 10_000),  # 2.0e-3 ms vs 2.0e-4 ms
        OpRecord("silu", 3, "m.0.cv1.act", 0, 1_000, 4_000, 4_000),  # 1e-6 ms vs 8e-5 ms
        OpRecord("convolution", 3, "m.1.conv", 1_000_000, 0, 5_000, 5_000),  # 1.0e-3 ms vs 1.0e-4 ms
        OpRecord("cat", 3, "", 0, 0, 8_000, 8_000),  # 0 vs 1.6e-4 ms
    ]
    subs = submodule_roofline(TOY, "fp32", ops, layer=3)
    assert set(subs) == {"", "m", "m.0", "m.0.cv1", "m.0.cv1.conv", "m.0.cv1.act", "m.1", "m.1.conv"}
    assert subs["m.0.cv1"].predicted_ms == pytest.approx(2.0e-3 + 8e-5)
    assert subs["m.0.cv1.act"].bound == "memory"
    assert subs["m"].predicted_ms == pytest.approx(2.0e-3 + 8e-5 + 1.0e-3)
    assert subs[""].predicted_ms == pytest.approx(2.0e-3 + 8e-5 + 1.0e-3 + 1.6e-4)
    whole = roofline(TOY, "fp32", ops, submodules=True)
    assert whole.submodules[3][""].predicted_ms == pytest.approx(whole.layer(3).predicted_ms)


def test_helpers():
    assert arithmetic_intensity(100, 50) == 2.0
    assert arithmetic_intensity(100, 0) is None
    assert ridge_point(TOY, "fp32") == pytest.approx(10.0)
    assert attainable_flops(TOY, "fp32", 5.0) == pytest.approx(5e11)  # below the ridge: bandwidth x intensity
    assert attainable_flops(TOY, "fp32", 50.0) == pytest.approx(1e12)  # above: the compute peak


def test_a_dtype_the_device_lacks_is_a_clear_error():
    with pytest.raises(ArchscopeError, match=r"'toy' has no peak figure for dtype 'int8' \(it has: fp32, fp16\)"):
        roofline(TOY, "int8", [CONV])


def test_relative_only_devices_say_so():
    res = roofline(load_device("pixel8-edgetpu"), "int8", [CONV, ADD])
    assert res.relative_only
    assert res.ridge_point == pytest.approx(2 * 433.8)
    # the same ops rank the same way on any device with this ridge point, whatever the nominal scale:
    scaled = DeviceSpec("x", {"int8": 2 * 433.8 * 7e9}, 7e9, "scaled copy")
    ratio = roofline(scaled, "int8", [CONV, ADD]).predicted_ms / res.predicted_ms
    assert ratio == pytest.approx(1 / 7)


def test_fused_variant_uses_one_term_per_layer():
    from archscope.analysis.records import CostTotals, LayerCosts
    from archscope.devices.roofline import fused_roofline

    # the conv + add layer with everything kept on chip: reads the input map and the weights, writes one map
    #   bytes_fused = 1,638,400 + 147,456 + 1,638,400 = 3,424,256 -> 0.03424256 ms
    #   flops = 471,859,200 + 409,600 = 472,268,800 -> 0.4722688 ms: compute-bound, 0.4722688 ms
    layer = LayerCosts(0, CostTotals(flops=472_268_800, mac_flops=471_859_200, other_flops=409_600),
                       bytes_fused=3_424_256)
    (row,) = fused_roofline(TOY, "fp32", [layer])
    assert row.predicted_ms == pytest.approx(0.4722688)
    assert row.memory_ms == pytest.approx(0.03424256)
    assert row.bound == "compute"
    # below the unfused prediction of the same ops (0.5210112 ms), as it must be
    assert row.predicted_ms < roofline(TOY, "fp32", [CONV, ADD]).predicted_ms

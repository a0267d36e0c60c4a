"""The counting engine (archscope.analysis): FLOPs, bytes, memory and the two Ultralytics GFLOPs conventions.

Reference figures and where they come from:

* ``FCM_AND_ULTRALYTICS_640`` and the per-layer test: tests/reference/ultralytics-8.4.190-smallest-scales.json
  (Ultralytics 8.4.190 + ultralytics-thop 2.2.3 ``model.info(imgsz=640)`` GFLOPs, unrounded; and
  ``torch.utils.flop_counter.FlopCounterMode`` on one real 1x3x640x640 forward, in total and per layer).
* tests/reference/gflops_conventions.py: Ultralytics 8.4.190 at other sizes and scales, Ultralytics 8.2.20 with PyPI
  thop 0.1.1 (the legacy convention, its printed figures), and the thop 0.1.1 recipe on 8.4's YOLOv10/11/12.
* tests/reference/yolov5_repo.py: the YOLOv5 repository (yolov5 7.0.14 + thop 0.1.1), yolov5n 4.6 / yolov5s 16.6.
* The single-block tests derive every figure by hand in their comments.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from archscope.analysis.analyze import analyze
from archscope.analysis import costs
from archscope.analysis.mode import CountingMode, Recorder
from archscope.build.meta import MetaSdpaAsCpu, SHAPE_RULES, _UPSAMPLE, _upsample_shape
from archscope.analysis.memory import live_bytes, peak_activation
from archscope.build.builder import BuildOptions, build_model
from archscope.build.materialize import materialize
from archscope.errors import ArchscopeError
from archscope.spec.model_spec import load_spec
from reference.gflops_conventions import LEGACY_THOP011_ON_UL84, LEGACY_UL8220_PRINTED, ULTRALYTICS_84_OTHER_SIZES
from reference.yolov5_repo import YOLOV5_REPO

REFERENCE = Path(__file__).resolve().parent / "reference" / "ultralytics-8.4.190-smallest-scales.json"
RECORDS = json.loads(REFERENCE.read_text())["records"]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Real forwards on a shared 2-core machine: 2 OpenMP threads can be 10x slower than 1 under load."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _build(cfg_dir, name, scale, imgsz=(640, 640), batch=1):
    return build_model(load_spec(cfg_dir / name), BuildOptions(scale=scale, imgsz=imgsz, batch=batch))


def _build_text(tmp_path, text, imgsz, batch=1):
    path = tmp_path / "model.yaml"
    path.write_text(textwrap.dedent(text))
    return build_model(load_spec(path), BuildOptions(imgsz=imgsz, batch=batch))


# ------------------------------------------------------------------------ (a) + (c): the official configs

# (cfg, scale): (FlopCounterMode FLOPs on a real 1x3x640x640 forward, Ultralytics 8.4.190's GFLOPs unrounded).
# Copied from tests/reference/ultralytics-8.4.190-smallest-scales.json (fields fcm_flops, ultralytics_gflops).
FCM_AND_ULTRALYTICS_640 = {
    ("v3/yolov3-tiny.yaml", None): (19002419200, 19.1252992),
    ("v5/yolov5.yaml", "n"): (7724902400, 7.8388736),
    ("v5/yolov5-p6.yaml", "n"): (7836838400, 7.9522688),
    ("v6/yolov6.yaml", "n"): (12926822400, 13.0264576),
    ("v8/yolov8.yaml", "n"): (8743987200, 8.8550912),
    ("v8/yolov8-cls.yaml", "n"): (3289190400, 3.36148736),
    ("v8/yolov8-seg.yaml", "n"): (12002764800, 12.1411072),
    ("v8/yolov8-pose.yaml", "n"): (9177729600, 9.2935376),
    ("v8/yolov8-obb.yaml", "n"): (8989401600, 9.102656),
    ("v8/yolov8-ghost.yaml", "n"): (5698099200, 5.8030592),
    ("v8/yolov8-p2.yaml", "n"): (17227622400, 17.4288384),
    ("v9/yolov9t.yaml", None): (8311040000, 8.4811264),
    ("v9/yolov9c.yaml", None): (103334963200, 104.0144896),
    ("v10/yolov10n.yaml", "n"): (8627891200, 8.7994112),  # PSA (attention), SCDown, C2fCIB, v10Detect
    ("v10/yolov10m.yaml", "m"): (64053273600, 64.6086912),
    ("11/yolo11.yaml", "n"): (6542502400, 6.6733184),  # C2PSA (attention), C3k2
    ("11/yolo11-cls.yaml", "n"): (3233587200, 3.31530496),
    ("11/yolo11-seg.yaml", "n"): (9801280000, 9.9593344),
    ("12/yolo12.yaml", "n"): (7470963200, 7.6341376),  # A2C2f (area attention)
    ("12/yolo12-cls.yaml", "n"): (4515942400, 4.62633216),
}


@pytest.mark.parametrize("cfg,scale", list(FCM_AND_ULTRALYTICS_640), ids=[f"{c}:{s}" for c, s in FCM_AND_ULTRALYTICS_640])
def test_mac_flops_and_ultralytics_gflops_at_640(cfg, scale, cfg_dir):
    fcm, ultralytics_gflops = FCM_AND_ULTRALYTICS_640[(cfg, scale)]
    costs_ = analyze(_build(cfg_dir, cfg, scale))
    assert costs_.totals.mac_flops == fcm  # exactly FlopCounterMode's count (conv, addmm, bmm)
    assert costs_.gflops_ultralytics == pytest.approx(ultralytics_gflops, rel=1e-12, abs=1e-12)
    assert round(costs_.gflops_ultralytics, 1) == round(ultralytics_gflops, 1)  # what Ultralytics prints
    assert costs_.uncounted_ops == {}


@pytest.mark.parametrize("record", RECORDS, ids=[f"{r['cfg']}:{r['scale']}" for r in RECORDS])
def test_every_reference_config_per_layer(record, cfg_dir):
    """All 43 reference configs: per-layer mac_flops == FlopCounterMode's per-layer count, totals, GFLOPs."""
    costs_ = analyze(_build(cfg_dir, record["cfg"], record["scale"]), legacy=False)
    assert [layer.totals.mac_flops for layer in costs_.layers] == record["fcm_per_layer_flops"]
    assert costs_.totals.mac_flops == record["fcm_flops"]
    assert costs_.gflops_ultralytics == pytest.approx(record["ultralytics_gflops"], rel=1e-12)


@pytest.mark.parametrize("key", list(ULTRALYTICS_84_OTHER_SIZES), ids=[f"{c}:{s}:{h}x{w}" for c, s, (h, w) in ULTRALYTICS_84_OTHER_SIZES])
def test_ultralytics_gflops_other_sizes_and_scales(key, cfg_dir):
    cfg, scale, imgsz = key
    costs_ = analyze(_build(cfg_dir, cfg, scale, imgsz), legacy=False)
    assert costs_.gflops_ultralytics == pytest.approx(ULTRALYTICS_84_OTHER_SIZES[key], rel=1e-12)


LEGACY = {**LEGACY_UL8220_PRINTED, **LEGACY_THOP011_ON_UL84}


@pytest.mark.parametrize("key", list(LEGACY), ids=[f"{c}:{s}:{h}x{w}" for c, s, (h, w) in LEGACY])
def test_legacy_gflops(key, cfg_dir):
    cfg, scale, imgsz = key
    costs_ = analyze(_build(cfg_dir, cfg, scale, imgsz))
    assert costs_.gflops_legacy == pytest.approx(LEGACY[key], rel=1e-12)
    assert costs_.legacy_proxy == (64 if "p6" in cfg else 32)


def test_legacy_yolov10m_and_yolov8n_printed_figures(cfg_dir):
    """The figures people quote: YOLOv8n 8.9 (Ultralytics 8.0-8.2), YOLOv10m 64.5 (thop 0.1.1 recipe, unfused)."""
    assert round(analyze(_build(cfg_dir, "v8/yolov8.yaml", "n")).gflops_legacy, 1) == 8.9
    assert round(analyze(_build(cfg_dir, "v10/yolov10m.yaml", "m")).gflops_legacy, 1) == 64.5


@pytest.mark.parametrize("name", ["yolov5n", "yolov5s"])
def test_legacy_gflops_yolov5_repository(name, tmp_path):
    """The YOLOv5 repository prints 4.6 (yolov5n) and 16.6 (yolov5s) GFLOPs: tests/reference/yolov5_repo.py."""
    text = (FIXTURES / "yolov5s_v6.yaml").read_text()
    if name == "yolov5n":
        text = text.replace("width_multiple: 0.50", "width_multiple: 0.25")
    built = _build_text(tmp_path, text, (640, 640))
    ref = YOLOV5_REPO[name]
    assert built.params == ref["params"]
    costs_ = analyze(built)
    assert costs_.gflops_legacy == pytest.approx(ref["gflops"], rel=1e-12)
    assert round(costs_.gflops_legacy, 1) == ref["gflops_printed"]


# ----------------------------------------------------------------- (b): single blocks, derived by hand

CONV_YAML = """
nc: 80
backbone:
  - [-1, 1, Conv, [16, 3, 2]]  # Conv2d(3, 16, 3, s=2, p=1, no bias) + BatchNorm2d(16) + SiLU
head: []
"""


@pytest.mark.parametrize("h,w", [(64, 64), (32, 96)])
def test_conv_by_hand(h, w, tmp_path):
    c = analyze(_build_text(tmp_path, CONV_YAML, (h, w)))
    P = (h // 2) * (w // 2)  # output positions
    # conv: 2 * Cout * P * Cin/groups * kh*kw = 2 * 16 * P * 3 * 9
    assert c.totals.mac_flops == 2 * 16 * P * 3 * 9
    # batch norm 2 per element + SiLU 5 per element, over 16 * P elements
    assert c.totals.other_flops == (2 + 5) * 16 * P
    # bytes (fp32, 4 per element); the weight has 16*3*3*3 = 432 elements, BN reads 4 vectors of 16
    conv = (3 * h * w + 432) + 16 * P  # read input + weight, write output
    bn = (16 * P + 4 * 16) + 16 * P
    silu = 16 * P + 16 * P
    assert c.totals.bytes_unfused == 4 * (conv + bn + silu)
    layer = c.layers[0]
    assert layer.param_bytes == 4 * (432 + 16 + 16)  # conv weight, BN weight and bias
    assert layer.bytes_fused == 4 * (3 * h * w + 464 + 16 * P)
    assert layer.activation_bytes == 4 * 16 * P
    assert c.layer_boundary_peak_bytes == 4 * (3 * h * w + 16 * P)  # input and output live together
    # inside the layer: bn(conv(x)) holds the conv output while the BN output is made (the input is live too)
    assert c.peak_activation_bytes == 4 * (3 * h * w + 32 * P)
    assert (c.peak_layer, c.peak_path, c.peak_op) == (0, "bn", c.ops[1].op) and c.ops[1].path == "bn"
    assert c.bytes_per_element == 4 and c.dtype == "fp32"
    # Ultralytics: conv MACs P*16*27 + BN 4 per element (2 x numel, x2 affine), all x2
    assert c.gflops_ultralytics == pytest.approx(2 * (16 * P * 27 + 4 * 16 * P) / 1e9, rel=1e-12)
    # legacy: the same rules on a 32 x 32 proxy (8 positions of 16 x 16 ... 256), scaled by area: the same figure
    assert c.legacy_proxy == 32
    assert c.gflops_legacy == pytest.approx(c.gflops_ultralytics, rel=1e-12)
    assert set(layer.submodules) == {"conv", "bn", "act"}
    assert layer.submodules["conv"].mac_flops == c.totals.mac_flops


DW_YAML = """
nc: 80
backbone:
  - [-1, 1, Conv, [32, 1, 1]]              # 0: 3 -> 32, 1x1
  - [-1, 1, Conv, [32, 5, 1, None, 32]]    # 1: depthwise 5x5 as a Conv with g = c
  - [-1, 1, DWConv, [32, 3, 2]]            # 2: DWConv 3x3 stride 2, g = gcd(32, 32)
head: []
"""


@pytest.mark.parametrize("h,w", [(32, 32), (16, 48)])
def test_depthwise_conv_by_hand(h, w, tmp_path):
    c = analyze(_build_text(tmp_path, DW_YAML, (h, w)))
    P, Po = h * w, (h // 2) * (w // 2)
    g1, g2 = c.layers[1], c.layers[2]
    # each output sees Cin/groups = 1 input channel: 2 * 32 * P * 1 * 25 and 2 * 32 * Po * 1 * 9
    assert g1.totals.mac_flops == 2 * 32 * P * 25
    assert g2.totals.mac_flops == 2 * 32 * Po * 9
    assert g1.totals.other_flops == 7 * 32 * P  # BN 2 + SiLU 5 per element
    assert g2.totals.other_flops == 7 * 32 * Po
    # bytes: weights 32*1*5*5 = 800 and 32*1*3*3 = 288 elements; BN reads 4 x 32
    assert g1.totals.bytes_unfused == 4 * ((32 * P + 800) + 32 * P + (32 * P + 128) + 32 * P + 32 * P + 32 * P)
    assert g2.totals.bytes_unfused == 4 * ((32 * P + 288) + 32 * Po + (32 * Po + 128) + 32 * Po + 32 * Po + 32 * Po)
    assert g2.bytes_fused == 4 * (32 * P + (288 + 64) + 32 * Po)
    # live: layer 1 needs layer 0's output (32P) beside its own (32P); layer 2 reads 32P and writes 32Po
    assert [layer.live_bytes for layer in c.layers] == [4 * (3 * P + 32 * P), 4 * 64 * P, 4 * (32 * P + 32 * Po)]
    assert c.layer_boundary_peak_bytes == 4 * 64 * P and c.layer_boundary_peak_layer == 1


C2F_YAML = """
nc: 80
backbone:
  - [-1, 1, C2f, [32, True]]  # c = 16: cv1 Conv(3, 32, 1); m.0 Bottleneck(16, 16, 3x3, 3x3, add); cv2 Conv(48, 32, 1)
head: []
"""


@pytest.mark.parametrize("h,w", [(32, 32), (24, 40)])
def test_c2f_by_hand(h, w, tmp_path):
    c = analyze(_build_text(tmp_path, C2F_YAML, (h, w)))
    P = h * w
    layer = c.layers[0]
    # MACs x2 per position: cv1 32*3 | m.0.cv1 16*16*9 | m.0.cv2 16*16*9 | cv2 32*48
    assert layer.totals.mac_flops == 2 * (96 + 2304 + 2304 + 1536) * P == 12480 * P
    # other per position: BN 2 + SiLU 5 on 32 (cv1), 16, 16 (bottleneck), 32 (cv2) channels; residual add on 16
    assert layer.totals.other_flops == 7 * (32 + 16 + 16 + 32) * P + 16 * P == 688 * P
    # bytes (elements): reads 355P + 6624 weights/BN vectors, writes 352P (chunk is a view: 0; cat moves 48P)
    reads = [3 * P + 96, 32 * P + 128, 32 * P,  # cv1: conv, bn, act
             16 * P + 2304, 16 * P + 64, 16 * P,  # m.0.cv1
             16 * P + 2304, 16 * P + 64, 16 * P,  # m.0.cv2
             32 * P,  # the residual add reads both 16-channel inputs
             48 * P,  # cat of the two chunks and the bottleneck output
             48 * P + 1536, 32 * P + 128, 32 * P]  # cv2
    writes = [32 * P] * 3 + [16 * P] * 6 + [16 * P, 48 * P] + [32 * P] * 3
    assert sum(reads) == 355 * P + 6624 and sum(writes) == 352 * P
    assert layer.totals.bytes_unfused == 4 * (sum(reads) + sum(writes))
    assert layer.bytes_fused == 4 * (3 * P + (96 + 64 + 2304 + 32 + 2304 + 32 + 1536 + 64) + 32 * P)
    # every depth of sub-module is there, and parents include their children
    subs = layer.submodules
    assert {"cv1", "cv1.conv", "cv1.bn", "cv1.act", "m", "m.0", "m.0.cv1", "m.0.cv1.conv", "m.0.cv2.act",
            "cv2", "cv2.conv"} <= set(subs)
    assert subs["m.0"].mac_flops == 2 * 2 * 2304 * P
    assert subs["m.0"].other_flops == 7 * 32 * P + 16 * P
    assert subs["m"].flops == subs["m.0"].flops
    own = layer.totals.flops - subs["cv1"].flops - subs["m"].flops - subs["cv2"].flops
    assert own == 0  # chunk and cat cost no FLOPs
    # Ultralytics: conv MACs 6240P + BN 4 x (32+16+16+32)P, x2
    assert c.gflops_ultralytics == pytest.approx(2 * (6240 + 4 * 96) * P / 1e9, rel=1e-12)


PSA_YAML = """
nc: 80
ch: 128
backbone:
  - [-1, 1, PSA, [128]]  # c = 64: one head, key_dim 32, head_dim 64; qkv Conv(64, 128, 1)
head: []
"""


@pytest.mark.parametrize("h,w", [(8, 8), (4, 12)])
def test_psa_attention_by_hand(h, w, tmp_path):
    c = analyze(_build_text(tmp_path, PSA_YAML, (h, w)))
    N = h * w  # tokens
    layer = c.layers[0]
    # 1x1/3x3 convs, MACs per token: cv1 128*128, qkv 64*128, pe 64*9 (depthwise), proj 64*64, ffn 64*128 + 128*64,
    # cv2 128*128 = 62016; attention: scores (N x 32) @ (32 x N) and (64 x N) @ (N x N): 96 N^2 MACs
    assert layer.totals.mac_flops == 2 * 62016 * N + 2 * 96 * N * N
    assert layer.submodules["attn"].mac_flops == 2 * (8192 + 576 + 4096) * N + 2 * 96 * N * N
    assert layer.totals.attention_flops == 2 * 96 * N * N  # only the two @ products, none of the convs
    # other: BN 2 per element on 128+128+64+64+128+64+128 = 704 channels; SiLU 5 on cv1, ffn.0, cv2 (384 channels);
    # q * scale 32N; softmax 5 N^2; residual adds: pe 64N, attn 64N, ffn 64N
    assert layer.totals.other_flops == 2 * 704 * N + 5 * 384 * N + 32 * N + 5 * N * N + 3 * 64 * N
    assert layer.totals.other_flops == 3552 * N + 5 * N * N
    # bytes (elements): reads 2400N + 2N^2 + 64832 (weights and BN vectors), writes 2208N + 2N^2
    weights = 16384 + 8192 + 576 + 4096 + 8192 + 8192 + 16384  # conv weights, no biases
    bn_vectors = 4 * 704
    assert weights + bn_vectors == 64832
    assert layer.totals.bytes_unfused == 4 * ((2400 + 2208) * N + 4 * N * N + 64832)
    assert c.layer_boundary_peak_bytes == 4 * (128 * N + 128 * N)
    # Ultralytics: conv MACs 62016N + BN 4 x 704N + the functional @ products 96N^2, all x2
    assert c.gflops_ultralytics == pytest.approx(2 * (62016 * N + 4 * 704 * N + 96 * N * N) / 1e9, rel=1e-12)
    # legacy (thop 0.1.1): module hooks only, blind to the @ products
    assert c.gflops_legacy == pytest.approx(2 * (62016 + 4 * 704) * N / 1e9, rel=1e-12)


def test_attention_flops_match_flopcountermode_on_real_tensors(tmp_path):
    """FlopCounterMode on a real forward of the PSA model counts exactly archscope's mac_flops."""
    from torch.utils.flop_counter import FlopCounterMode

    built = _build_text(tmp_path, PSA_YAML, (8, 12), batch=2)
    ours = analyze(built).totals.mac_flops
    model = materialize(built)
    with torch.no_grad(), FlopCounterMode(display=False) as fcm:
        model.run(torch.rand(2, 128, 8, 12))
    assert fcm.get_total_flops() == ours


def test_dtype_sets_bytes_not_flops(tmp_path):
    built = _build_text(tmp_path, C2F_YAML, (32, 32))
    fp32, fp16, int8 = analyze(built), analyze(built, dtype="fp16"), analyze(built, dtype="int8")
    assert fp16.totals.flops == fp32.totals.flops == int8.totals.flops
    assert fp16.totals.bytes_unfused * 2 == fp32.totals.bytes_unfused
    # int8 (analysis.precision): 1 byte an element, but the BN vectors (4 x 96 elements read by the four BNs) at 4
    assert int8.totals.bytes_unfused == fp32.totals.bytes_unfused // 4 + 3 * 4 * 96
    assert fp16.peak_activation_bytes * 2 == fp32.peak_activation_bytes
    assert fp16.layer_boundary_peak_bytes * 2 == fp32.layer_boundary_peak_bytes
    assert analyze(built, dtype="bf16").bytes_per_element == 2 and fp16.dtype == "fp16"
    with pytest.raises(ArchscopeError, match="unknown dtype"):
        analyze(built, dtype="fp12")


def test_batch_scales_counts_but_not_per_image_gflops(tmp_path):
    one = analyze(_build_text(tmp_path, PSA_YAML, (8, 8)))
    four = analyze(_build_text(tmp_path, PSA_YAML, (8, 8), batch=4))
    assert four.totals.mac_flops == 4 * one.totals.mac_flops
    assert four.gflops_ultralytics == pytest.approx(one.gflops_ultralytics, rel=1e-12)
    assert four.gflops_legacy == pytest.approx(one.gflops_legacy, rel=1e-12)


# ------------------------------------------------------------------------------ (d): meta vs real


@pytest.mark.parametrize("cfg,scale", [("v8/yolov8.yaml", "n"), ("11/yolo11.yaml", "n"), ("12/yolo12.yaml", "n"),
                                       ("v10/yolov10n.yaml", "n"), ("11/yolo11-cls.yaml", "n"),
                                       ("v8/yolov8-seg.yaml", "n")])
def test_meta_and_real_counts_are_identical(cfg, scale, cfg_dir):
    built = _build(cfg_dir, cfg, scale, imgsz=(160, 224), batch=2)
    meta, real = analyze(built), analyze(built, real=True)
    assert not meta.real and real.real
    assert meta.ops == real.ops  # the same ATen ops, in order, with the same attribution, FLOPs and bytes
    assert meta.totals == real.totals
    for a, b in zip(meta.layers, real.layers):
        assert a == b
    assert (meta.gflops_ultralytics, meta.gflops_legacy, meta.peak_activation_bytes) == \
        (real.gflops_ultralytics, real.gflops_legacy, real.peak_activation_bytes)
    assert next(built.model.parameters()).device.type == "meta"  # the caller's model is left on meta


@pytest.mark.parametrize("text", [CONV_YAML, DW_YAML, C2F_YAML, PSA_YAML], ids=["conv", "dw", "c2f", "psa"])
def test_meta_and_real_identical_single_blocks(text, tmp_path):
    built = _build_text(tmp_path, text, (16, 48), batch=3)
    meta, real = analyze(built), analyze(built, real=True)
    assert meta.ops == real.ops and meta.layers == real.layers


def test_mac_flops_equal_flopcountermode_on_real_tensors(cfg_dir):
    """Beyond the 640 reference: a non-square size and batch 2, FlopCounterMode on a real forward."""
    from torch.utils.flop_counter import FlopCounterMode

    for cfg, scale in [("11/yolo11.yaml", "n"), ("12/yolo12.yaml", "n")]:
        built = _build(cfg_dir, cfg, scale, imgsz=(192, 256), batch=2)
        ours = analyze(built).totals.mac_flops
        model = materialize(built)
        with torch.no_grad(), FlopCounterMode(display=False) as fcm:
            model.run(torch.rand(2, 3, 192, 256))
        assert fcm.get_total_flops() == ours, cfg


# -------------------------------------------------------------------------------- SDPA and the mode


class _Sdpa(torch.nn.Module):
    def forward(self, q, k, v):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v)


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_sdpa_counted_as_cpu_runs_it(device):
    """F.scaled_dot_product_attention: meta is routed down the kernel CPU picks (flash for CPU), and counted
    2*B*H*Lq*Lk*(D+Dv) MAC FLOPs plus 6 per score (FlopCounterMode has no formula for that CPU kernel)."""
    b, heads, lq, lk, d, dv = 2, 4, 48, 40, 16, 16
    q = torch.rand(b, heads, lq, d, device=device)
    k = torch.rand(b, heads, lk, d, device=device)
    v = torch.rand(b, heads, lk, dv, device=device)
    rec = Recorder(4)
    with torch.no_grad(), MetaSdpaAsCpu(), CountingMode(rec, shape_only=device == "meta"):
        out = _Sdpa()(q, k, v)
    assert tuple(out.shape) == (b, heads, lq, dv)
    assert [op.op for op in rec.ops] == ["_scaled_dot_product_flash_attention_for_cpu"]
    op = rec.ops[0]
    assert op.mac_flops == 2 * b * heads * lq * lk * (d + dv)
    assert op.other_flops == 6 * b * heads * lq * lk
    assert op.bytes_read == 4 * b * heads * (lq * d + lk * d + lk * dv)
    assert op.bytes_written == 4 * b * heads * lq * dv  # the output only, not the log-sum-exp


def test_sdpa_math_path_is_the_same_on_meta_and_cpu():
    """Where CPU declines its fused kernel (here: value width != query width) both devices run the math path."""
    seen = []
    for device in ("meta", "cpu"):
        q, k, v = (torch.rand(1, 2, 24, 16, device=device), torch.rand(1, 2, 20, 16, device=device),
                   torch.rand(1, 2, 20, 8, device=device))
        rec = Recorder(4)
        with torch.no_grad(), MetaSdpaAsCpu(), CountingMode(rec, shape_only=device == "meta"):
            _Sdpa()(q, k, v)
        seen.append(rec.ops)
    assert seen[0] == seen[1]
    assert sum(op.mac_flops for op in seen[0]) == 2 * 2 * 24 * 20 * (16 + 8)


def test_counting_mode_keeps_dynamo_out():
    """Defining the mode must not wrap __torch_dispatch__ with torch._disable_dynamo (which imports torch._dynamo):
    the private _should_skip_dynamo hook (torch >= 2.8) is answered False. On a torch without the hook this is a
    no-op, and the subprocess check below still tells whether anything else pulls torch._dynamo in."""
    assert CountingMode._should_skip_dynamo() is False
    base = torch.utils._python_dispatch.TorchDispatchMode
    if not hasattr(base, "_should_skip_dynamo"):
        pytest.skip("this torch has no _should_skip_dynamo hook")
    code = textwrap.dedent(f"""
        import sys
        from archscope.spec.model_spec import load_spec
        from archscope.build.builder import build_model, BuildOptions
        from archscope.analysis.analyze import analyze
        built = build_model(load_spec({str(FIXTURES / 'yolov5s_v6.yaml')!r}), BuildOptions(imgsz=(256, 320), batch=2))
        costs = analyze(built)
        assert costs.totals.mac_flops > 0
        heavy = [m for m in ("torch._dynamo", "torch.fx.experimental.symbolic_shapes") if m in sys.modules]
        print(heavy)
        sys.exit(1 if heavy else 0)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


# Shape rules answer ops on meta without running torch's meta kernels; they must give exactly the shape, strides and
# dtype the CPU kernel gives, or meta and real op streams drift apart (a reshape that copies on one side only).
def _layouts():
    x = torch.randn(2, 8, 6, 10)
    variants = {
        "contiguous": x,
        "permuted": x.permute(0, 2, 3, 1),
        "channels_last": x.contiguous(memory_format=torch.channels_last),
        "channel_slice": x[:, 2:5],
        "transposed": torch.randn(2, 3, 16, 24).transpose(-1, -2),
        "permuted_slice": torch.randn(2, 4, 24, 10).permute(0, 1, 3, 2)[:, :, :5],
    }
    aten = torch.ops.aten
    cases = []
    for name, t in variants.items():
        cases += [(f"silu/{name}", aten.silu.default, (t,)), (f"mul_scalar/{name}", aten.mul.Tensor, (t, 0.5)),
                  (f"add_self/{name}", aten.add.Tensor, (t, t)), (f"add_contig/{name}", aten.add.Tensor, (t.contiguous(), t)),
                  (f"add_to_contig/{name}", aten.add.Tensor, (t, t.contiguous())),
                  (f"softmax/{name}", aten._softmax.default, (t, -1, False)), (f"clone/{name}", aten.clone.default, (t,))]
    sl = variants["channel_slice"]
    cases += [
        ("add_bias_broadcast", aten.add.Tensor, (x, torch.randn(8, 1, 1))),
        ("mul_broadcast", aten.mul.Tensor, (torch.randn(2, 1, 6, 10), torch.randn(1, 8, 1, 1))),
        ("conv", aten.convolution.default, (x, torch.randn(16, 8, 3, 3), None, [2, 2], [1, 1], [1, 1], False, [0, 0], 1)),
        ("conv_slice", aten.convolution.default, (sl, torch.randn(16, 3, 3, 3), None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1)),
        ("conv_depthwise_bias", aten.convolution.default, (x, torch.randn(8, 1, 5, 5), torch.randn(8), [1, 1], [2, 2], [1, 1], False, [0, 0], 8)),
        ("conv_transposed", aten.convolution.default, (x, torch.randn(8, 4, 2, 2), None, [2, 2], [0, 0], [1, 1], True, [0, 0], 1)),
        ("batch_norm", aten.native_batch_norm.default, (x, torch.randn(8), torch.randn(8), torch.randn(8), torch.rand(8), False, 0.1, 1e-5)),
        ("batch_norm_slice", aten.native_batch_norm.default, (sl, torch.randn(3), torch.randn(3), torch.randn(3), torch.rand(3), False, 0.1, 1e-5)),
        ("max_pool_channel_slice", aten.max_pool2d_with_indices.default, (sl, [3, 3], [2, 2], [1, 1])),
        ("avg_pool_channel_slice", aten.avg_pool2d.default, (sl, [2, 2], [1, 1], [0, 0], False, True)),
        ("upsample_channel_slice", aten.upsample_nearest2d.default, (sl, [12, 20])),
        ("pad", aten.constant_pad_nd.default, (x, [0, 1, 0, 1], 0.0)),
        ("pad_crop_slice", aten.constant_pad_nd.default, (sl, [1, -1, 2, 0], 0.0)),
        ("cat", aten.cat.default, ([x, x[:, :3]], 1)),
        ("cat_permuted", aten.cat.default, ([x.permute(0, 2, 3, 1)] * 2, 1)),
        ("stack", aten.stack.default, ([x, x], 2)),
        ("max_pool", aten.max_pool2d_with_indices.default, (x, [5, 5], [1, 1], [2, 2])),
        ("max_pool_ceil", aten.max_pool2d_with_indices.default, (torch.randn(1, 2, 7, 9), [3, 3], [2, 2], [1, 1], [1, 1], True)),
        ("avg_pool", aten.avg_pool2d.default, (x, [3, 3], [2, 2], [1, 1])),
        ("upsample_nearest_vec", aten.upsample_nearest2d.vec, (x, None, [2.0, 2.0])),
        ("upsample_nearest", aten.upsample_nearest2d.default, (x, [12, 20])),
        ("upsample_bilinear_vec", aten.upsample_bilinear2d.vec, (x, None, False, [2.0, 2.0])),
        ("mean_keepdim", aten.mean.dim, (x, [2, 3], True)),
        ("mean", aten.mean.dim, (x, [-1, -2])),
        ("sum", aten.sum.dim_IntList, (x, [1])),
        ("mm", aten.mm.default, (torch.randn(5, 7), torch.randn(3, 7).t())),
        ("addmm", aten.addmm.default, (torch.randn(3), torch.randn(5, 7), torch.randn(3, 7).t())),
        ("bmm", aten.bmm.default, (torch.randn(4, 7, 5).transpose(1, 2), torch.randn(4, 7, 3))),
        ("baddbmm", aten.baddbmm.default, (torch.randn(4, 5, 3), torch.randn(4, 5, 7), torch.randn(4, 7, 3))),
        ("layer_norm", aten.native_layer_norm.default, (x, [10], torch.randn(10), torch.randn(10), 1e-5)),
        ("layer_norm_permuted", aten.native_layer_norm.default, (x.permute(0, 2, 3, 1), [8], None, None, 1e-5)),
        ("sdpa_cpu", aten._scaled_dot_product_flash_attention_for_cpu.default, (torch.randn(2, 4, 24, 16),) * 3),
    ]
    return cases


def _as_meta(value):
    if isinstance(value, torch.Tensor):
        return torch.empty_strided(value.shape, value.stride(), dtype=value.dtype, device="meta")
    if isinstance(value, list) and value and isinstance(value[0], torch.Tensor):
        return [_as_meta(v) for v in value]
    return value


@pytest.mark.parametrize("name,func,args", _layouts(), ids=[c[0] for c in _layouts()])
def test_shape_rules_match_cpu_kernels(name, func, args):
    real = func(*args)
    meta_args = [_as_meta(a) for a in args]
    packet = func.overloadpacket.__name__
    if packet in _UPSAMPLE:
        got = _upsample_shape(meta_args, {}, f"{packet}.{func._overloadname}")
    else:
        got = SHAPE_RULES[packet](meta_args, {})
    assert got is not None, f"{name}: the shape rule declined (the meta kernel would answer, importing torch._dynamo)"
    reals = real if isinstance(real, tuple) else (real,)
    gots = got if isinstance(got, tuple) else (got,)
    for r, g in zip(reals, gots):
        if packet == "_scaled_dot_product_flash_attention_for_cpu" and r is not reals[0]:
            assert tuple(r.shape) == tuple(g.shape)
            continue
        assert (tuple(g.shape), g.stride(), g.dtype) == (tuple(r.shape), r.stride(), r.dtype)


# ------------------------------------------------------------------------------------- memory, table


def test_live_and_peak_activation_follow_from_indices():
    # layer:   0: input -> 10   1: 0 -> 20   2: 1 -> 30   3: [0, 2] -> 40; the input (5) is needed by layer 0 only
    outputs, sources = [10, 20, 30, 40], [(-1,), (0,), (1,), (0, 2)]
    # while 0 runs: input + 10; 1: 10 + 20; 2: 10 + 20 + 30 (1 is read now); 3: 10 + 30 + 40 (1 was freed)
    assert live_bytes(outputs, sources, 5) == [15, 30, 60, 80]
    assert peak_activation(outputs, sources, 5) == (80, 3)
    # an output nobody consumes is live during its own step only
    assert live_bytes([10, 20, 30], [(-1,), (-1,), (1,)], 5) == [15, 25, 50]


def test_cost_table_is_documented():
    table = costs.cost_table_markdown()
    for name in ("convolution", "batch_norm", "softmax", "silu", "upsample nearest"):
        assert name in table
    aten = torch.ops.aten
    assert costs.op_flops(aten.silu_, (None,), {}, [torch.empty(2, 3, device="meta")]) == (0, 30)
    assert costs.classify(aten.view) == "unknown" and costs.classify(aten.cat) == "data"


def test_real_forward_refuses_when_memory_is_short(tmp_path, monkeypatch):
    built = _build_text(tmp_path, CONV_YAML, (64, 64))
    from archscope.util import memory

    monkeypatch.setattr(memory, "host_available_bytes", lambda: 1)  # one byte free
    with pytest.raises(ArchscopeError, match="needs about"):
        analyze(built, real=True)


def test_sample_config_counts_without_uncounted_ops():
    sample = Path(__file__).resolve().parents[1] / "sample_configs" / "tiny-detector.yaml"
    costs_ = analyze(build_model(load_spec(sample), BuildOptions(imgsz=(384, 640), batch=2)))
    assert costs_.uncounted_ops == {} and costs_.outside.flops == 0
    assert costs_.totals.mac_flops > 0 and all(layer.activation_bytes > 0 for layer in costs_.layers)

"""Seed 003 as a shipped sample: RT-DETR-L written by us (sample_configs/rtdetr-l-aifi.yaml) and the same model
with Mobile MQA in place of AIFI (rtdetr-l-mqa.yaml). The baseline builds as Ultralytics 8.4.190 builds its own
rt-detr/rtdetr-l.yaml (470 modules, 32,970,476 parameters: tests/reference/ultralytics_layers.py, made by
tests/reference/scripts/ul84_rtdetr_layers.py); the swapped layer's parameters are counted by hand below."""

from __future__ import annotations

from pathlib import Path

from reference.ultralytics_layers import RTDETR_LAYERS

import archscope.api as api

SAMPLES = Path(__file__).resolve().parents[1] / "sample_configs"

C, HEADS, KEY, VALUE, FFN = 256, 4, 64, 64, 1024
# AIFI: nn.MultiheadAttention (in_proj 3C x C + 3C bias, out_proj C x C + C), FFN C->1024->C with biases, 2 LayerNorms
AIFI_PARAMS = (3 * C * C + 3 * C) + (C * C + C) + (C * FFN + FFN) + (FFN * C + C) + 2 * (2 * C)
# Mobile MQA without downsampling: bias-free 1x1 projections, Q to HEADS x KEY, one K and one V head, output back to C
MQA_PARAMS = C * HEADS * KEY + C * KEY + C * VALUE + HEADS * VALUE * C


def test_the_baseline_is_rtdetr_l_and_only_layer_11_changes():
    base = api.profile(str(SAMPLES / "rtdetr-l-aifi.yaml"), analyse=False)
    mqa = api.profile(str(SAMPLES / "rtdetr-l-mqa.yaml"), analyse=False)
    assert (base.totals.layers, base.totals.params) == RTDETR_LAYERS[("rt-detr/rtdetr-l.yaml", None)]
    assert [layer.module for layer in base.layers][11] == "AIFI"
    assert mqa.layers[11].module == "MultiQueryAttentionLayerWithDownSampling"
    assert base.layers[11].params == AIFI_PARAMS == 789_760
    assert mqa.layers[11].params == MQA_PARAMS == 163_840
    assert mqa.totals.params == base.totals.params - AIFI_PARAMS + MQA_PARAMS
    differ = [i for i, (a, b) in enumerate(zip(base.layers, mqa.layers))
              if (a.module, a.params, a.output_shape) != (b.module, b.params, b.output_shape)]
    assert differ == [11]


def test_the_swap_shares_k_and_v_at_the_stride_32_map():
    base = api.profile(str(SAMPLES / "rtdetr-l-aifi.yaml"), imgsz=640)
    mqa = api.profile(str(SAMPLES / "rtdetr-l-mqa.yaml"), imgsz=640)
    tokens = (640 // 32) ** 2
    # both attend over 400 tokens with 256-wide queries: QK^T and PV are HEADS x (N x N x d) multiply-adds each,
    # AIFI with 8 heads of 32, Mobile MQA with 4 heads of 64: the same attention FLOPs
    assert base.layers[11].attention_flops == mqa.layers[11].attention_flops == 2 * 2 * tokens * tokens * C
    assert base.layers[11].output_shape == mqa.layers[11].output_shape == [1, C, 20, 20]


def test_the_legacy_gflops_line_says_why_it_exceeds_the_full_count():
    """The legacy convention profiles one 32x32 proxy image and scales it by (640/32)^2 = 400: RT-DETR's decoder
    (300 queries whatever the image) is multiplied with it (105.7 GFLOPs against 14.2 counted at 640), which puts the
    hook-based figure above archscope's; the summary line says why. A YOLO model's legacy figure stays below."""
    from archscope.api import profile
    from archscope.render.cells import attention_gflops_line

    report = profile(str(SAMPLES / "rtdetr-l-aifi.yaml"))
    decoder = report.layers[28]
    assert decoder.gflops_legacy > 5 * decoder.flops / 1e9
    assert "a decoder's fixed queries" in attention_gflops_line(report)
    mhsa = profile(str(SAMPLES / "yolov8n-mhsa.yaml"))
    assert "fixed queries" not in attention_gflops_line(mhsa)

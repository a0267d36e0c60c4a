"""RT-DETR blocks: HGStem, HGBlock, AIFI, RTDETRDecoder.

Reference figures are literal numbers. "UL 8.4.190": the layer's parameter count printed by Ultralytics 8.4.190's
parse_model for rt-detr/rtdetr-l.yaml (layer index given) or v8/yolov8-rtdetr.yaml, measured in a scratch
environment; "formula": derived by hand beside it.
"""

from __future__ import annotations

import math
import textwrap

import pytest
import torch
from reference.ultralytics_layers import RTDETR_LAYERS

from archscope.analysis.to_report import leaf_module_count
from archscope.blocks.rtdetr import AIFI, HGBlock, HGStem, RTDETRDecoder, sincos_2d
from archscope.build.builder import BuildOptions, build_model
from archscope.build.materialize import materialize
from archscope.spec.model_spec import load_spec


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("factory, args, expected", [
    (HGStem, (3, 32, 48), 25_248),  # UL 8.4.190 rtdetr-l layer 0
    (HGBlock, (48, 48, 128, 3, 6), 155_072),  # UL 8.4.190 rtdetr-l layer 1
    (HGBlock, (128, 96, 512, 3, 6), 839_296),  # UL 8.4.190 rtdetr-l layer 3
    (HGBlock, (512, 192, 1024, 5, 6, True, False), 1_695_360),  # UL 8.4.190 rtdetr-l layer 5
    (HGBlock, (1024, 192, 1024, 5, 6, True, True), 2_055_808),  # UL 8.4.190 rtdetr-l layer 6
    (HGBlock, (1024, 384, 2048, 5, 6, True, False), 6_708_480),  # UL 8.4.190 rtdetr-l layer 9
    # formula: attention 4*256^2 + 4*256, fc1 256*1024 + 1024, fc2 1024*256 + 256, two LayerNorms 2*2*256;
    # also UL 8.4.190 rtdetr-l layer 11
    (AIFI, (256, 1024, 8), 789_760),
    (RTDETRDecoder, (80, [256, 256, 256]), 7_466_252),  # UL 8.4.190 rtdetr-l layer 28
    (RTDETRDecoder, (80, [64, 128, 256]), 7_384_332),  # UL 8.4.190 yolov8-rtdetr.yaml n, last layer
])
def test_params_match_ultralytics(factory, args, expected):
    with torch.device("meta"):
        module = factory(*args)
    assert n_params(module) == expected


def test_shortcut_only_when_shapes_allow():
    assert HGBlock(64, 16, 64, 3, 2, True, True).add
    assert not HGBlock(32, 16, 64, 3, 2, True, True).add


def test_sincos_embedding_is_row_major():
    h, w, dim = 3, 5, 8
    pos = sincos_2d(h, w, dim, torch.empty(0))
    assert pos.shape == (1, h * w, dim)
    t = 2 * w + 4  # token at row 2, column 4; frequencies 1 and 1/100 for dim 8
    assert pos[0, t, 0].item() == pytest.approx(math.sin(2.0))  # sin(y * 1)
    assert pos[0, t, 2].item() == pytest.approx(math.cos(2.0))  # cos(y * 1)
    assert pos[0, t, 4].item() == pytest.approx(math.sin(4.0))  # sin(x * 1)
    assert pos[0, t, 5].item() == pytest.approx(math.sin(4.0 / 100))


def test_aifi_non_square_keeps_shape():
    torch.manual_seed(0)
    m = AIFI(32, 64, 4).eval()
    with torch.no_grad():
        y = m(torch.randn(2, 32, 3, 7))
    assert y.shape == (2, 32, 3, 7) and torch.isfinite(y).all()


def small_decoder(device=None):
    # hd 64, nq 30, ndp 4, nh 4, ndl 2, d_ffn 128
    with torch.device(device or "cpu"):
        return RTDETRDecoder(5, [32, 64, 128], 64, 30, 4, 4, 2, 128)


def test_decoder_eval_output_meta_and_real():
    feats = [(32, 16, 20), (64, 8, 10), (128, 4, 5)]
    meta = small_decoder("meta").eval()
    with torch.no_grad():
        y = meta([torch.empty(2, c, h, w, device="meta") for c, h, w in feats])
    assert list(y.shape) == [2, 30, 6]
    torch.manual_seed(0)
    real = small_decoder().eval()
    for module in real.modules():
        hook = getattr(module, "init_real", None)
        if callable(hook):
            hook()
    with torch.no_grad():
        y = real([torch.randn(2, c, h, w) for c, h, w in feats])
    assert list(y.shape) == [2, 30, 6] and torch.isfinite(y).all()
    boxes, scores, classes = y[..., :4], y[..., 4], y[..., 5]
    assert (boxes >= 0).all() and (boxes <= 1).all()  # normalised cx, cy, w, h
    assert (scores[:, :-1] >= scores[:, 1:]).all()  # sorted best first
    assert ((classes >= 0) & (classes < 5) & (classes == classes.round())).all()


def test_small_rtdetr_yaml_builds_and_runs_non_square(tmp_path):
    text = """\
        nc: 5
        scales:
          s: [0.50, 0.50, 1024]
        backbone:
          - [-1, 1, HGStem, [16, 32]]              # 0 /4
          - [-1, 3, HGBlock, [16, 64, 3]]          # 1 (n=3 -> 2 inner convs at depth 0.5)
          - [-1, 1, DWConv, [128, 3, 2, 1, False]] # 2 /8
          - [-1, 2, HGBlock, [32, 128, 5, True, False]]
          - [-1, 1, DWConv, [256, 3, 2, 1, False]] # 4 /16
          - [-1, 1, HGBlock, [64, 256, 5, True, False]]
          - [-1, 1, DWConv, [256, 3, 2, 1, False]] # 6 /32
        head:
          - [-1, 1, Conv, [128, 1, 1, None, 1, 1, False]] # 7
          - [-1, 1, AIFI, [256, 8]]
          - [-1, 1, Conv, [64, 1, 1]]
          - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
          - [5, 1, Conv, [64, 1, 1, None, 1, 1, False]]
          - [[-2, -1], 1, Concat, [1]]
          - [-1, 3, RepC3, [64]]                   # 13
          - [-1, 1, Conv, [64, 3, 2]]
          - [[-1, 9], 1, Concat, [1]]
          - [-1, 3, RepC3, [64]]                   # 16
          - [[13, 16], 1, RTDETRDecoder, [nc, 64, 20, 4, 4, 2, 128]]
        """
    path = tmp_path / "tiny-rtdetr.yaml"
    path.write_text(textwrap.dedent(text))
    built = build_model(load_spec(str(path)), BuildOptions(scale="s", imgsz=(128, 160)))
    by = {layer.index: layer for layer in built.layers}
    assert by[0].args == [3, 16, 32] and by[0].output_shape == [1, 32, 32, 40]  # HG channels are not width-scaled
    assert by[1].args == [32, 16, 64, 3, 2] and len(built.model.layers[1].m) == 2  # repeat goes in at position 4
    assert by[8].args == [64, 256, 8] and by[8].output_shape == [1, 64, 4, 5]  # AIFI: c1 prepended, out = in
    assert by[17].args[:2] == [5, [32, 32]]  # decoder: channel list second
    assert by[17].output_shape == [1, 20, 6]
    model = materialize(built)
    torch.manual_seed(0)
    with torch.no_grad():
        y = model(torch.randn(1, 3, 128, 160))
    assert list(y.shape) == [1, 20, 6] and torch.isfinite(y).all()


@pytest.mark.parametrize("cfg, scale", list(RTDETR_LAYERS))
def test_layer_count_matches_ultralytics(cfg_dir, cfg, scale):
    """totals.layers is Ultralytics' deduplicated leaf count: each HGBlock has its own ReLU (shared by its convs),
    every HGStem conv its own; one shared across all HGBlocks gave 465 / 583 for rtdetr-l / -x."""
    built = build_model(load_spec(cfg_dir / cfg), BuildOptions(scale=scale))
    assert (leaf_module_count(built.model), built.params) == RTDETR_LAYERS[(cfg, scale)]


def test_hgblock_activation_is_per_block_and_shared_inside():
    with torch.device("meta"):
        a, b = HGBlock(48, 48, 128, 3, 6), HGBlock(48, 48, 128, 3, 6)
    assert a.sc.act is a.ec.act is a.m[0].act and a.sc.act is not b.sc.act

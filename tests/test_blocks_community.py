"""The community block family (archscope/blocks/community.py): CBAM and its gates, SE, ECA, CoordAtt/CA, SimAM,
GAM, SKAttention, LSKblock, space_to_depth/SPDConv, RepVGGBlock, BiFPN weighted concat, and the YOLOv7
repository's SPPCSPC, DownC, MP, SP, ReOrg.

Reference figures: "formula" = derived by hand from the block's published definition (worked out in the comment);
"YOLOv7 repository" = printed by that repository's own code (tests/reference/yolov7_community.py, produced by
tests/reference/scripts/y7_community.py). FLOPs are checked against torch's FlopCounterMode on real tensors.
"""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from archscope.analysis.analyze import analyze
from archscope.blocks import community as cm
from archscope.build.builder import BuildOptions, build_model
from archscope.build.catalog import default_registry
from archscope.build.fuse import deploy
from archscope.build.materialize import materialize
from archscope.errors import ArchscopeError
from archscope.spec.model_spec import load_spec
from reference.yolov7_community import YOLOV7_BLOCK_PARAMS, YOLOV7_YAML_LAYERS, YOLOV7_YAML_TOTAL


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def _build(tmp_path, text, imgsz=(64, 64), **options):
    path = tmp_path / "model.yaml"
    path.write_text(textwrap.dedent(text))
    return build_model(load_spec(path), BuildOptions(imgsz=imgsz, **options))


# ------------------------------------------------------------------------------------------ hand-derived params

HAND_PARAMS = [
    # Ultralytics' ChannelAttention(c): 1x1 conv with bias: c*c + c = 256*256 + 256
    (lambda: cm.ChannelAttention(256), 65792),
    # SpatialAttention(k): one bias-free 2 -> 1 k x k conv: 2*k*k
    (lambda: cm.SpatialAttention(7), 98),
    (lambda: cm.SpatialAttention(3), 18),
    # CBAM(c=256, k=7), Ultralytics' form: channel gate c*c + c, spatial gate 2*49 = 65536 + 256 + 98
    (lambda: cm.CBAM(256), 65890),
    # CBAM (YOLOv5 forks, the paper's MLP), c=256, r=16: shared bias-free MLP 2*256*16 + spatial 2*49
    (lambda: cm.CBAMv5(256, 256), 8290),
    # ... r=8, k=3: 2*256*32 + 2*9
    (lambda: cm.CBAMv5(256, 256, 8, 3), 16402),
    # SE(c=256, r=16): two bias-free linears 256*16 + 16*256
    (lambda: cm.SE(256, 256), 8192),
    # ECA(k): one bias-free Conv1d(1, 1, k): k
    (lambda: cm.ECA(256), 3),
    (lambda: cm.ECA(256, 5), 5),
    # CoordAtt(256, 256, 32): mip = max(8, 256 // 32) = 8; conv1 256*8 + 8, bn1 2*8, conv_h/conv_w 2*(8*256 + 256)
    (lambda: cm.CoordAtt(256, 256), 2048 + 8 + 16 + 2 * (2048 + 256)),
    # ... inp=64: mip = max(8, 2) = 8: 64*8 + 8 + 16 + 2*(8*64 + 64)
    (lambda: cm.CoordAtt(64, 64), 512 + 8 + 16 + 2 * (512 + 64)),
    # SimAM: no parameters
    (lambda: cm.SimAM(256), 0),
    # GAM_Attention(256, 256, rate=4), plain convs (the form most forks copy): hidden 64; linears 256*64 + 64 +
    # 64*256 + 256; conv 7x7 256 -> 64: 256*64*49 + 64; BN 2*64; conv 7x7 64 -> 256: 64*256*49 + 256; BN 2*256
    (lambda: cm.GAMAttention(256, 256), (16384 + 64 + 16384 + 256) + (256 * 64 * 49 + 64) + 128
     + (64 * 256 * 49 + 256) + 512),
    # group=True (groups=rate=4): 64*(256/4)*49 + 64 and 256*(64/4)*49 + 256
    (lambda: cm.GAMAttention(256, 256, 4, True), (16384 + 64 + 16384 + 256) + (64 * 64 * 49 + 64) + 128
     + (256 * 16 * 49 + 256) + 512),
    # SKAttention(64): d = max(32, 64 // 16) = 32; branches k=1,3,5,7: 64*64*k*k + 64 (bias) + 2*64 (BN);
    # fc 64*32 + 32; fcs 4*(32*64 + 64)
    (lambda: cm.SKAttention(64), sum(64 * 64 * k * k + 64 + 128 for k in (1, 3, 5, 7)) + (2048 + 32)
     + 4 * (2048 + 64)),
    # ... kernels [3, 5], reduction 8, group 2: d = max(32, 8) = 32; 64*(64/2)*k*k + 64 + 128 each
    (lambda: cm.SKAttention(64, [3, 5], 8, 2), sum(64 * 32 * k * k + 64 + 128 for k in (3, 5)) + (2048 + 32)
     + 2 * (2048 + 64)),
    # LSKblock(64): conv0 dw 5x5 64*25 + 64; conv_spatial dw 7x7 64*49 + 64; conv1, conv2 64*32 + 32 each;
    # conv_squeeze 2*2*49 + 2; conv 32*64 + 64
    (lambda: cm.LSKblock(64), (1600 + 64) + (3136 + 64) + 2 * (2048 + 32) + (196 + 2) + (2048 + 64)),
    # space_to_depth, ReOrg, MP, SP: no parameters
    (lambda: cm.SpaceToDepth(), 0),
    # SPDConv(64, 128, k=3): Conv(256, 128, 3) = 256*128*9 + 2*128
    (lambda: cm.SPDConv(64, 128), 294912 + 256),
    # RepVGGBlock(64, 64, 3, 1): 3x3 conv+BN 9*64*64 + 128, 1x1 conv+BN 64*64 + 128, identity BN 128
    (lambda: cm.RepVGGBlock(64, 64), 36864 + 128 + 4096 + 128 + 128),
    # RepVGGBlock(64, 128, 3, 2): no identity branch (channels and stride change): 9*64*128 + 256 + 64*128 + 256
    (lambda: cm.RepVGGBlock(64, 128, 3, 2), 73728 + 256 + 8192 + 256),
    # BiFPN_Concat2 / 3: one weight per input
    (lambda: cm.BiFPN_Concat2(2), 2),
    (lambda: cm.BiFPN_Concat3(3), 3),
]


@pytest.mark.parametrize("make, expected", HAND_PARAMS)
def test_param_counts_by_hand(make, expected):
    assert _count(make()) == expected


@pytest.mark.parametrize("key", sorted(YOLOV7_BLOCK_PARAMS))
def test_yolov7_blocks_match_the_yolov7_repository(key):
    name, args = key
    assert _count(getattr(cm, name)(*args)) == YOLOV7_BLOCK_PARAMS[key]


# ------------------------------------------------------------------------------------------ a YAML that uses them

COMMUNITY_YAML = """\
nc: 10
backbone:
  - [-1, 1, Conv, [32, 3, 2]]        # 0  3*32*9 + 64                          = 928
  - [-1, 1, CBAM, [32]]              # 1  32*32 + 32 + 98                      = 1154
  - [-1, 1, SE, [32, 8]]             # 2  2*32*4                               = 256
  - [-1, 1, ECA, [5]]                # 3  k = 5                                = 5
  - [-1, 1, CoordAtt, [32, 32]]      # 4  mip 8: 256 + 8 + 16 + 2*(256 + 32)   = 856
  - [-1, 1, CA, [32]]                # 5  the same block                       = 856
  - [-1, 1, SimAM, []]               # 6                                       = 0
  - [-1, 1, GAM_Attention, [32, 32]] # 7  (256+8+256+32) + (32*8*49+8) + 16 + (8*32*49+32) + 64 = 25760
  - [-1, 1, SKAttention, [32]]       # 8  sum(1024*k*k + 96) + 1056 + 4*1056   = 91680
  - [-1, 1, LSKblock, [32]]          # 9  832 + 1600 + 2*528 + 198 + 544       = 4230
  - [-1, 1, space_to_depth, [1]]     # 10 32 -> 128 channels                   = 0
  - [-1, 1, Conv, [64, 3, 1]]        # 11 128*64*9 + 128                       = 73856
  - [-1, 1, RepVGGBlock, [64, 3, 1]] # 12 36864 + 128 + 4096 + 128 + 128       = 41344
  - [-1, 1, RepVGGBlock, [96, 3, 2]] # 13 9*64*96 + 192 + 64*96 + 192          = 61824
  - [-1, 1, SPDConv, [64]]           # 14 384*64*9 + 128                       = 221312
  - [-1, 1, MP, []]                  # 15                                      = 0
  - [-1, 1, SPPCSPC, [64]]           # 16 YOLOv7 repository: SPPCSPC(64, 64)   = 111488
  - [-1, 1, DownC, [64]]             # 17 64*64+128 + 64*32*9+64 + 64*32+64    = 24832
  - [-1, 1, ReOrg, []]               # 18 64 -> 256 channels                   = 0
  - [-1, 1, ChannelAttention, [256]] # 19 256*256 + 256                        = 65792
  - [-1, 1, SpatialAttention, [7]]   # 20                                      = 98
head:
  - [-1, 1, nn.Upsample, [None, 2, "nearest"]]  # 21
  - [[-1, 17], 1, BiFPN_Concat2, [1]]           # 22 2 weights; 256 + 64 channels
  - [[-1, 17, 21], 1, BiFPN_Concat3, [512]]     # 23 3 weights; 320 + 64 + 256 channels
  - [-1, 1, SP, [3, 1]]                         # 24
"""
COMMUNITY_PARAMS = [928, 1154, 256, 5, 856, 856, 0, 25760, 91680, 4230, 0, 73856, 41344, 61824, 221312, 0, 111488,
                    24832, 0, 65792, 98, 0, 2, 3, 0]  # formula, per row as worked out in the YAML's comments


def test_a_yaml_of_community_blocks_builds_with_the_hand_counts(tmp_path):
    built = _build(tmp_path, COMMUNITY_YAML, imgsz=(128, 128))
    assert [layer.params for layer in built.layers] == COMMUNITY_PARAMS
    assert built.params == sum(COMMUNITY_PARAMS) == 726276
    out = {layer.index: layer.c_out for layer in built.layers}
    assert (out[10], out[18], out[22], out[23]) == (128, 256, 320, 640)
    assert list(built.layers[23].output_shape) == [1, 640, 2, 2]


def test_the_yaml_flops_equal_flopcountermode_on_real_tensors(tmp_path):
    built = _build(tmp_path, COMMUNITY_YAML, imgsz=(128, 256), batch=2)
    ours = analyze(built)
    model = materialize(built)
    with torch.no_grad(), FlopCounterMode(display=False) as fcm:
        model.run(torch.rand(2, 3, 128, 256))
    assert fcm.get_total_flops() == ours.totals.mac_flops > 0


@pytest.mark.parametrize("row, c, hw, flops", [
    # SE(c=64, r=16) on [2, 64, 8, 8]: two linears, 2 * B * (64*4 + 4*64) MACs
    ("[-1, 1, SE, [64]]", 64, (8, 8), 2 * 2 * (64 * 4 + 4 * 64)),
    # ECA(k=5): Conv1d over C positions, 2 * B * C * k
    ("[-1, 1, ECA, [64, 5]]", 64, (8, 8), 2 * 2 * 64 * 5),
    # CBAM (Ultralytics' form): 1x1 conv on the pooled map 2*B*c*c (+ its bias is not a MAC), spatial conv
    # 2*B*H*W*2*49
    ("[-1, 1, CBAM, [64]]", 64, (8, 8), 2 * 2 * 64 * 64 + 2 * 2 * 64 * 2 * 49),
    # LSKblock(16) on [2, 16, 8, 8] (N = 64 positions): dw 5x5 16*25*N, dw 7x7 16*49*N, two 1x1 16*8*N,
    # squeeze 2*2*49*N, 1x1 8*16*N; all x 2 x B
    ("[-1, 1, LSKblock, [16]]", 16, (8, 8), 2 * 2 * 64 * (16 * 25 + 16 * 49 + 2 * 128 + 196 + 128)),
])
def test_block_flops_by_hand_and_by_flopcountermode(tmp_path, row, c, hw, flops):
    text = f"nc: 1\nch: {c}\nbackbone:\n  - {row}\nhead: []\n"
    built = _build(tmp_path, text, imgsz=hw, batch=2)
    assert analyze(built).totals.mac_flops == flops
    model = materialize(built)
    with torch.no_grad(), FlopCounterMode(display=False) as fcm:
        model.run(torch.rand(2, c, *hw))
    assert fcm.get_total_flops() == flops


YOLOV7_YAML = """\
nc: 10
depth_multiple: 1.0
width_multiple: 0.5
anchors:
  - [10, 13, 16, 30, 33, 23]
  - [30, 61, 62, 45, 59, 119]
backbone:
  [[-1, 1, Conv, [32, 3, 2]],
   [-1, 1, ReOrg, []],
   [-1, 1, Conv, [64, 3, 1]],
   [-1, 1, MP, []],
   [-1, 1, DownC, [128]],
   [-1, 1, SP, [3, 1]],
   [-1, 1, SPPCSPC, [128]]]
head:
  [[[4, 6], 1, Detect, [nc, anchors]]]
"""


def test_a_yolov7_style_yaml_matches_the_yolov7_repository(tmp_path):
    built = _build(tmp_path, YOLOV7_YAML, imgsz=(64, 64))
    assert built.spec.dialect == "yolov5"  # 'anchors:' -> the YOLOv5-repository dialect, as YOLOv7 files are read
    assert [layer.params for layer in built.layers] == YOLOV7_YAML_LAYERS
    assert built.params == YOLOV7_YAML_TOTAL


ASFF_YAML = """\
nc: 10
backbone:
  - [-1, 1, Conv, [16, 3, 2]]   # 0 /2
  - [-1, 1, Conv, [32, 3, 2]]   # 1 /4  (the finest level, "P3")
  - [-1, 1, Conv, [64, 3, 2]]   # 2 /8  ("P4")
  - [-1, 1, Conv, [128, 3, 2]]  # 3 /16 ("P5")
head:
  - [[3, 2, 1], 1, ASFF, [0]]            # 4
  - [[3, 2, 1], 1, ASFF, [1, 48]]        # 5
  - [[3, 2, 1], 1, ASFF, [2, 32, True]]  # 6
"""
ASFF_PARAMS = [
    # level 0, inter 128, compress 16: stride_level_1 Conv(64, 128, 3, 2) 73728 + 256, stride_level_2
    # Conv(32, 128, 3, 2) 36864 + 256, weight_level_i 3 * (128*16 + 32), weight_levels 48*3 + 3,
    # expand Conv(128, 128, 3) 147456 + 256
    73984 + 37120 + 6240 + 147 + 147712,
    # level 1, inter 64, c2 48: compress_level_0 Conv(128, 64, 1) 8192 + 128, stride_level_2 Conv(32, 64, 3, 2)
    # 18432 + 128, 3 * (64*16 + 32), 147, expand Conv(64, 48, 3) 27648 + 96
    8320 + 18560 + 3168 + 147 + 27744,
    # level 2 with rfb (compress 8), inter 32: Conv(128, 32, 1) 4096 + 64, Conv(64, 32, 1) 2048 + 64,
    # 3 * (32*8 + 16), weight_levels 24*3 + 3, expand Conv(32, 32, 3) 9216 + 64
    4160 + 2112 + 816 + 75 + 9280,
]


def test_asff_levels_by_hand_and_their_flops_by_flopcountermode(tmp_path):
    built = _build(tmp_path, ASFF_YAML, imgsz=(64, 96), batch=2)
    assert [layer.params for layer in built.layers[4:]] == ASFF_PARAMS == [265203, 57939, 16443]
    assert [list(layer.output_shape) for layer in built.layers[4:]] == [[2, 128, 4, 6], [2, 48, 8, 12],
                                                                         [2, 32, 16, 24]]
    ours = analyze(built).totals.mac_flops
    model = materialize(built)
    with torch.no_grad(), FlopCounterMode(display=False) as fcm:
        model.run(torch.rand(2, 3, 64, 96))
    assert fcm.get_total_flops() == ours


def test_asff_needs_three_levels_and_a_level(tmp_path):
    for row, fragment in (("[[3, 2], 1, ASFF, [0]]", "fuses three levels"),
                          ("[[3, 2, 1], 1, ASFF, [3]]", "level must be 0, 1 or 2"),
                          ("[[3, 2, 1], 1, ASFF, []]", "needs its level")):
        text = ASFF_YAML.split("head:")[0] + f"head:\n  - {row}\n"
        with pytest.raises(ArchscopeError, match=fragment):
            _build(tmp_path, text)


# ------------------------------------------------------------------------------------------ argument forms


def test_cbam_reads_its_channels_from_the_input_at_any_width(tmp_path):
    # a row written for the full-width model ([-1, 1, CBAM, [256]]) builds at width 0.25 on 64 channels
    text = ("nc: 1\nwidth_multiple: 0.25\nbackbone:\n  - [-1, 1, Conv, [256, 3, 2]]\n  - [-1, 1, CBAM, [256]]\n"
            "  - [-1, 1, CBAM, [256, 3]]\n  - [-1, 1, CBAM, []]\nhead: []\n")
    built = _build(tmp_path, text)
    assert [layer.params for layer in built.layers[1:]] == [64 * 64 + 64 + 98, 64 * 64 + 64 + 18, 64 * 64 + 64 + 98]
    assert built.layers[1].c_out == 64


def test_cbam_in_a_yolov5_repository_file_is_the_papers_mlp_form(tmp_path):
    text = ("nc: 1\nanchors: 3\nbackbone:\n  - [-1, 1, Conv, [256, 3, 2]]\n  - [-1, 1, CBAM, [256]]\n"
            "  - [-1, 1, CBAM, [256, 8, 3]]\nhead: []\n")
    built = _build(tmp_path, text)
    # 2*256*(256//16) + 2*49 ; 2*256*(256//8) + 2*9
    assert [layer.params for layer in built.layers[1:]] == [8290, 16402]


@pytest.mark.parametrize("args, k", [("[]", 3), ("[5]", 5), ("[256]", 3), ("[256, 7]", 7), ("[256, 256, 5]", 5)])
def test_eca_reads_each_public_argument_form(tmp_path, args, k):
    text = f"nc: 1\nbackbone:\n  - [-1, 1, Conv, [64, 3, 2]]\n  - [-1, 1, ECA, {args}]\nhead: []\n"
    assert _build(tmp_path, text).layers[1].params == k


def test_every_community_block_says_its_argument_form_in_the_listing():
    from typer.testing import CliRunner

    from archscope.cli.app import app

    result = CliRunner().invoke(app, ["blocks", "--family", "community"])
    assert result.exit_code == 0, result.output
    for name in ("CBAM", "ChannelAttention", "SpatialAttention", "SE", "ECA", "CoordAtt", "SimAM", "GAM_Attention",
                 "SKAttention", "LSKblock", "space_to_depth", "SPDConv", "RepVGGBlock", "BiFPN_Concat2",
                 "BiFPN_Concat3", "SPPCSPC", "MP", "SP", "ReOrg", "DownC", "ASFF"):
        assert name in result.output, name
    reg = default_registry()
    assert reg.lookup("CA").factory is cm.CoordAtt and reg.lookup("GAM").factory is cm.GAMAttention
    assert "[c1, kernel_size]" in reg.lookup("CBAM").channels.describe()
    assert "[c2, ratio, kernel_size]" in reg.lookup("CBAM", "yolov5").channels.describe()
    assert "[k_size]" in reg.lookup("ECA").channels.describe()


# ------------------------------------------------------------------------------------------ RepVGG deployed view


def test_repvgg_fuses_into_one_3x3_conv_with_the_same_output():
    torch.manual_seed(0)
    block = cm.RepVGGBlock(16, 16).eval()
    for bn in (block.conv1.bn, block.conv2.bn, block.bn):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.5, 0.5)
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        before = block(x)
        summary = deploy(block)
        after = block(x)
    assert summary.repconv == 1
    assert _count(block) == 9 * 16 * 16 + 16  # one biased 3x3 conv (the paper's re-parameterisation)
    assert torch.allclose(before, after, atol=1e-5)


# ------------------------------------------------------------------------------------------ bad rows, one line


@pytest.mark.parametrize("row, fragment", [
    ("[[-1, 0, 0], 1, BiFPN_Concat2, [1]]", "BiFPN_Concat2 fuses exactly 2 inputs, but 'from' lists 3"),
    ("[-1, 1, CBAM, ['wide']]", "a channel count must be a positive integer"),
    ("[-1, 1, SpatialAttention, [5]]", "kernel size must be 3 or 7"),
    ("[-1, 1, ECA, [4]]", "k_size must be a positive odd integer"),
    ("[-1, 1, SKAttention, [16, [2, 3]]]", "kernels must be positive odd integers"),
    ("[-1, 1, RepVGGBlock, [16, 5, 1]]", "RepVGGBlock supports kernel_size=3"),
])
def test_bad_rows_are_one_located_line(tmp_path, row, fragment):
    text = f"nc: 1\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\n  - {row}\nhead: []\n"
    with pytest.raises(ArchscopeError) as caught:
        _build(tmp_path, text)
    message = str(caught.value)
    assert fragment in message and ":4: layer 1" in message and "\n" not in message, message

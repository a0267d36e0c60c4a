"""The YOLOv10 and attention block families (archscope/blocks/yolov10.py, archscope/blocks/attention.py).

Reference figures are literal numbers, each marked with where it came from:
* "formula": derived by hand from the block's published definition (worked out in the comment);
* "Ultralytics 8.4.190": printed by that version for the same module and arguments (sum of ``p.numel()`` over
  ``parameters()``, ``model.model[i].np`` for YAML layers, output shapes of an eval forward, FlopCounterMode), measured
  in a scratch environment;
* "Ultralytics 8.4.190 fingerprint": that version's eval output for the same module when every parameter is set by
  ``_fill`` below and the input by ``_pattern`` (no RNG involved), so the figures pin the exact computation (head
  layout of q/k/v, area split order, scaling, residuals), not just shapes.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from archscope.blocks.attention import A2C2f, AAttn, ABlock, Attention, C2fPSA, C2PSA, PSABlock
from archscope.blocks.yolov10 import CIB, PSA, C2fCIB, RepVGGDW, SCDown
from archscope.build.builder import BuildOptions, build_model
from archscope.build.materialize import materialize
from archscope.errors import ArchscopeError
from archscope.build.catalog import default_registry
from archscope.spec.model_spec import load_spec


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _conv_params(c1: int, c2: int, k: int = 1, g: int = 1) -> int:
    """Conv = Conv2d without bias + BatchNorm2d (weight and bias): c2 * c1/g * k * k + 2 * c2."""
    return c2 * (c1 // g) * k * k + 2 * c2


def _fill(module: nn.Module) -> nn.Module:
    """Deterministic parameters: the k-th parameter (sorted by name) is 0.2 * sin(0.37 * i + k), +1 for BN weights."""
    with torch.no_grad():
        for k, (name, p) in enumerate(sorted(module.named_parameters())):
            values = torch.sin(torch.arange(p.numel(), dtype=torch.float64) * 0.37 + k) * 0.2
            p.copy_(values.reshape(p.shape) + (1.0 if name.endswith("bn.weight") else 0.0))
    return module.eval()


def _pattern(shape) -> torch.Tensor:
    return torch.sin(torch.arange(math.prod(shape), dtype=torch.float64) * 0.011).reshape(shape).float()


def _bmm_flops(module: nn.Module, shape) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module.to("meta")(torch.empty(*shape, device="meta"))
    return counter.get_flop_counts()["Global"].get(torch.ops.aten.bmm, 0)


# ------------------------------------------------------------------------------------------ hand-derived counts


def test_psa_param_count_by_hand():
    # PSA(256, 256): c = int(256 * 0.5) = 128; heads = max(128 // 64, 1) = 2; head_dim = 64; key_dim = int(64 * 0.5)
    # = 32; qkv channels = 128 + 2 * 2 * 32 = 256.
    #   cv1 Conv(256, 256, 1)        = 256*256 + 512        = 66048
    #   cv2 Conv(256, 256, 1)        =                        66048
    #   attn.qkv Conv(128, 256, 1)   = 128*256 + 512        = 33280
    #   attn.proj Conv(128, 128, 1)  = 128*128 + 256        = 16640
    #   attn.pe Conv(128, 128, 3, g=128) = 128*9 + 256      =  1408
    #   ffn.0 Conv(128, 256, 1)      = 128*256 + 512        = 33280
    #   ffn.1 Conv(256, 128, 1)      = 256*128 + 256        = 33024
    #   total                                               = 249728  (formula; Ultralytics 8.4.190 prints the same
    #   for yolov10n.yaml layer 10 and for yolo11n's C2PSA, whose single PSABlock has the same parts)
    m = PSA(256, 256)
    assert _count(m) == 249728
    assert _count(m.attn) == 33280 + 16640 + 1408
    assert (m.attn.num_heads, m.attn.head_dim, m.attn.key_dim) == (2, 64, 32)
    assert _count(m) == 2 * _conv_params(256, 256) + _conv_params(128, 256) + _conv_params(128, 128) + \
        _conv_params(128, 128, 3, 128) + _conv_params(128, 256) + _conv_params(256, 128)


def test_aattn_param_count_by_hand():
    # AAttn(dim=64, num_heads=2, area=4): head_dim = 32, all_head_dim = 64.
    #   qkv Conv(64, 192, 1)           = 64*192 + 384 = 12672
    #   proj Conv(64, 64, 1)           = 64*64 + 128  =  4224
    #   pe Conv(64, 64, 7, g=64)       = 64*49 + 128  =  3264
    #   total                                         = 20160  (formula; Ultralytics 8.4.190 prints 20160)
    m = AAttn(64, 2, area=4)
    assert _count(m) == 20160
    assert [_count(m.qkv), _count(m.proj), _count(m.pe)] == [12672, 4224, 3264]


def test_aattn_dim_not_divisible_by_heads():
    # AAttn(100, 3): head_dim 33, all_head_dim 99: qkv Conv(100, 297) = 29700 + 594; proj Conv(99, 100) = 9900 + 200;
    # pe Conv(99, 99, 7, g=99) = 4851 + 198; total 45443 (formula; Ultralytics 8.4.190 prints 45443).
    m = AAttn(100, 3, area=2)
    assert _count(m) == 45443
    with torch.no_grad():
        assert list(m.eval()(torch.randn(1, 100, 4, 6)).shape) == [1, 100, 4, 6]


# ------------------------------------------------------------------------------------------ standalone blocks

# (class, args, params, output shape for input [2, c1, 24, 40]); all: Ultralytics 8.4.190
BLOCK_CASES = [
    (C2fPSA, (128, 128, 1), 71616, [2, 128, 24, 40]),
    (C2fPSA, (128, 128, 2, 0.25), 40768, [2, 128, 24, 40]),
    (C2PSA, (128, 128, 1), 63424, [2, 128, 24, 40]),
    (C2PSA, (256, 256, 2), 367360, [2, 256, 24, 40]),
    (PSA, (256, 256), 249728, [2, 256, 24, 40]),
    (PSA, (128, 128, 0.25), 24672, [2, 128, 24, 40]),
    (RepVGGDW, (32,), 1984, [2, 32, 24, 40]),
    (CIB, (64, 64, True, 1.0, True), 26112, [2, 64, 24, 40]),
    (CIB, (32, 64, True, 0.5, False), 8160, [2, 64, 24, 40]),
    (C2fCIB, (64, 128, 2, True, True), 93696, [2, 128, 24, 40]),
    (C2fCIB, (64, 64, 1), 16192, [2, 64, 24, 40]),
    (SCDown, (32, 64, 3, 2), 2880, [2, 64, 12, 20]),
    (SCDown, (64, 64, 5, 1), 5952, [2, 64, 24, 40]),
    (AAttn, (96, 4, 1), 42528, [2, 96, 24, 40]),
    (ABlock, (64, 2, 1.2, 4), 30168, [2, 64, 24, 40]),
    (A2C2f, (64, 128, 1, True, 4), 94720, [2, 128, 24, 40]),
    (A2C2f, (128, 128, 2, True, 1, True, 1.2), 153952, [2, 128, 24, 40]),
    (A2C2f, (64, 64, 1, False, -1), 17856, [2, 64, 24, 40]),
    (A2C2f, (64, 64, 1, False, -1, True, 1.2), 17856, [2, 64, 24, 40]),
    (PSABlock, (128, 0.5, 2), 117632, [2, 128, 24, 40]),
    (Attention, (128, 2, 0.5), 51328, [2, 128, 24, 40]),
]


@pytest.mark.parametrize("cls,args,params,shape", BLOCK_CASES, ids=lambda v: getattr(v, "__name__", None))
def test_block_params_and_meta_shapes(cls, args, params, shape):
    with torch.device("meta"):
        m = cls(*args).eval()
    assert _count(m) == params
    with torch.no_grad():
        out = m(torch.empty(2, args[0], 24, 40, device="meta"))
        assert list(out.shape) == shape
        # transposed non-square map (H > W) works as well
        out_t = m(torch.empty(2, args[0], 40, 24, device="meta"))
        assert list(out_t.shape) == [shape[0], shape[1], shape[3], shape[2]]


# (class, args, input shape, output sum, output |sum|, output.flatten()[7]): Ultralytics 8.4.190 fingerprint
FINGERPRINTS = [
    (PSA, (128, 128), (1, 128, 6, 10), 353.95627514098305, 1404.464765714365, 0.07813839614391327),
    (A2C2f, (64, 64, 1, True, 4, True, 1.2), (1, 64, 8, 6), 127.1264894688502, 1974.0400883564726,
     0.07941507548093796),
    (AAttn, (64, 2, 4), (1, 64, 4, 6), -24.744448329263832, 702.159460138937, 0.5298253297805786),
    # 3 x 8 = 24 tokens in 4 areas of 6: areas do not align with rows (as Ultralytics splits the flat sequence)
    (AAttn, (64, 2, 4), (1, 64, 3, 8), -24.845054498524405, 632.4368328874698, 0.44185787439346313),
    (C2fCIB, (32, 32, 1, True, True), (1, 32, 5, 7), 597.9071043483564, 847.772016068513, -0.2783704400062561),
]


@pytest.mark.parametrize("cls,args,shape,total,abs_total,element", FINGERPRINTS,
                         ids=lambda v: getattr(v, "__name__", None))
def test_real_forward_matches_published_computation(cls, args, shape, total, abs_total, element):
    torch.set_num_threads(min(2, torch.get_num_threads()))
    m = _fill(cls(*args))
    with torch.no_grad():
        y = m(_pattern(shape)).double()
    assert list(y.shape) == list(shape)
    assert y.sum().item() == pytest.approx(total, rel=1e-5, abs=1e-4)
    assert y.abs().sum().item() == pytest.approx(abs_total, rel=1e-5)
    assert y.flatten()[7].item() == pytest.approx(element, rel=1e-4, abs=1e-6)


def test_explicit_non_square_real_forward():
    torch.set_num_threads(min(2, torch.get_num_threads()))
    torch.manual_seed(0)
    x = torch.randn(1, 64, 8, 12)  # H != W; 96 tokens, 24 per area with area=4
    for m in (A2C2f(64, 64, 1, True, 4), C2PSA(64, 64, 1), PSA(64, 64), C2fCIB(64, 64, 1, True, True),
              AAttn(64, 2, area=4), ABlock(64, 2, 2.0, area=2)):
        with torch.no_grad():
            y = m.eval()(x)
        assert list(y.shape) == [1, 64, 8, 12], type(m).__name__
        assert torch.isfinite(y).all()
    with torch.no_grad():
        assert list(SCDown(64, 32, 3, 2).eval()(x).shape) == [1, 32, 4, 6]


def test_area_attention_stays_inside_its_area():
    # With the positional conv silenced, the only path between positions is the attention: with area=2 on a 4 x 6
    # map (two bands of 2 rows), changing the bottom band must leave the top band's output untouched; with area=1
    # it must not.
    torch.manual_seed(0)
    x = torch.randn(1, 32, 4, 6)
    x2 = x.clone()
    x2[:, :, 2:] += 1.0
    for area, same in ((2, True), (1, False)):
        m = AAttn(32, 1, area=area).eval()
        with torch.no_grad():
            m.pe.conv.weight.zero_()
            top, top2 = m(x)[:, :, :2], m(x2)[:, :, :2]
        assert torch.allclose(top, top2) is same


def test_area_that_cannot_split_raises_value_error():
    m = AAttn(32, 1, area=4)
    with pytest.raises(ValueError, match=r"cannot split a 3x3 feature map \(9 positions\) into 4 equal areas"):
        m(torch.empty(1, 32, 3, 3, device="meta"))


def test_unsplittable_area_in_a_model_is_a_located_error(tmp_path):
    cfg = tmp_path / "area3.yaml"
    cfg.write_text("nc: 2\nbackbone:\n  - [-1, 1, Conv, [64, 3, 1]]\n  - [-1, 1, A2C2f, [64, True, 3]]\nhead: []\n")
    with pytest.raises(ArchscopeError, match="cannot split a 32x32 feature map"):
        build_model(load_spec(cfg), BuildOptions(imgsz=(32, 32)))
    build_model(load_spec(cfg), BuildOptions(imgsz=(48, 32)))  # 1536 positions split in 3


def test_constructor_errors_are_clear():
    with pytest.raises(ValueError, match="must equal output channels"):
        PSA(128, 256)
    with pytest.raises(ValueError, match="must equal output channels"):
        C2PSA(128, 64)
    with pytest.raises(ValueError, match="multiple of 32"):
        A2C2f(64, 80)
    with pytest.raises(ValueError, match="cannot be split evenly into 3 heads"):
        Attention(128, 3)


def test_attention_products_are_real_matmuls():
    # Attention(128, 2) on 20 x 20 (N = 400): scores 2 * heads * N * N * key_dim = 2*2*400*400*32 = 20,480,000, output
    # 2 * heads * head_dim * N * N = 2*2*64*400*400 = 40,960,000; sum 61,440,000 (formula; Ultralytics 8.4.190's
    # FlopCounterMode gives bmm = 61,440,000 for all of yolo11n-cls at 640, whose only attention is this one).
    assert _bmm_flops(PSA(256, 256), (1, 256, 20, 20)) == 61_440_000
    # AAttn(64, 2, area=4) on 16 x 24 (N = 384, 96 per area): 2 bmm of 2 * (4 areas * 2 heads) * 96 * 96 * 32
    # = 4,718,592 each; one area costs 4x as much (formula).
    assert _bmm_flops(AAttn(64, 2, area=4), (1, 64, 16, 24)) == 2 * 4_718_592
    assert _bmm_flops(AAttn(64, 2, area=1), (1, 64, 16, 24)) == 4 * 2 * 4_718_592


def test_submodule_names_follow_ultralytics():
    names = {n for n, _ in PSA(128, 128).named_parameters()}
    assert {"cv1.conv.weight", "attn.qkv.conv.weight", "attn.pe.bn.bias", "ffn.1.conv.weight"} <= names
    names = {n for n, _ in A2C2f(64, 64, 1, True, 1, True, 1.2).named_parameters()}
    assert {"gamma", "m.0.0.attn.qkv.conv.weight", "m.0.1.mlp.0.conv.weight", "cv2.bn.weight"} <= names
    names = {n for n, _ in C2fCIB(64, 64, 1, True, True).named_parameters()}
    assert {"m.0.cv1.2.conv.conv.weight", "m.0.cv1.2.conv1.bn.weight"} <= names


# ------------------------------------------------------------------------------------------ registry rules


def test_registry_rules_mirror_parse_model():
    reg = default_registry()
    for name in ("SCDown", "PSA", "C2PSA", "C2fPSA", "C2fCIB", "A2C2f"):
        assert reg.lookup(name).channels.describe().startswith("c1=in, c2=args[0]"), name
    assert {n for n in ("C2PSA", "C2fPSA", "C2fCIB", "A2C2f") if reg.lookup(n).repeat.kind == "inner"} == {
        "C2PSA", "C2fPSA", "C2fCIB", "A2C2f"}
    assert reg.lookup("PSA").repeat.kind == reg.lookup("SCDown").repeat.kind == "outer"
    assert {n for n in ("SCDown", "PSA", "C2PSA", "C2fPSA", "C2fCIB", "A2C2f", "RepVGGDW") if reg.lookup(n).modern} \
        == {"C2fCIB", "A2C2f"}
    scale_args = reg.lookup("A2C2f").scale_args
    assert scale_args([128, 128, 2, True, 4], "l") == [128, 128, 2, True, 4, True, 1.2]
    assert scale_args([128, 128, 2, True, 4], "x") == [128, 128, 2, True, 4, True, 1.2]
    for scale in ("n", "s", "m", "lx", None):
        assert scale_args([128, 128, 2, True, 4], scale) == [128, 128, 2, True, 4]


def test_blocks_take_channels_from_a_yaml_row():
    for name, c1, c2 in (("C2fCIB", 32, 32), ("A2C2f", 64, 64), ("C2PSA", 64, 64), ("PSA", 128, 128),
                         ("C2fPSA", 64, 64), ("SCDown", 32, 48)):
        extra = [3, 2] if name == "SCDown" else []
        repeats = 1 if name in ("SCDown", "PSA") else 2  # outer-repeat blocks copy their args: keep one copy
        cfg = {"nc": 2, "backbone": [[-1, 1, "Conv", [c1, 3, 2]], [-1, repeats, name, [c2, *extra]]], "head": []}
        built = build_model(load_spec(cfg), BuildOptions(imgsz=(64, 96)))
        stride = 4 if name == "SCDown" else 2
        assert built.layers[1].output_shape == [1, c2, 64 // stride, 96 // stride], name


def test_materialize_sets_gamma():
    spec = load_spec({"nc": 2, "backbone": [[-1, 1, "Conv", [64, 3, 2]], [-1, 2, "A2C2f", [64, True, 2, True, 1.2]]],
                      "head": []})
    built = build_model(spec, BuildOptions(imgsz=(32, 64)))
    assert built.model.layers[1].gamma.device.type == "meta"
    model = materialize(built)
    assert torch.equal(model.layers[1].gamma, torch.full((64,), 0.01))
    with torch.no_grad():
        assert list(model(torch.randn(1, 3, 32, 64)).shape) == [1, 64, 16, 32]


# ------------------------------------------------------------------------------------------ official configs

# Per-layer params of this family's layers, and model totals: Ultralytics 8.4.190 (model.model[i].np, model.info())
V10 = {
    "n": ({5: 9856, 7: 36096, 10: 249728, 20: 18048, 22: 282624}, 2775520),
    "s": ({5: 36096, 7: 137728, 8: 958464, 10: 990976, 20: 68864, 22: 1089536}, 8128272),
    "m": ({5: 78720, 7: 228672, 8: 1689984, 10: 1253088, 19: 831744, 20: 152448, 22: 1911168}, 16576768),
    "b": ({5: 137728, 7: 268800, 8: 1338368, 10: 990976, 13: 1600512, 19: 1469440, 20: 268800, 22: 1600512},
          20574384),
    "l": ({5: 137728, 7: 268800, 8: 1744384, 10: 990976, 13: 2006528, 19: 1875456, 20: 268800, 22: 2006528},
          25888688),
    "x": ({5: 213120, 6: 4604160, 7: 417920, 8: 2712960, 10: 1545920, 13: 3122560, 19: 2917760, 20: 417920,
           22: 3122560}, 31808960),
}
Y11 = {  # layer 10 is C2PSA; 2, 4, 6, 8, 13, 22 are C3k2 (c3k forced on for m/l/x)
    "n": ({2: 6640, 4: 26080, 6: 87040, 8: 346112, 10: 249728, 13: 111296, 22: 378880}, 2624080),
    "s": ({2: 26080, 4: 103360, 6: 346112, 8: 1380352, 10: 990976, 13: 443776, 22: 1511424}, 9458752),
    "m": ({2: 111872, 4: 444928, 6: 1380352, 8: 1380352, 10: 990976, 13: 1642496, 22: 1642496}, 20114688),
    "l": ({2: 173824, 4: 691712, 6: 2234368, 8: 2234368, 10: 1455616, 13: 2496512, 22: 2496512}, 25372160),
    "x": ({2: 389760, 4: 1553664, 6: 5022720, 8: 5022720, 10: 3264768, 13: 5612544, 22: 5612544}, 56966176),
}
Y12 = {  # A2C2f layers
    "n": ({6: 180864, 8: 689408, 11: 86912, 14: 24000, 17: 74624}, 2602288),
    "s": ({6: 689408, 8: 2689536, 11: 345856, 14: 95104, 17: 296704}, 9284096),
    "m": ({6: 2689536, 8: 2689536, 11: 1248768, 14: 378624, 17: 1183232}, 20199168),
    "l": ({6: 4272944, 8: 4272944, 11: 2102784, 14: 592640, 17: 2037248}, 26450784),
    "x": ({6: 9512128, 8: 9512128, 11: 4727040, 14: 1331328, 17: 4579584}, 59210784),
}
CONFIG_CASES = [(f"v10/yolov10{s}.yaml", s, *V10[s]) for s in V10] + \
    [("11/yolo11.yaml", s, *Y11[s]) for s in Y11] + [("12/yolo12.yaml", s, *Y12[s]) for s in Y12]


@pytest.mark.parametrize("cfg,scale,layers,total", CONFIG_CASES, ids=[f"{c[0]}:{c[1]}" for c in CONFIG_CASES])
def test_official_config_layer_params(cfg_dir, cfg, scale, layers, total):
    built = build_model(load_spec(cfg_dir / cfg), BuildOptions(scale=scale, imgsz=(384, 640)))
    assert {i: built.layers[i].params for i in layers} == layers
    assert built.params == total


# Output shapes at 384 x 640 (H x W): Ultralytics 8.4.190
SHAPES_384x640 = [
    ("v10/yolov10n.yaml", "n", {5: [1, 128, 24, 40], 7: [1, 256, 12, 20], 10: [1, 256, 12, 20],
                                20: [1, 128, 12, 20], 22: [1, 256, 12, 20]}),
    ("v10/yolov10x.yaml", "x", {10: [1, 640, 12, 20], 13: [1, 640, 24, 40], 22: [1, 640, 12, 20]}),
    ("11/yolo11.yaml", "m", {10: [1, 512, 12, 20], 22: [1, 512, 12, 20]}),
    ("12/yolo12.yaml", "n", {6: [1, 128, 24, 40], 8: [1, 256, 12, 20], 14: [1, 64, 48, 80], 17: [1, 128, 24, 40]}),
    ("12/yolo12.yaml", "x", {6: [1, 768, 24, 40], 8: [1, 768, 12, 20], 11: [1, 768, 24, 40]}),
]


@pytest.mark.parametrize("cfg,scale,shapes", SHAPES_384x640, ids=[f"{c[0]}:{c[1]}" for c in SHAPES_384x640])
def test_official_config_non_square_shapes(cfg_dir, cfg, scale, shapes):
    built = build_model(load_spec(cfg_dir / cfg), BuildOptions(scale=scale, imgsz=(384, 640)))
    assert {i: built.layers[i].output_shape for i in shapes} == shapes


def test_yolo12_large_scales_get_residual_gamma(cfg_dir):
    spec = load_spec(cfg_dir / "12/yolo12.yaml")
    large = build_model(spec, BuildOptions(scale="l"))
    assert large.layers[6].args == [512, 512, 4, True, 4, True, 1.2]
    assert large.model.layers[6].gamma is not None and large.model.layers[11].gamma is None  # a2=False: no gamma
    small = build_model(spec, BuildOptions(scale="m"))
    assert small.layers[6].args == [512, 512, 2, True, 4]
    assert small.model.layers[6].gamma is None


def test_materialize_is_deterministic_for_attention_blocks():
    spec = load_spec({"nc": 2, "backbone": [[-1, 1, "Conv", [64, 3, 2]], [-1, 1, "A2C2f", [64, True, 2, True, 1.2]],
                                            [-1, 1, "C2PSA", [64]]], "head": []})
    weights = []
    for _ in range(2):
        model = materialize(build_model(spec, BuildOptions(imgsz=(32, 64))))
        torch.rand(3)  # global RNG use between calls must not matter
        weights.append(torch.cat([p.flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])

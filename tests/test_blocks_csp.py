"""The conv, CSP and GELAN block families (archscope/blocks/common.py, csp.py, gelan.py).

Reference figures are literal numbers. Where a comment says "Ultralytics 8.4.190", the figure is what that version
prints for the same module and arguments (sum of ``p.numel()`` over ``parameters()``, or the output shape of an eval
forward), measured in a scratch environment; "formula" means derived by hand from the block's definition.
Whole-config figures come from tests/reference/blocks_csp_params.py (provenance in its docstring).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from archscope.blocks import common, csp, gelan
from archscope.blocks.common import BuildContext, build_context
from archscope.build.builder import BuildOptions, build_model
from archscope.build.materialize import materialize
from archscope.errors import ArchscopeError
from archscope.build.catalog import default_registry
from archscope.spec.model_spec import load_spec

from reference.blocks_csp_params import HEAD_OUT, PARAMS, SHAPES_384x640, TOTAL, TYPES
from reference.ultralytics_params import PARAMS as PARITY_PARAMS
from reference.ultralytics_shapes import SHAPES as PARITY_SHAPES


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _meta_out(module: nn.Module, shape) -> list:
    with torch.no_grad():
        y = module(torch.empty(*shape, device="meta"))
    return [list(t.shape) for t in y] if isinstance(y, (list, tuple)) else list(y.shape)


# (family module, name, args, params, output shape for input [2, c1, 24, 40]); params and shapes: Ultralytics 8.4.190
BLOCK_CASES = [
    (csp, "C1", (32, 64, 2), 76160, [2, 64, 24, 40]),
    (csp, "C2", (32, 64, 2), 43520, [2, 64, 24, 40]),
    (csp, "C2", (32, 64, 1, False, 1, 0.25), 7936, [2, 64, 24, 40]),
    (csp, "C3x", (32, 64, 2), 18944, [2, 64, 24, 40]),
    (csp, "C3x", (32, 64, 1, False, 2, 0.5), 11136, [2, 64, 24, 40]),
    (csp, "RepC3", (32, 64, 2), 86784, [2, 64, 24, 40]),
    (csp, "RepC3", (32, 64, 1, 0.5), 14720, [2, 64, 24, 40]),
    (csp, "BottleneckCSP", (32, 64, 2), 44608, [2, 64, 24, 40]),
    (csp, "SPP", (32, 64), 4768, [2, 64, 24, 40]),
    (csp, "SPP", (32, 64, (3, 5)), 3744, [2, 64, 24, 40]),
    (csp, "SPPF", (64, 64, 5), 10432, [2, 64, 24, 40]),
    (csp, "SPPF", (64, 64, 5, 3, True), 10432, [2, 64, 24, 40]),
    (csp, "SPPF", (64, 32, 3, 2, True), 5248, [2, 32, 24, 40]),
    (csp, "C3Ghost", (32, 64, 2), 8816, [2, 64, 24, 40]),
    (csp, "GhostBottleneck", (32, 64, 3, 2), 5808, [2, 64, 12, 20]),
    (csp, "GhostBottleneck", (64, 64), 3440, [2, 64, 24, 40]),
    (csp, "ResNetLayer", (3, 64, 1, True, 1), 9536, [2, 64, 6, 10]),
    (csp, "ResNetLayer", (64, 32, 2, False, 3), 59776, [2, 128, 12, 20]),
    (csp, "ResNetLayer", (64, 32, 1, False, 2, 2), 27136, [2, 64, 24, 40]),
    (common, "GhostConv", (16, 32, 3, 2), 2768, [2, 32, 12, 20]),
    (common, "RepConv", (16, 16, 3, 1, 1, 1, 1, True, True), 2656, [2, 16, 24, 40]),
    (common, "RepConv", (16, 32, 3, 2), 5248, [2, 32, 12, 20]),
    (common, "Focus", (3, 16, 3), 1760, [2, 16, 12, 20]),
    (common, "ConvTranspose", (16, 8), 528, [2, 8, 48, 80]),
    (common, "ConvTranspose", (16, 8, 2, 2, 0, False), 520, [2, 8, 48, 80]),
    (common, "DWConvTranspose2d", (16, 8, 2, 2), 72, [2, 8, 48, 80]),
    (gelan, "RepNCSPELAN4", (32, 64, 64, 32, 2), 53248, [2, 64, 24, 40]),
    (gelan, "ELAN1", (32, 64, 64, 32), 29056, [2, 64, 24, 40]),
    (gelan, "ADown", (32, 64), 5248, [2, 64, 12, 20]),
    (gelan, "AConv", (32, 64), 18560, [2, 64, 12, 20]),
    (gelan, "SPPELAN", (32, 64, 16), 4768, [2, 64, 24, 40]),
    (gelan, "SPPELAN", (32, 64, 16, 3), 4768, [2, 64, 24, 40]),
    (gelan, "CBLinear", (32, [8, 16], 3, 2), 6936, [[2, 8, 12, 20], [2, 16, 12, 20]]),
]


@pytest.mark.parametrize("family,name,args,params,out", BLOCK_CASES,
                         ids=[f"{c[1]}{c[2]}" for c in BLOCK_CASES])
def test_block_params_and_shape_match_ultralytics(family, name, args, params, out):
    with torch.device("meta"):
        module = getattr(family, name)(*args).eval()
    assert _count(module) == params
    assert _meta_out(module, (2, args[0], 24, 40)) == out


def test_real_forward_on_odd_non_square_sizes():
    """Downsamplers and pyramids on a real tensor whose sides are not multiples of 2 (formula: floor division)."""
    torch.manual_seed(0)
    x = torch.randn(1, 16, 13, 22)
    with build_context(BuildContext()):
        for module, expected in (
            (gelan.ADown(16, 32), [1, 32, 6, 11]),   # avgpool 2/1 -> 12x21, then 3x3/2 p1 -> 6x11
            (gelan.AConv(16, 32), [1, 32, 6, 11]),
            (csp.SPPF(16, 16, 5, 3, True), [1, 16, 13, 22]),
            (gelan.SPPELAN(16, 32, 8), [1, 32, 13, 22]),
            (common.GhostConv(16, 32, 3, 2), [1, 32, 7, 11]),
        ):
            y = module.eval()(x)
            assert list(y.shape) == expected and torch.isfinite(y).all()


def test_sppf_first_conv_activation_depends_on_row_form():
    """Ultralytics 8.4.190: rows [c2] / [c2, k] keep YOLOv5-11's activated cv1; rows that give n (YOLO26) do not."""
    with build_context(BuildContext()) as ctx:
        legacy = csp.SPPF(64, 64, 5)
        modern = csp.SPPF(64, 64, 5, 3, True)
        assert legacy.cv1.act is ctx.default_act and isinstance(legacy.cv1.act, nn.SiLU)
        assert isinstance(modern.cv1.act, nn.Identity)
        assert not legacy.add and modern.add  # residual only with shortcut and c1 == c2
        assert not csp.SPPF(64, 32, 5, 3, True).add


def test_sppf_shortcut_adds_input():
    torch.manual_seed(0)
    with build_context(BuildContext()):
        block = csp.SPPF(8, 8, 5, 2, True).eval()
    x = torch.randn(1, 8, 10, 14)
    y = block(x)
    z = block.cv2(torch.cat([block.cv1(x), block.m(block.cv1(x)), block.m(block.m(block.cv1(x)))], 1))
    torch.testing.assert_close(y, z + x)


def test_repconv_and_convtranspose_keep_their_own_silu_whatever_the_yaml_activation():
    """Ultralytics keeps RepConv.default_act / ConvTranspose.default_act as class attributes (SiLU), separate from
    Conv.default_act, which the YAML's ``activation:`` replaces."""
    with build_context(BuildContext(default_act=nn.ReLU())):
        a, b = common.RepConv(8, 8), common.RepConv(8, 8)
        t = common.ConvTranspose(8, 4)
        assert isinstance(a.act, nn.SiLU) and a.act is b.act  # one shared instance per build
        assert isinstance(t.act, nn.SiLU) and t.act is not a.act
        assert isinstance(a.conv1.act, nn.Identity)
        assert isinstance(common.GhostConv(8, 8).cv1.act, nn.ReLU)


def test_repconv_rejects_unsupported_kernel():
    with pytest.raises(ArchscopeError, match="k=3"):
        common.RepConv(8, 8, 5)


def test_repc3_identity_projection_when_hidden_equals_out():
    with torch.device("meta"):
        assert isinstance(csp.RepC3(32, 64, 1).cv3, nn.Identity)  # e=1.0: hidden 64 == c2
        assert isinstance(csp.RepC3(32, 64, 1, 0.5).cv3, common.Conv)


def test_module_paths_follow_ultralytics_names():
    """State-dict keys equal Ultralytics 8.4.190's for the same block (its weights load unchanged)."""
    with torch.device("meta"):
        keys = set(gelan.RepNCSPELAN4(32, 64, 64, 32, 1).state_dict())
        assert "cv2.0.m.0.cv1.conv1.conv.weight" in keys and "cv2.0.m.0.cv1.conv2.bn.running_var" in keys
        assert "cv4.conv.weight" in keys and len(keys) == 96  # Ultralytics 8.4.190: 96 state-dict entries
        ghost = set(csp.GhostBottleneck(32, 64, 3, 2).state_dict())
        assert {"conv.1.conv.weight", "shortcut.0.conv.weight", "shortcut.1.bn.bias"} <= ghost
        assert "layer.0.shortcut.0.conv.weight" in csp.ResNetLayer(64, 32, 1, False, 2).state_dict()
        assert set(gelan.CBLinear(8, [4, 4]).state_dict()) == {"conv.weight", "conv.bias"}


def test_cbfuse_sums_resized_pieces():
    torch.manual_seed(0)
    a = (torch.randn(1, 4, 3, 5), torch.randn(1, 8, 3, 5))
    b = (torch.randn(1, 8, 6, 10),)
    last = torch.randn(1, 8, 12, 20)
    y = gelan.CBFuse([1, 0])([a, b, last])
    up = nn.functional.interpolate
    torch.testing.assert_close(y, last + up(a[1], size=(12, 20)) + up(b[0], size=(12, 20)))


def test_registry_rules_mirror_ultralytics_parse_model():
    reg = default_registry()
    inner = {"C1", "C2", "C3x", "C3Ghost", "RepC3", "BottleneckCSP"}
    outer = {"GhostBottleneck", "SPP", "SPPF", "ResNetLayer", "RepNCSPELAN4", "ELAN1", "SPPELAN", "ADown", "AConv",
             "CBLinear", "CBFuse", "GhostConv", "RepConv", "Focus", "ConvTranspose", "DWConvTranspose2d"}
    for name in inner:
        assert reg.lookup(name).repeat.kind == "inner", name
    for name in outer:
        assert reg.lookup(name).repeat.kind == "outer", name


# ------------------------------------------------------------------------------------ YAML rows (channel rules)


def _build(rows, head=(), nc=10, scales=None, imgsz=(64, 96), scale=None, activation=None):
    doc = {"nc": nc, "backbone": [list(r) for r in rows], "head": [list(r) for r in head]}
    if scales:
        doc["scales"] = scales
    if activation:
        doc["activation"] = activation
    return build_model(load_spec(doc, name="t.yaml"), BuildOptions(scale=scale, imgsz=imgsz))


def test_resnet_layer_rows_take_c1_as_written_and_output_e_times_c2():
    built = _build([
        [-1, 1, "ResNetLayer", [3, 16, 1, True, 1]],   # stem: out = c2 = 16
        [-1, 1, "ResNetLayer", [16, 8, 2, False, 2]],  # out = 4 * 8 = 32 (e = 4)
        [-1, 1, "ResNetLayer", [32, 8, 1, False, 1, 2]],  # out = 2 * 8 = 16
    ], scales={"n": [0.33, 0.25, 1024]}, scale="n")  # not width-scaled, as in Ultralytics
    assert [layer.c_out for layer in built.layers] == [16, 32, 16]
    assert [layer.output_shape for layer in built.layers] == [[1, 16, 16, 24], [1, 32, 8, 12], [1, 16, 8, 12]]
    with pytest.raises(ArchscopeError, match="declares 8 input channels"):
        _build([[-1, 1, "ResNetLayer", [3, 16, 1, True, 1]], [-1, 1, "ResNetLayer", [8, 8, 1, False, 1]]])


def test_cblinear_cbfuse_rows():
    built = _build([
        [-1, 1, "Conv", [16, 3, 2]],            # 0: 16 x 32x48
        [-1, 1, "Conv", [32, 3, 2]],            # 1: 32 x 16x24
        [0, 1, "CBLinear", [[8, 32]]],          # 2: pieces of 8 and 32 channels
        [1, 1, "CBLinear", [[8]]],              # 3
        [0, 1, "Conv", [8, 3, 2]],              # 4: 8 x 16x24
        [[2, 3, -1], 1, "CBFuse", [[0, 0]]],    # 5: 8 x 16x24
    ])
    layers = built.layers
    assert layers[2].c_out == [8, 32] and layers[2].output_shape == [[1, 8, 32, 48], [1, 32, 32, 48]]
    assert layers[2].params == 16 * 40 + 40  # formula: 1x1 conv with bias to 8 + 32 channels
    assert layers[5].c_out == 8 and layers[5].output_shape == [1, 8, 16, 24] and layers[5].params == 0
    bad = [[-1, 1, "Conv", [16, 3, 2]], [0, 1, "CBLinear", [[8, 32]]], [0, 1, "Conv", [8, 3, 2]]]
    with pytest.raises(ArchscopeError, match="piece 1 of source 0 has 32 channels"):
        _build(bad + [[[1, -1], 1, "CBFuse", [[1]]]])
    with pytest.raises(ArchscopeError, match="out of range"):
        _build(bad + [[[1, -1], 1, "CBFuse", [[2]]]])
    with pytest.raises(ArchscopeError, match="multi-output"):
        _build(bad + [[[0, -1], 1, "CBFuse", [[0]]]])
    with pytest.raises(ArchscopeError, match="2 indices for 1"):
        _build(bad + [[[1, -1], 1, "CBFuse", [[0, 0]]]])


def test_width_scaled_rows_and_inner_repeats():
    """Formula: c2 = make_divisible(min(c2, max_channels) * width, 8); n = max(round(n * depth), 1)."""
    built = _build([
        [-1, 1, "Conv", [64, 3, 2]],
        [-1, 3, "C3Ghost", [128]],
        [-1, 1, "GhostConv", [256, 3, 2]],
        [-1, 6, "RepNCSPELAN4", [256, 128, 64, 1]],  # outer repeat: round(6 * 0.33) = 2 copies; c3, c4 not scaled
        [-1, 1, "SPPF", [1024, 5]],
    ], scales={"s": [0.33, 0.5, 512]}, scale="s")
    assert [layer.c_out for layer in built.layers] == [32, 64, 128, 128, 256]
    assert built.layers[1].args == [32, 64, 1] and built.layers[1].n == 1
    assert built.layers[3].args == [128, 128, 128, 64, 1]
    assert built.layers[3].n == 2 and isinstance(built.model.layers[3], nn.Sequential)
    assert len(built.model.layers[3]) == 2
    assert isinstance(built.model.layers[4].cv1.act, nn.SiLU)  # legacy SPPF row


def test_repconv_row_lists_its_input_channels():
    built = _build([[-1, 1, "Conv", [16, 3, 2]], [-1, 1, "RepConv", [16, 24, 3, 2]]])
    assert built.layers[1].c_out == 24 and built.layers[1].output_shape == [1, 24, 16, 24]
    with pytest.raises(ArchscopeError, match="declares 8 input channels"):
        _build([[-1, 1, "Conv", [16, 3, 2]], [-1, 1, "RepConv", [8, 8]]])


def test_real_forward_through_a_small_model_matches_meta_shapes():
    built = _build([
        [-1, 1, "Focus", [16, 3]],
        [-1, 1, "ADown", [32]],
        [-1, 1, "ELAN1", [32, 32, 16]],
        [-1, 1, "AConv", [48]],
        [-1, 2, "C3x", [48]],
        [-1, 1, "SPP", [48, [3, 5, 7]]],
        [-1, 1, "ConvTranspose", [24, 2, 2]],
        [-1, 1, "DWConvTranspose2d", [24, 1, 1]],
        [[-1, 2], 1, "Concat", [1]],
        [-1, 2, "BottleneckCSP", [32]],
        [-1, 1, "C1", [32]],
        [-1, 1, "C2", [32]],
        [-1, 2, "RepC3", [32]],
    ], imgsz=(48, 80))
    model = materialize(built)
    seen = []
    with torch.no_grad():
        model.run(torch.randn(1, 3, 48, 80), on_layer=lambda i, y: seen.append(list(y.shape)))
    assert seen == [layer.output_shape for layer in built.layers]
    assert seen[-1] == [1, 32, 12, 20]


# --------------------------------------------------------------------------- official configs at 384 x 640
# Per-layer params, module types and totals of these configs (PARAMS, TYPES, TOTAL) are asserted once, by
# tests/test_parity_all_scales.py (tests/reference/ultralytics_params.py holds the same figures for every scale; the
# first test below checks that it does). Shapes at 384 x 640 that tests/test_parity_shapes.py already asserts
# (tests/reference/ultralytics_shapes.py) are left to it; this file asserts the rest.


def _parity_shapes(cfg, scale):
    return PARITY_SHAPES.get((cfg, scale, (384, 640)))


def _backbone_left(key):
    expected = SHAPES_384x640.get(key)
    return expected is not None and (_parity_shapes(*key) or [])[: len(expected)] != expected


def _head_left(key):
    expected = HEAD_OUT.get((*key, (384, 640)))
    return expected is not None and (_parity_shapes(*key) or [None])[-1] != expected


SHAPE_KEYS = sorted({k for k in PARAMS if _backbone_left(k) or _head_left(k)}, key=lambda k: (k[0], str(k[1])))


def test_config_params_are_the_ones_the_parity_test_asserts():
    for (cfg, scale), per_layer in PARAMS.items():
        ref = PARITY_PARAMS[(cfg, scale)]
        assert (per_layer, TYPES[cfg]) == (ref["per_layer"], ref["types"]), (cfg, scale)
        assert TOTAL.get((cfg, scale), ref["params"]) == ref["params"], (cfg, scale)


@pytest.mark.parametrize("key", SHAPE_KEYS, ids=[f"{c}:{s}" for c, s in SHAPE_KEYS])
def test_official_config_shapes_at_384x640_match_ultralytics(key, cfg_dir):
    """v3, v5, v6, v8 (incl. ghost, p2/p6, cls-resnet), v9 at 384 x 640 (non-square), Ultralytics 8.4.190: per-layer
    shapes before the head at the smallest scale, and the head's output at the smallest and largest scale."""
    cfg, scale = key
    built = build_model(load_spec(cfg_dir / cfg), BuildOptions(scale=scale, imgsz=(384, 640)))
    if _backbone_left(key):
        expected = SHAPES_384x640[key]
        assert [layer.output_shape for layer in built.layers[: len(expected)]] == expected
    if _head_left(key):
        assert built.layers[-1].output_shape == HEAD_OUT[(cfg, scale, (384, 640))]


def test_c3k2_scale_tweak_matches_exact_scale_names_and_flagless_rows():
    """Ultralytics 8.4.190 sets C3k2's c3k flag (arg 3) for scales exactly m, l or x, adding it when the row has none.
    Figures from Ultralytics 8.4.190 (helper comparison): flagless C3k2 [128] at scale m = 78,848 params."""
    from archscope.blocks.csp import _c3k2_scale_args

    assert _c3k2_scale_args([64, 128, 2], "m") == [64, 128, 2, True]
    assert _c3k2_scale_args([64, 128, 2, False, 0.25], "l") == [64, 128, 2, True, 0.25]
    assert _c3k2_scale_args([64, 128, 2, False, 0.25], "ml") == [64, 128, 2, False, 0.25]
    assert _c3k2_scale_args([64, 128, 2, False], None) == [64, 128, 2, False]

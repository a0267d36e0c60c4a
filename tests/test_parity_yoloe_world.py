"""YOLOE (yoloe-v8, yoloe-11, yoloe-26, detect and segment) and YOLO-World (yolov8-world, yolov8-worldv2): every
scale equals Ultralytics 8.4.190's own parameters (total and per layer), module types, leaf-module count and
per-layer output shapes; per-image GFLOPs (``gflops_ultralytics``) equal the figure model.info prints.

Figures: tests/reference/ultralytics_yoloe_world.py, written by tests/reference/scripts/ul84_yoloe_world.py
(YOLOEModel / YOLOESegModel / WorldModel built offline from the YAML dicts; its docstring gives the procedure).
yoloe-26 / yoloe-26-seg (``end2end: True``, ``reg_max: 1``) exercise the one-to-one twins of the YOLOE heads.
"""

from __future__ import annotations

import pytest
import torch
from reference.ultralytics_yoloe_world import DEFAULT_NC, PARAMS, SHAPES

from archscope.analysis.analyze import analyze
from archscope.analysis.to_report import leaf_module_count
from archscope.build.builder import BuildOptions, build_model
from archscope.errors import ArchscopeError
from archscope.spec.model_spec import load_spec

KEYS = sorted(PARAMS, key=str)


@pytest.mark.parametrize("key", KEYS, ids=[f"{c}:{s}" for c, s in KEYS])
def test_params_types_and_module_count_match_ultralytics(key, cfg_dir):
    cfg, scale = key
    ref = PARAMS[key]
    built = build_model(load_spec(cfg_dir / cfg), BuildOptions(scale=scale))
    assert built.nc == DEFAULT_NC[cfg]
    assert [layer.module.removeprefix("nn.") for layer in built.layers] == ref["types"]
    assert [layer.params for layer in built.layers] == ref["per_layer"]
    assert built.params == ref["params"]
    assert leaf_module_count(built.model) == ref["layers"]


SHAPE_KEYS = sorted(SHAPES, key=str)


@pytest.mark.parametrize("key", SHAPE_KEYS, ids=[f"{c}:{s}" for c, s, _ in SHAPE_KEYS])
def test_shapes_match_ultralytics(key, cfg_dir):
    cfg, scale, size = key
    built = build_model(load_spec(cfg_dir / cfg), BuildOptions(scale=scale, imgsz=size))
    assert [layer.output_shape for layer in built.layers] == SHAPES[key]


@pytest.mark.parametrize("key", KEYS, ids=[f"{c}:{s}" for c, s in KEYS])
def test_gflops_match_ultralytics(key, cfg_dir):
    built = build_model(load_spec(cfg_dir / key[0]), BuildOptions(scale=key[1]))
    costs = analyze(built, legacy=False)
    assert costs.gflops_ultralytics == pytest.approx(PARAMS[key]["gflops"], rel=1e-7)
    assert not costs.uncounted_ops


def test_prompt_products_are_counted_at_full_size(cfg_dir):
    """The constant prompt input (1, nc, 512) is scored against every anchor: 2 * nc * 512 * anchors FLOPs in the
    contrastive heads; C2fAttn's guide path (text Linear and the pixel-text product) is counted too."""
    built = build_model(load_spec(cfg_dir / "v8/yolov8-worldv2.yaml"), BuildOptions(scale="n", nc=20))
    costs = analyze(built, legacy=False)
    anchors = 80 * 80 + 40 * 40 + 20 * 20
    assert costs.layers[-1].submodules["cv4"].mac_flops == 2 * 20 * 512 * anchors
    attn = costs.layers[12].submodules  # C2fAttn at 40x40: c2 128 -> hidden 64, nh 2, head width 32
    assert attn["attn.gl"].mac_flops == 2 * 20 * 512 * 64
    products = attn["attn"].mac_flops - attn["attn.gl"].mac_flops - attn["attn.proj_conv"].mac_flops
    assert products == 2 * 2 * (40 * 40) * 32 * 20
    world = build_model(load_spec(cfg_dir / "v8/yolov8-world.yaml"), BuildOptions(scale="n", nc=20))
    assert world.layers[16].output_shape == [1, 20, 512]  # ImagePoolingAttn returns the refined text embeddings


def test_real_forward_matches_meta_and_takes_given_embeddings(cfg_dir):
    from archscope.build.materialize import materialize

    built = build_model(load_spec(cfg_dir / "11/yoloe-11-seg.yaml"), BuildOptions(scale="n", imgsz=(64, 96)))
    meta = analyze(built, legacy=False)
    real = analyze(built, legacy=False, real=True)
    assert real.gflops_ultralytics == pytest.approx(meta.gflops_ultralytics)
    assert sum(lc.totals.flops for lc in real.layers) == sum(lc.totals.flops for lc in meta.layers)

    model = materialize(built)
    head = model.layers[-1]
    feats = [torch.rand(2, c, 64 // s, 96 // s) for c, s in zip((64, 128, 256), (8, 16, 32))]
    with torch.no_grad():
        (pred, proto) = head([*feats, torch.rand(2, 5, 512)])  # five prompts instead of nc
        assert list(pred.shape) == [2, 4 + 5 + 32, 8 * 12 + 4 * 6 + 2 * 3]
        assert list(proto.shape) == [2, 32, 16, 24]
        tpe = head.text_prompt_embeddings(torch.rand(2, 7, 512))
        assert list(tpe.shape) == [2, 7, 512]
        assert torch.allclose(tpe.norm(dim=-1), torch.ones(2, 7))
        vpe = head.visual_prompt_embeddings(feats, (torch.rand(2, 3, 8, 12) > 0.5).float())
        assert list(vpe.shape) == [2, 3, 512]
        assert torch.isfinite(pred).all() and torch.isfinite(vpe).all()


def test_lrpc_head_scores_only_kept_anchors():
    from torch import nn

    from archscope.blocks.yoloe import LRPCHead

    torch.manual_seed(0)
    vocab, pf, loc = nn.Conv2d(16, 10, 1), nn.Conv2d(16, 1, 1), nn.Conv2d(16, 64, 1)
    head = LRPCHead(vocab, pf, loc)
    x = torch.rand(2, 16, 4, 5)
    with torch.no_grad():
        box, scores, mask = head(x, x, 0)
        assert mask is None and list(scores.shape) == [2, 10, 20] and list(box.shape) == [2, 64, 4, 5]
        assert torch.allclose(scores, vocab(x).flatten(2), atol=1e-6)
        keep = pf(x)[:, 0].flatten(1).sigmoid() > 0.5
        box, scores, mask = head(x, x, 0.5)
        assert torch.equal(mask, keep.any(0))
        assert scores.shape[-1] == int(keep.any(0).sum())


@pytest.mark.parametrize(("row", "message"), [
    ("[-1, 1, C2fAttn, [96, 64, 5]]", "divisible by nh=5"),
    ("[[-1], 1, YOLOEDetect, [nc, 512, False]]", "with_bn=True"),
    ("[[-1], 1, YOLOEDetect, [nc, 8, True]]", "must not exceed embed 8"),
])
def test_bad_rows_fail_clearly(tmp_path, row, message):
    path = tmp_path / "bad.yaml"
    path.write_text(f"nc: 4\nbackbone:\n  - [-1, 1, Conv, [32, 3, 2]]\nhead:\n  - {row}\n")
    with pytest.raises(ArchscopeError, match=message) as info:
        build_model(load_spec(path), BuildOptions(imgsz=(64, 64)))
    assert "bad.yaml" in str(info.value)




YOLOE26 = ["26/yoloe-26.yaml", "26/yoloe-26-seg.yaml"]


def test_reference_covers_yoloe26():
    """The parity tests above parametrize from the reference module: every yoloe-26 scale must be in it."""
    wanted = {(cfg, scale) for cfg in YOLOE26 for scale in "nsmlx"}
    assert wanted <= set(PARAMS)
    assert wanted <= {(cfg, scale) for cfg, scale, _ in SHAPES}


@pytest.mark.parametrize("cfg", YOLOE26)
def test_yoloe26_one_to_one_twins(cfg, cfg_dir):
    """end2end: one-to-one copies of the box, embedding (not Detect's nc-class branch), contrastive and mask
    branches; reg_max 1; the training forward runs both branches and never Proto26's semantic branch."""
    built = build_model(load_spec(cfg_dir / cfg), BuildOptions(scale="n", imgsz=(64, 96)))
    head = built.model.layers[-1]
    assert head.end2end and head.reg_max == 1
    assert head.one2one_cv3[0][-1].out_channels == head.embed == 512
    assert head.one2one_cv3 is not head.cv3 and head.one2one_cv4 is not head.cv4
    assert len(head.one2one_cv4) == 3 and type(head.one2one_cv4[0]).__name__ == "BNContrastiveHead"
    if "seg" in cfg:
        assert head.one2one_cv5 is not head.cv5 and type(head.proto).__name__ == "Proto26"
    from archscope.build.materialize import materialize

    model = materialize(built)
    head = model.layers[-1]
    feats = [torch.rand(1, c, 64 // s, 96 // s) for c, s in zip((64, 128, 256), (8, 16, 32))]
    head.train()
    out = head(feats)
    assert set(out) >= {"one2many", "one2one"}
    assert list(out["one2one"]["scores"].shape) == [1, 80, 8 * 12 + 4 * 6 + 2 * 3]
    assert list(out["one2one"]["boxes"].shape) == [1, 4, 8 * 12 + 4 * 6 + 2 * 3]
    if "seg" in cfg:
        assert isinstance(out["proto"], torch.Tensor) and list(out["proto"].shape) == [1, 32, 16, 24]


@pytest.mark.parametrize("cfg", YOLOE26)
def test_yoloe26_drop_training_branches_keeps_the_one_to_one_output(cfg, cfg_dir):
    """drop_training_branches keeps only the one-to-one twins (under the plain names); the eval output is unchanged."""
    from archscope.build.materialize import materialize

    built = build_model(load_spec(cfg_dir / cfg), BuildOptions(scale="n", imgsz=(128, 128)))
    model = materialize(built)
    x = torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = model(x)
        head = model.layers[-1]
        o2o_cv4 = head.one2one_cv4
        params = sum(p.numel() for p in model.parameters())
        head.drop_training_branches()
        after = model(x)
    assert not head.end2end and not any(n.startswith("one2one_") for n in head._modules)
    assert head.cv4 is o2o_cv4
    assert sum(p.numel() for p in model.parameters()) < params
    if "seg" in cfg:
        assert head.proto.semseg is None
    for a, b in zip(torch.utils._pytree.tree_leaves(before), torch.utils._pytree.tree_leaves(after)):
        torch.testing.assert_close(a, b)


def test_yoloe26_real_forward_matches_meta(cfg_dir):
    built = build_model(load_spec(cfg_dir / "26/yoloe-26-seg.yaml"), BuildOptions(scale="n", imgsz=(64, 96)))
    meta = analyze(built, legacy=False)
    real = analyze(built, legacy=False, real=True)
    assert real.gflops_ultralytics == pytest.approx(meta.gflops_ultralytics)
    assert sum(lc.totals.flops for lc in real.layers) == sum(lc.totals.flops for lc in meta.layers)

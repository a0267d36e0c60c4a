"""YOLO26 (Ultralytics 8.4.190's flagship family) and the 8.4 blocks no older config uses: parity with Ultralytics.

Figures: tests/reference/ultralytics_yolo26.py, written by tests/reference/scripts/ul84_yolo26.py from the real
Ultralytics 8.4.190 package (its docstring has the exact procedure):

* YOLO26: every scale of every cfg/models/26/ YAML except YOLOE (45 records) and 11/yolo11-cls-resnet18.yaml (the
  TorchVision config): per-layer module names and parameters, total parameters, the leaf-module count model.info()
  prints ("layers"), and every layer's output shape at 384x640 (classifiers 224x224) from a real eval forward.
* GFLOPS_640: model.eval().info(imgsz=640)'s GFLOPs for the first scale of each config.
* BLOCKS: two hand-written models (CUSTOM, the same dicts as in the script) that exercise Conv2, C3TR, C3k2 with
  attn=True, the end2end/reg_max top-level keys, TorchVision(split=True) and Index.

The TorchVision records need the optional torchvision package (``archscope-yolo[torchvision]``); without it they check
the one-line error instead.
"""

from __future__ import annotations

import builtins
import copy

import pytest
import torch

from archscope.analysis.analyze import analyze
from archscope.analysis.to_report import leaf_module_count
from archscope.build.builder import BuildOptions, build_model
from archscope.build.materialize import materialize
from archscope.errors import ArchscopeError
from archscope.spec.model_spec import load_spec
from reference.ultralytics_yolo26 import BLOCKS, GFLOPS_640, YOLO26

try:
    import torchvision  # noqa: F401

    HAVE_TORCHVISION = True
except Exception:  # noqa: BLE001 - missing, or built for another torch
    HAVE_TORCHVISION = False

# The hand-written models of tests/reference/scripts/ul84_yolo26.py (CUSTOM), repeated here.
CUSTOM = {
    "blocks-detect": {"nc": 3, "end2end": True, "reg_max": 4, "backbone": [
        [-1, 1, "Conv", [16, 3, 2]], [-1, 1, "Conv2", [16, 16, 3]], [-1, 1, "Conv", [32, 3, 2]],
        [-1, 2, "C3TR", [32]], [-1, 1, "Conv", [64, 3, 2]], [-1, 2, "C3k2", [64, False, 0.5, True]],
        [-1, 1, "Conv", [128, 3, 2]], [-1, 1, "C3k2", [128, True, 0.5, True]]],
        "head": [[[3, 5, 7], 1, "Detect", ["nc"]]]},
    "blocks-torchvision": {"nc": 10, "backbone": [
        [-1, 1, "TorchVision", [512, "resnet18", None, True, 2, True]], [0, 1, "Index", [128, 6]],
        [-1, 1, "Conv2", [128, 128, 3, 2]], [-1, 1, "C3TR", [128]]],
        "head": [[-1, 1, "Classify", ["nc"]]]},
}


def _needs_torchvision(uses_it: bool):
    if uses_it and not HAVE_TORCHVISION:
        pytest.skip("torchvision is not installed (optional extra archscope-yolo[torchvision])")


def _compare(built, ref, size):
    assert [layer.module.removeprefix("nn.") for layer in built.layers] == ref["types"]
    assert [layer.params for layer in built.layers] == ref["per_layer"]
    assert built.params == ref["params"]
    assert leaf_module_count(built.model) == ref["layers"]
    assert [layer.output_shape for layer in built.layers] == ref[f"shapes_{size[0]}x{size[1]}"]


KEYS = sorted(YOLO26, key=str)


@pytest.mark.parametrize("key", KEYS, ids=[f"{c}:{s}" for c, s in KEYS])
def test_yolo26_every_scale_matches_ultralytics(key, cfg_dir):
    cfg, scale = key
    _needs_torchvision("resnet" in cfg)
    size = (224, 224) if "cls" in cfg else (384, 640)
    _compare(build_model(load_spec(cfg_dir / cfg), BuildOptions(scale=scale, imgsz=size)), YOLO26[key], size)


def test_yolo26_coverage():
    """Every YOLO26 YAML but YOLOE, every scale: 9 configs x 5 scales."""
    configs = {cfg for cfg, _ in YOLO26 if cfg.startswith("26/")}
    assert configs == {f"26/yolo26{t}.yaml" for t in ("", "-cls", "-seg", "-pose", "-obb", "-p2", "-p6", "-depth",
                                                         "-sem")}
    assert all({s for c, s in YOLO26 if c == cfg} == set("nsmlx") for cfg in configs)


GF = sorted(GFLOPS_640, key=str)


@pytest.mark.parametrize("key", GF, ids=[f"{c}:{s}" for c, s in GF])
def test_yolo26_gflops_match_ultralytics(key, cfg_dir):
    cfg, scale = key
    _needs_torchvision("resnet" in cfg)
    costs = analyze(build_model(load_spec(cfg_dir / cfg), BuildOptions(scale=scale)), legacy=False)
    assert costs.gflops_ultralytics == pytest.approx(GFLOPS_640[key], rel=1e-12)
    assert costs.uncounted_ops == {}


@pytest.mark.parametrize("name", sorted(CUSTOM))
def test_custom_block_models_match_ultralytics(name):
    _needs_torchvision("torchvision" in name)
    built = build_model(load_spec(copy.deepcopy(CUSTOM[name]), name=name), BuildOptions(imgsz=(256, 256)))
    _compare(built, BLOCKS[name], (256, 256))


def test_yaml_keys_reach_the_head(cfg_dir):
    """end2end adds the one-to-one twins; reg_max 1 drops DFL (4 box channels per level)."""
    head = build_model(load_spec(cfg_dir / "26/yolo26.yaml")).model.layers[-1]
    assert head.end2end and head.reg_max == 1 and isinstance(head.dfl, torch.nn.Identity)
    assert head.one2one_cv2[0][-1].out_channels == 4 and head.one2one_cv3 is not head.cv3
    plain = build_model(load_spec(cfg_dir / "11/yolo11.yaml")).model.layers[-1]
    assert not plain.end2end and plain.reg_max == 16 and not hasattr(plain, "one2one_cv2")


@pytest.mark.parametrize("cfg", ["26/yolo26.yaml", "26/yolo26-seg.yaml", "26/yolo26-pose.yaml", "26/yolo26-obb.yaml",
                                 "v10/yolov10n.yaml"])
def test_drop_training_branches_keeps_the_one_to_one_output(cfg, cfg_dir):
    """drop_training_branches drops the one-to-many branch (and YOLO26's training-only parts); the eval output is unchanged."""
    built = build_model(load_spec(cfg_dir / cfg), BuildOptions(imgsz=(128, 128)))
    model = materialize(built)
    x = torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = model(x)
        head = model.layers[-1]
        params = sum(p.numel() for p in model.parameters())
        head.drop_training_branches()
        after = model(x)
    assert not head.end2end and not any(n.startswith("one2one_") for n in head._modules)
    assert sum(p.numel() for p in model.parameters()) < params
    for a, b in zip(torch.utils._pytree.tree_leaves(before), torch.utils._pytree.tree_leaves(after)):
        torch.testing.assert_close(a, b)
    if "pose" in cfg:
        assert head.flow_model is None and head.cv4_sigma is None


def test_c3k2_attention_signature():
    """8.4's C3k2(c1, c2, n, c3k, e, attn, g, shortcut): attn gives Bottleneck + PSABlock inner blocks."""
    from archscope.blocks.csp import C3k2
    from archscope.blocks.psa import PSABlock

    m = C3k2(64, 64, 1, True, 0.5, True)
    assert isinstance(m.m[0][1], PSABlock) and m.m[0][1].attn.num_heads == 1
    assert not isinstance(C3k2(64, 64, 1, True, 0.5, False).m[0], torch.nn.Sequential)


def test_torchvision_missing_is_one_clear_line(monkeypatch):
    real_import = builtins.__import__

    def no_torchvision(name, *args, **kwargs):
        if name == "torchvision" or name.startswith("torchvision."):
            raise ImportError("No module named 'torchvision'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torchvision)
    for mod in [m for m in list(__import__("sys").modules) if m == "torchvision" or m.startswith("torchvision.")]:
        monkeypatch.delitem(__import__("sys").modules, mod)
    with pytest.raises(ArchscopeError) as err:
        build_model(load_spec(copy.deepcopy(CUSTOM["blocks-torchvision"]), name="tv.yaml"))
    text = str(err.value)
    assert "\n" not in text and "layer 0 (TorchVision)" in text
    assert "needs the torchvision package, which is not installed: pip install 'archscope-yolo[torchvision]'" in text


def test_index_needs_a_multi_output_input(tmp_path):
    data = {"nc": 2, "backbone": [[-1, 1, "Conv", [8, 3, 2]], [-1, 1, "Index", [8, 0]]],
            "head": [[-1, 1, "Classify", ["nc"]]]}
    with pytest.raises(ArchscopeError, match="layer 1 .*Index needs a multi-output input"):
        build_model(load_spec(data, name="idx.yaml"))


@pytest.mark.parametrize("cfg", sorted(c for c, s in YOLO26 if c.startswith("26/") and s == "n"))
def test_real_forward_matches_the_meta_build(cfg, cfg_dir):
    """A real CPU forward at a small non-square size gives exactly the shapes the meta build predicted."""
    from archscope.build.builder import shape_of

    size = (96, 160) if "p6" not in cfg else (128, 192)
    built = build_model(load_spec(cfg_dir / cfg), BuildOptions(imgsz=size))
    model = materialize(built)
    seen = {}
    with torch.no_grad():
        model.run(torch.randn(1, 3, *size), on_layer=lambda i, out: seen.__setitem__(i, shape_of(out)))
    assert [seen[i] for i in range(len(built.layers))] == [layer.output_shape for layer in built.layers]


@pytest.mark.parametrize("key,value,message", [
    ("end2end", 3, "'end2end' must be true or false, got 3"),
    ("reg_max", 0, "reg_max"),
])
def test_bad_head_keys_are_one_clear_line(key, value, message):
    data = {"nc": 2, key: value, "backbone": [[-1, 1, "Conv", [8, 3, 2]], [-1, 1, "Conv", [16, 3, 2]]],
            "head": [[[0, 1], 1, "Detect", ["nc"]]]}
    with pytest.raises(ArchscopeError, match=message) as err:
        build_model(load_spec(data, name="bad.yaml"))
    assert "\n" not in str(err.value) and str(err.value).startswith("bad.yaml")

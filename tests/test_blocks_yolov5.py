"""The YOLOv5 dialect builds the YOLOv5 repository's own blocks (archscope/blocks/yolov5.py).

Reference figures: tests/reference/yolov5_repo.py, CONFIGS and TAG_CONFIGS: the total and per-layer parameters that
the repository's own ``models.yolo.Model`` gives for every official YAML (v7.0 code from PyPI ``yolov5==7.0.14``;
older tags' files with that tag's own code; see its docstring and tests/reference/scripts/y5_repo.py). The YAMLs
themselves are read at test time from PyPI releases (tests/yolov5_configs.py); none is shipped here.
Other figures are formulas, derived beside them.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch
from reference.yolov5_repo import CONFIGS, TAG_CONFIGS
from yolov5_configs import release_models_dir, tag_yaml

import archscope
from archscope.blocks import csp, heads, yolov5
from archscope.build.builder import BuildOptions, build_model
from archscope.build.catalog import default_registry
from archscope.build.materialize import materialize
from archscope.errors import ArchscopeError
from archscope.spec.model_spec import load_spec

FIXTURES = Path(__file__).parent / "fixtures"


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def build(path, imgsz=(256, 256), **kw):
    return build_model(load_spec(str(path)), BuildOptions(imgsz=imgsz, **kw))


@pytest.fixture(scope="session")
def v7_models():
    return release_models_dir("7.0.14")


@pytest.mark.parametrize("rel", sorted(CONFIGS))
def test_every_v7_yaml_matches_the_repository(rel, v7_models):
    """Every model YAML of the repository at v7.0 (= v6.1, v6.2): total and per-layer parameters."""
    built = build(v7_models / rel.removeprefix("models/"))
    assert built.spec.dialect == "yolov5"
    assert [layer.params for layer in built.layers] == CONFIGS[rel]["per_layer"]
    assert built.params == CONFIGS[rel]["params"]
    assert not [layer.notice for layer in built.layers if layer.notice]  # only the repository's own blocks


@pytest.mark.parametrize("key", sorted(TAG_CONFIGS))
def test_older_tags_match_their_own_code(key, tmp_path):
    """v6.0's files that differ from v7.0's, and yolov5s/m/l/x of v2.0-v5.0, against each tag's own code."""
    tag, rel = key.split(":", 1)
    path = tag_yaml(tag, rel, tmp_path)
    if path is None:
        pytest.skip(f"{tag}'s files are on no PyPI release: set ARCHSCOPE_YOLOV5_GIT to a yolov5 clone")
    ref = TAG_CONFIGS[key]
    if "unreadable" in ref:  # v6.0's hub/yolov5-bifpn.yaml: not valid YAML, for its own repository too
        with pytest.raises(ArchscopeError, match="malformed YAML"):
            load_spec(str(path))
        return
    built = build(path)
    assert [layer.params for layer in built.layers] == ref["per_layer"]
    assert built.params == ref["params"]


def test_figures_from_the_issue(v7_models, tmp_path):
    """The two mismatches the issue named (repository figures, above): yolov3 and yolov5s of v2.0/v3.0."""
    assert build(v7_models / "hub/yolov3.yaml").params == 61_949_149 == CONFIGS["models/hub/yolov3.yaml"]["params"]
    assert TAG_CONFIGS["v2.0:models/yolov5s.yaml"]["params"] == 7_468_157
    v4 = tag_yaml("v4.0", "models/yolov5s.yaml", tmp_path)
    assert build(v4).params == TAG_CONFIGS["v4.0:models/yolov5s.yaml"]["params"] == 7_276_605


# ------------------------------------------------------------------------------------- dialect resolution

SHARED = ["Conv", "DWConv", "GhostConv", "GhostBottleneck", "Focus", "C3", "C3x", "C3Ghost", "C3TR", "SPP", "SPPF",
          "DWConvTranspose2d", "nn.ConvTranspose2d", "Concat"]
OWN = ["Bottleneck", "BottleneckCSP", "Detect", "Segment", "Classify"]


def test_one_name_two_blocks():
    registry = default_registry()
    for name in OWN:
        v5, ul = registry.lookup(name, "yolov5"), registry.lookup(name, "ultralytics")
        assert v5.dialect == "yolov5" and ul.dialect is None and v5.factory is not ul.factory, name
    for name in SHARED:  # the same class, registered for the yolov5 dialect with the repository's channel rule
        v5, ul = registry.lookup(name, "yolov5"), registry.lookup(name, "ultralytics")
        assert v5.dialect == "yolov5" and v5.factory is ul.factory, name
    for name in ("C3SPP", "CrossConv", "MixConv2d", "Contract", "Expand"):
        assert registry.lookup(name, "yolov5").factory.__module__ == "archscope.blocks.yolov5"
        with pytest.raises(ArchscopeError, match=f"'{name}' is the YOLOv5 repository's block, but this file is read "
                           "in the ultralytics dialect"):
            registry.lookup(name, "ultralytics")


def test_bottleneck_definitions_differ():
    # formula: YOLOv5 Conv 1x1 (64*32 + BN 2*32) + Conv 3x3 (32*64*9 + BN 2*64) = 2112 + 18560 = 20672;
    # Ultralytics: 3x3 then 3x3: (64*32*9 + 64) + (32*64*9 + 128) = 18496 + 18560 = 37056.
    assert n_params(yolov5.Bottleneck(64, 64)) == 20_672
    assert n_params(csp.Bottleneck(64, 64)) == 37_056
    # BottleneckCSP(64, 64, n=1): cv1 1x1 64->32 (2112), cv2/cv3 plain 1x1 (2048 + 1024), cv4 1x1 64->64 (4224),
    # bn 2*64 (128), one bottleneck 32->32 (1088 + 9280) -> 19904 (= layer 2 of v2.0 yolov5s, repository figure)
    assert n_params(yolov5.BottleneckCSP(64, 64, 1)) == 19_904
    assert TAG_CONFIGS["v2.0:models/yolov5s.yaml"]["per_layer"][2] == 19_904


def test_mixconv2d_shares():
    # formula: equal_ch splits 32 outputs 16 + 16; Conv2d(16, 16, 1, groups 16) 16 + Conv2d(16, 16, 3, groups 16)
    # 144 + BN(32) 64 = 224. Equal weights for k (3, 5, 7), 64 outputs: shares s with s0+s1+s2 = 64 and
    # 9 s0 = 25 s1 = 49 s2 -> (41.5, 14.9, 7.6) -> rounded 41, 15, 8 (the repository's MixConv2d gives the same).
    assert n_params(yolov5.MixConv2d(16, 32, (1, 3))) == 224
    mixed = yolov5.MixConv2d(32, 64, (3, 5, 7), 1, False)
    assert [m.out_channels for m in mixed.m] == [41, 15, 8]
    assert [m.groups for m in mixed.m] == [1, 1, 8]


def _yaml(tmp_path, body: str, name="m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(V5_HEADER + textwrap.dedent(body))
    return path


V5_HEADER = """\
nc: 2
depth_multiple: 1.0
width_multiple: 0.5
anchors: 1
"""


def test_detection_output_count_is_not_width_scaled(tmp_path):
    # The repository leaves an output count equal to na * (nc + 5) (here 1 * 7) unscaled; 8 * 0.5 = 4 -> 8.
    path = _yaml(tmp_path, """\
        backbone:
          [[-1, 1, Conv, [7, 3, 2]],
           [-1, 1, Conv, [8, 3, 2]]]
        """)
    built = build(path, imgsz=(64, 64))
    assert [layer.c_out for layer in built.layers] == [7, 8]


def test_contract_expand_channels(tmp_path):
    path = _yaml(tmp_path, """\
        backbone:
          [[-1, 1, Conv, [32, 3, 1]],
           [-1, 1, Contract, [2]],
           [-1, 1, Expand, [2]],
           [-1, 1, C3SPP, [16, [3, 5]]],
           [-1, 1, MixConv2d, [16, [1, 3]]]]
        """)
    built = build(path, imgsz=(64, 64))
    assert [layer.c_out for layer in built.layers] == [16, 64, 16, 8, 8]
    # formula: c1 8, shares 4 + 4, groups gcd(8, 4) = 4 (2 inputs each): 4*2*1 + 4*2*9 weights + BN(8) 16 = 96
    assert built.layers[4].params == 4 * 2 * 1 + 4 * 2 * 9 + 2 * 8
    assert built.layers[4].output_shape == [1, 8, 64, 64]
    assert [layer.output_shape for layer in built.layers][:3] == [[1, 16, 64, 64], [1, 64, 32, 32], [1, 16, 64, 64]]
    assert built.layers[1].params == built.layers[2].params == 0


def test_segment_shapes_real_forward(v7_models):
    built = build(v7_models / "segment/yolov5n-seg.yaml", imgsz=(64, 96))
    model = materialize(built)
    with torch.no_grad():
        preds, proto = model(torch.zeros(1, 3, 64, 96))
    # 3 anchors per cell over strides 8, 16, 32: 3 * (8*12 + 4*6 + 2*3) = 378; 80 + 5 + 32 masks per anchor.
    assert list(preds.shape) == [1, 378, 117]
    assert list(proto.shape) == [1, 32, 16, 24]  # Proto at stride 8 upsampled 2x: stride 4
    assert built.layers[-1].output_shape == [[1, 378, 117], [1, 32, 16, 24]]


def test_transformer_real_forward_and_costs(v7_models):
    report = archscope.profile(str(v7_models / "hub/yolov5s-transformer.yaml"), imgsz="64")
    assert report.totals.params == CONFIGS["models/hub/yolov5s-transformer.yaml"]["params"]
    c3tr = report.layers[8]
    assert c3tr.module == "C3TR" and c3tr.flops and c3tr.attention_flops
    built = build(v7_models / "hub/yolov5s-transformer.yaml", imgsz=(64, 64))
    with torch.no_grad():
        out = materialize(built)(torch.zeros(1, 3, 64, 64))
    assert list(out.shape) == [1, 3 * (8 * 8 + 4 * 4 + 2 * 2), 85]


def test_classify_returns_logits_with_ultralytics_parameters():
    v5 = yolov5.V5Classify(256, 10).eval()
    ul = heads.Classify(256, 10).eval()
    assert n_params(v5) == n_params(ul) == 256 * 1280 + 2 * 1280 + 1280 * 10 + 10
    with torch.no_grad():
        logits = v5(torch.randn(2, 256, 4, 4))
    assert logits.shape == (2, 10) and not torch.allclose(logits.sum(1), torch.ones(2))


# ------------------------------------------------------------------------------------------- borrowed blocks

PSA_FILE = V5_HEADER.replace("nc: 2", "nc: 80").replace("anchors: 1", "anchors: 3") + """\
backbone:
  [[-1, 1, Conv, [64, 3, 2]],
   [-1, 1, Conv, [128, 3, 2]],
   [-1, 1, PSA, [128]],
   [-1, 1, Conv, [128, 3, 2]],
   [-1, 1, PSA, [128]]]
head:
  [[[1, 2, 4], 1, Detect, [nc, anchors]]]
"""


def test_borrowed_block_gets_a_notice(tmp_path):
    path = tmp_path / "v5-psa.yaml"
    path.write_text(PSA_FILE)
    report = archscope.profile(str(path), imgsz="64", analyse=False)
    [finding] = report.findings
    assert finding.kind == "borrowed-block" and finding.layer == 2
    assert finding.message.startswith("layers 2, 4: PSA is not a block of the YOLOv5 repository: built archscope's "
                                      "PSA (the yolov10 family")
    assert "yolov10 family" in finding.message and "--blocks" in finding.message and "\n" not in finding.message
    analysed = archscope.profile(str(path), imgsz="64")
    assert [f.kind for f in analysed.findings] == ["borrowed-block"]


def test_own_block_for_the_dialect_replaces_the_borrowed_one(tmp_path):
    blocks = tmp_path / "my_psa.py"
    blocks.write_text(textwrap.dedent("""\
        from torch import nn
        import archscope
        from archscope.build.registry import ScaledOut

        @archscope.block("PSA", family="user", channels=ScaledOut(), dialect="yolov5")
        class MyPSA(nn.Module):
            def __init__(self, c1, c2):
                super().__init__()
                self.conv = nn.Conv2d(c1, c2, 1)

            def forward(self, x):
                return self.conv(x)
        """))
    path = tmp_path / "v5-psa.yaml"
    path.write_text(PSA_FILE)
    try:
        report = archscope.profile(str(path), imgsz="64", analyse=False, blocks=[str(blocks)])
    finally:  # leave the shared registry as it was for the other tests
        default_registry()._blocks.pop(("PSA", "yolov5"), None)
    assert report.findings == []
    assert report.layers[2].params == 64 * 64 + 64  # formula: Conv2d(64, 64, 1) with bias (128 * 0.5 = 64)


@pytest.mark.parametrize("value", ['"1e"', "-4", "true", ".inf"])
def test_anchor_values_must_be_positive_pixel_counts(tmp_path, value):
    """A mutated anchor value (found by the fuzz test) is said in archscope's words, never Python's float()."""
    path = tmp_path / "bad-anchors.yaml"
    path.write_text(textwrap.dedent(f"""\
        nc: 80
        depth_multiple: 0.33
        width_multiple: 0.25
        anchors:
          - [10, 13, {value}, 30]
        backbone:
          [[-1, 1, Conv, [64, 3, 2]]]
        head:
          [[-1, 1, Detect, [nc, anchors]]]
        """))
    with pytest.raises(ArchscopeError, match=r"anchors are numbers of pixels \(0 or more\)") as exc:
        archscope.profile(str(path))
    assert "convert" not in str(exc.value) and "float" not in str(exc.value)

"""YOLOv9's and YOLOv7's heads and helpers (archscope/blocks/wongkinyiu.py), read in the yolov5 dialect.

Reference figures: "YOLOv9/YOLOv7 repository" = printed by that repository's own ``models/yolo.py``
(tests/reference/wongkinyiu_repo.py, produced by tests/reference/scripts/wky_params.py); "formula" = derived by hand
from the published definitions (worked out in the comment). FLOPs are checked against torch's FlopCounterMode on
real tensors. The official YAMLs are GPL-3.0 and not shipped: their test runs only where ARCHSCOPE_YOLOV9_GIT /
ARCHSCOPE_YOLOV7_GIT name a checkout of that repository (``git show HEAD:<path>``).
"""

from __future__ import annotations

import os
import subprocess

import pytest
import torch
from reference.wongkinyiu_repo import OFFICIAL, SMALL, SMALL_YAMLS
from torch.utils.flop_counter import FlopCounterMode

import archscope
from archscope.analysis.analyze import analyze
from archscope.build.builder import BuildOptions, build_model
from archscope.build.materialize import materialize
from archscope.errors import ArchscopeError
from archscope.spec.model_spec import load_spec


def _write(tmp_path, name: str, text: str | None = None):
    path = tmp_path / name
    path.write_text(SMALL_YAMLS[name] if text is None else text)
    return path


@pytest.mark.parametrize("name", sorted(SMALL))
def test_small_yamls_have_the_repositories_parameters_layer_by_layer(tmp_path, name):
    report = archscope.profile(str(_write(tmp_path, name)), analyse=False)
    assert report.model.dialect == "yolov5"
    assert [layer.params for layer in report.layers] == SMALL[name]["layers"]  # YOLOv9/YOLOv7 repository
    assert report.totals.params == SMALL[name]["params"]


def test_idetect_is_detect_plus_the_implicit_layers():
    # formula: IDetect = Detect + ImplicitA (one per input channel) + ImplicitM (na * (nc + 5) per level);
    # v7_small: inputs 32 + 40 + 64 + 72 channels, 4 levels of 3 anchors, nc 5
    detect, idetect = SMALL["v7_small_detect.yaml"]["layers"][-1], SMALL["v7_small_idetect.yaml"]["layers"][-1]
    assert idetect == detect + (32 + 40 + 64 + 72) + 4 * 3 * (5 + 5)
    # IAuxDetect adds one plain 1x1 conv per auxiliary input (here the same four layers again), no implicit layers
    aux = SMALL["v7_small.yaml"]["layers"][-1]
    assert aux == idetect + detect


def test_ddetect_widths_follow_yolov9_not_ultralytics(tmp_path):
    # formula: DDetect on [32, 64, 96] channels, nc 7: box width make_divisible(max(32 // 4, 64, 16), 4) = 64, class
    # width max(32, min(14, 128)) = 32. Per input c: box Conv(c,64,3) + Conv(64,64,3,g=4) + Conv2d(64,64,1,g=4)
    # = 9*64*c + 128 + 9*64*16 + 128 + 16*64 + 64; class Conv(c,32,3) + Conv(32,32,3) + Conv2d(32,7,1)
    # = 9*32*c + 64 + 9*32*32 + 64 + 32*7 + 7; plus DFL's 16 fixed weights.
    def per_input(c):
        return (9 * 64 * c + 128 + 9 * 64 * 16 + 128 + 16 * 64 + 64) + (9 * 32 * c + 64 + 9 * 32 * 32 + 64 + 32 * 7 + 7)

    expected = sum(per_input(c) for c in (32, 64, 96)) + 16
    assert SMALL["v9_small.yaml"]["layers"][18] == expected  # the repository agrees with the formula
    report = archscope.profile(str(_write(tmp_path, "v9_small.yaml")), analyse=False)
    assert report.layers[18].params == expected


@pytest.mark.parametrize("name", ["v9_small.yaml", "v7_small.yaml"])
def test_flops_match_flopcountermode_on_real_tensors(tmp_path, name):
    built = build_model(load_spec(_write(tmp_path, name)), BuildOptions(imgsz=(64, 128), batch=2))
    ours = analyze(built)
    model = materialize(built)
    with torch.no_grad(), FlopCounterMode(display=False) as fcm:
        out = model.run(torch.rand(2, 3, 64, 128))
    assert fcm.get_total_flops() == ours.totals.mac_flops > 0
    assert out is not None


def test_the_heads_decode_like_their_references(tmp_path):
    built = build_model(load_spec(_write(tmp_path, "v9_small.yaml")), BuildOptions(imgsz=(64, 64)))
    model = materialize(built)
    with torch.no_grad():
        y = model.run(torch.rand(1, 3, 64, 64))
    # TripleDDetect (the last layer) decodes its first group, levels at strides 4, 8, 16: 16^2 + 8^2 + 4^2 points,
    # 4 box values + 7 class scores each
    assert tuple(y.shape) == (1, 4 + 7, 16 * 16 + 8 * 8 + 4 * 4)
    built = build_model(load_spec(_write(tmp_path, "v7_small.yaml")), BuildOptions(imgsz=(64, 64)))
    with torch.no_grad():
        y = materialize(built).run(torch.rand(1, 3, 64, 64))
    # IAuxDetect: the lead head's boxes only, 3 anchors on levels at strides 8, 16, 32, 64
    assert tuple(y.shape) == (1, 3 * (8 * 8 + 4 * 4 + 2 * 2 + 1), 5 + 5)


def test_iauxdetect_needs_two_inputs_per_level(tmp_path):
    text = SMALL_YAMLS["v7_small.yaml"].replace("[[3, 5, 6, 7, 3, 5, 6, 7], 1,", "[[3, 5, 6, 7, 3], 1,")
    with pytest.raises(ArchscopeError, match="IAuxDetect needs two inputs per anchor level"):
        archscope.profile(str(_write(tmp_path, "v7_small.yaml", text)), analyse=False)


@pytest.mark.parametrize("path", sorted(OFFICIAL))
def test_official_files_equal_the_repositories_layer_by_layer(tmp_path, path):
    clone = os.environ.get("ARCHSCOPE_YOLOV9_GIT" if path.startswith("models/") else "ARCHSCOPE_YOLOV7_GIT")
    if not clone:
        pytest.skip("set ARCHSCOPE_YOLOV9_GIT / ARCHSCOPE_YOLOV7_GIT to a git directory of that repository")
    text = subprocess.run(["git", "-C", clone, "show", f"HEAD:{path}"], capture_output=True, text=True,
                          check=True).stdout
    target = tmp_path / os.path.basename(path)
    target.write_text(text)
    report = archscope.profile(str(target), analyse=False)
    assert [layer.params for layer in report.layers] == OFFICIAL[path]["layers"]
    assert report.totals.params == OFFICIAL[path]["params"]


YOLOV7_ACT = """\
nc: 3
depth_multiple: 1.0
width_multiple: 1.0
anchors:
  - [10,13, 16,30, 33,23]
backbone:
  [[-1, 1, Conv, [16, 3, 2, None, 1, nn.LeakyReLU(0.1)]],
   [-1, 1, Conv, [16, 3, 1, None, 1]],
   [-1, 1, Conv, [16, 3, 1, None, 1, {act}]],
  ]
head:
  [[[2], 1, Detect, [nc, anchors]]]
"""


def test_a_yolov7_conv_row_gives_its_activation_where_yolov5_has_the_dilation(tmp_path):
    text = YOLOV7_ACT.format(act="nn.ReLU()")
    built = build_model(load_spec(_write(tmp_path, "act.yaml", text)), BuildOptions(imgsz=(32, 32)))
    first, plain, last = (built.model.layers[i] for i in range(3))
    assert isinstance(first.act, torch.nn.LeakyReLU) and first.act.negative_slope == 0.1
    assert not isinstance(plain.act, (torch.nn.LeakyReLU, torch.nn.ReLU))  # the model's default activation
    assert isinstance(last.act, torch.nn.ReLU)
    assert first.conv.dilation == (1, 1)
    text = YOLOV7_ACT.format(act="False")  # a boolean there: the act of YOLOv7's (and old YOLOv5's) Conv
    built = build_model(load_spec(_write(tmp_path, "act.yaml", text)), BuildOptions(imgsz=(32, 32)))
    assert isinstance(built.model.layers[2].act, torch.nn.Identity) and built.model.layers[2].conv.dilation == (1, 1)
    # formula: Conv(3, 16, 3) = 27*16 + 2*16 BN; Conv(16, 16, 3) = 144*16 + 32, twice; Detect 1x1 to 3*(3+5)
    assert sum(p.numel() for p in built.model.parameters()) == (432 + 32) + 2 * (2304 + 32) + (16 * 24 + 24)


@pytest.mark.parametrize("act", ["nn.PReLU()", "os.system('x')", "nn.LeakyReLU(slope)", "nn.Identity"])
def test_a_yolov7_activation_that_is_not_a_plain_one_is_refused_in_one_line(tmp_path, act):
    with pytest.raises(ArchscopeError, match="is not a torch.nn activation call without parameters") as caught:
        archscope.profile(str(_write(tmp_path, "act.yaml", YOLOV7_ACT.format(act=act))), analyse=False)
    assert "\n" not in str(caught.value) and caught.value.layer == 2

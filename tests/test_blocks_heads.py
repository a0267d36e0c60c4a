"""Heads (Detect, Segment, Pose, OBB, v10Detect, Classify, YOLOv5 anchor Detect) checked standalone and through the
builder.

Reference figures are literal numbers. Where they come from:
* "ref JSON": tests/reference/ultralytics-8.4.190-smallest-scales.json (head = last entry of
  per_layer_params, eval shape = first element of per_layer_out_shape[-1]);
* "UL 8.4.190": the head layer's parameter count printed by Ultralytics 8.4.190's parse_model for that config and
  scale (measured in a scratch environment; input channel lists as Ultralytics passes them);
* "formula": derived by hand, the derivation beside it.
"""

from __future__ import annotations

import math
import textwrap

import pytest
import torch

from archscope.blocks.common import BuildContext, build_context
from archscope.blocks.heads import DFL, OBB, AnchorDetect, Classify, Detect, Pose, Segment, anchor_points, v10Detect
from archscope.build.builder import BuildOptions, build_model
from archscope.build.materialize import materialize
from archscope.errors import ArchscopeError
from archscope.spec.model_spec import load_spec

FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures"


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def make(factory, *args, legacy=True, device=None):
    with build_context(BuildContext(legacy_heads=legacy)):
        if device is None:
            return factory(*args)
        with torch.device(device):
            return factory(*args)


# (factory, args before ch, ch, legacy, expected params, origin)
HEAD_PARAMS = [
    (Detect, (80,), [64, 128, 256], True, 897_664, "ref JSON v8/yolov8.yaml n (also v5 n)"),
    (Detect, (80,), [64, 128, 256], False, 464_912, "ref JSON 11/yolo11.yaml n (also 12 n)"),
    (Detect, (80,), [384, 768, 768], False, 3_237_952, "UL 8.4.190 11/yolo11.yaml x"),
    (Detect, (80,), [256, 512, 512], True, 5_644_480, "ref JSON v9/yolov9c.yaml; UL 8.4.190 yolov8l"),
    (Detect, (80,), [256, 512, 1024], True, 7_119_040, "ref JSON v3/yolov3.yaml"),
    (Detect, (80,), [256, 512], True, 3_517_232, "ref JSON v3/yolov3-tiny.yaml"),
    (Detect, (80,), [32, 64, 128], True, 607_360, "ref JSON v6/yolov6.yaml n"),
    (Detect, (80,), [64, 96, 128], True, 690_304, "ref JSON v9/yolov9t.yaml"),
    (Detect, (80,), [240, 360, 480], True, 4_694_656, "ref JSON v9/yolov9m.yaml"),
    (Detect, (80,), [32, 64, 128, 256], True, 1_044_816, "ref JSON v8/yolov8-p2.yaml n"),
    (Detect, (80,), [64, 128, 192, 256], True, 1_252_176, "ref JSON v8/yolov8-p6.yaml n"),
    (Detect, (80,), [320, 640, 960, 1280], True, 15_566_672, "UL 8.4.190 v5/yolov5-p6.yaml x"),
    (Segment, (80, 32, 64), [64, 128, 256], True, 1_150_432, "ref JSON v8/yolov8-seg.yaml n"),
    (Segment, (80, 32, 64), [64, 128, 256], False, 717_680, "ref JSON 11/yolo11-seg.yaml n"),
    (Segment, (80, 32, 256), [256, 512, 512], True, 7_950_688, "ref JSON v9/yolov9c-seg.yaml"),
    (Segment, (80, 32, 320), [320, 640, 640, 640], True, 16_230_224, "UL 8.4.190 v8/yolov8-seg-p6.yaml x"),
    (Segment, (80, 32, 384), [384, 768, 768], False, 8_414_432, "UL 8.4.190 11/yolo11-seg.yaml x"),
    (Pose, (1, [17, 3]), [64, 128, 256], True, 1_035_934, "ref JSON v8/yolov8-pose.yaml n"),
    (Pose, (80, [17, 3]), [64, 128, 256], False, 749_339, "ref JSON 11/yolo11-pose.yaml n"),
    (Pose, (1, [17, 3]), [64, 128, 192, 256], True, 1_449_976, "ref JSON v8/yolov8-pose-p6.yaml n"),
    (Pose, (1, [17, 3]), [320, 640, 640], True, 10_057_084, "UL 8.4.190 v8/yolov8-pose.yaml x"),
    (OBB, (80, 1), [64, 128, 256], True, 969_331, "ref JSON v8/yolov8-obb.yaml n"),
    (OBB, (80, 1), [64, 128, 256], False, 536_579, "ref JSON 11/yolo11-obb.yaml n"),
    (OBB, (80, 1), [384, 768, 768], False, 5_147_107, "UL 8.4.190 11/yolo11-obb.yaml x"),
    (v10Detect, (80,), [64, 128, 256], True, 929_808, "ref JSON v10/yolov10n.yaml (legacy flag must not matter)"),
    (v10Detect, (80,), [64, 128, 256], False, 929_808, "ref JSON v10/yolov10n.yaml"),
    (v10Detect, (80,), [128, 256, 512], False, 1_700_720, "ref JSON v10/yolov10s.yaml"),
    (v10Detect, (80,), [192, 384, 576], False, 2_373_616, "ref JSON v10/yolov10m.yaml"),
    (v10Detect, (80,), [256, 512, 512], False, 2_945_392, "ref JSON v10/yolov10b.yaml and yolov10l.yaml"),
    (v10Detect, (80,), [320, 640, 640], False, 4_539_120, "ref JSON v10/yolov10x.yaml"),
]


@pytest.mark.parametrize("factory, pre, ch, legacy, expected, origin", HEAD_PARAMS,
                         ids=[f"{c[0].__name__}-{c[2]}-{'legacy' if c[3] else 'light'}" for c in HEAD_PARAMS])
def test_head_params_match_ultralytics(factory, pre, ch, legacy, expected, origin):
    head = make(factory, *pre, ch, legacy=legacy, device="meta")
    assert n_params(head) == expected, origin


@pytest.mark.parametrize("c1, c2, expected", [
    (256, 1000, 1_611_240),  # ref JSON v8/yolov8-cls.yaml n and 11/yolo11-cls.yaml n
    (1280, 1000, 2_921_960),  # UL 8.4.190 v8/yolov8-cls.yaml x
    (2048, 1000, 3_905_000),  # ref JSON v8/yolov8-cls-resnet50.yaml
    (64, 10, 64 * 1280 + 2 * 1280 + 1280 * 10 + 10),  # formula: conv + BN (w, b) + linear (w, b)
])
def test_classify_params(c1, c2, expected):
    assert n_params(make(Classify, c1, c2, device="meta")) == expected


def test_yolov5_anchor_detect_params():
    anchors = [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]]
    head = make(AnchorDetect, 80, anchors, [128, 256, 512], device="meta")
    # formula: per level Conv2d(c, 3 * 85, 1) with bias = c * 255 + 255 -> (128 + 256 + 512) * 255 + 3 * 255
    assert n_params(head) == 229_245
    assert not any(b.requires_grad for b in head.buffers())  # anchors are a buffer, never a parameter
    assert tuple(head.anchors.shape) == (3, 3, 2)


def test_dfl_is_a_frozen_counted_parameter_with_arange_weights():
    dfl = DFL(16)
    assert n_params(dfl) == 16 and not dfl.conv.weight.requires_grad  # Ultralytics counts these 16 too
    dfl.init_real()
    assert torch.equal(dfl.conv.weight.flatten(), torch.arange(16.0))
    # Uniform logits -> the expectation of 0..15 is 7.5 for every side of every anchor.
    out = dfl(torch.zeros(2, 64, 7))
    assert out.shape == (2, 4, 7) and torch.allclose(out, torch.full_like(out, 7.5))


def test_legacy_flag_picks_the_class_branch():
    legacy = make(Detect, 80, [64, 128, 256], legacy=True, device="meta")
    light = make(Detect, 80, [64, 128, 256], legacy=False, device="meta")
    assert legacy.cv3[0][0].conv.kernel_size == (3, 3) and legacy.cv3[0][0].conv.groups == 1
    assert light.cv3[0][0][0].conv.groups == 64  # depthwise 3x3 first
    # v10Detect always uses the light branch, and its one-to-one twin has the same shape.
    v10 = make(v10Detect, 80, [64, 128, 256], legacy=True, device="meta")
    assert v10.cv3[0][0][0].conv.groups == 64
    assert n_params(v10.one2one_cv2) == n_params(v10.cv2) and n_params(v10.one2one_cv3) == n_params(v10.cv3)


# ------------------------------------------------------------------------------------------- forward shapes

# A 128 x 160 (H x W) image at strides 8, 16, 32: 16x20 + 8x10 + 4x5 = 420 anchors.
CH = [32, 64, 128]
SIZES = [(16, 20), (8, 10), (4, 5)]
A = 420


def feats(device="cpu", batch=2):
    return [torch.randn(batch, c, h, w, device=device) for c, (h, w) in zip(CH, SIZES)]


@pytest.mark.parametrize("factory, pre, legacy, expected", [
    (Detect, (80,), True, [2, 84, A]),
    (Detect, (80,), False, [2, 84, A]),
    (Pose, (1, [17, 3]), True, [2, 4 + 1 + 51, A]),
    (Pose, (3, [5, 2]), False, [2, 4 + 3 + 10, A]),
    (OBB, (15, 1), True, [2, 4 + 15 + 1, A]),
    (v10Detect, (80,), False, [2, 84, A]),
])
def test_eval_forward_non_square(factory, pre, legacy, expected):
    torch.manual_seed(0)
    head = make(factory, *pre, CH, legacy=legacy).eval()
    head.init_real()
    head.set_strides((8, 16, 32))
    with torch.no_grad():
        y = head(feats())
    assert list(y.shape) == expected
    assert torch.isfinite(y).all()
    nc = pre[0]
    scores = y[:, 4:4 + nc]
    assert (scores >= 0).all() and (scores <= 1).all()  # sigmoid scores


def test_segment_eval_forward_non_square():
    torch.manual_seed(0)
    head = make(Segment, 80, 32, 64, CH).eval()
    head.set_strides((8, 16, 32))
    with torch.no_grad():
        y, proto = head(feats())
    assert list(y.shape) == [2, 4 + 80 + 32, A]
    assert list(proto.shape) == [2, 32, 32, 40]  # stride 4: the finest level upsampled 2x


def test_classify_eval_and_train():
    head = make(Classify, 32, 10).eval()
    with torch.no_grad():
        p = head(torch.randn(3, 32, 5, 7))
    assert list(p.shape) == [3, 10] and torch.allclose(p.sum(1), torch.ones(3))  # softmax in eval
    head.train()
    assert list(head(torch.randn(3, 32, 5, 7)).shape) == [3, 10]


def test_box_decoding_with_uniform_distances():
    """Zero box logits -> DFL 7.5 on each side: boxes of 15 x 15 cells centred on the cell centres, in pixels."""
    head = make(Detect, 4, CH).eval()
    head.init_real()
    head.set_strides((8, 16, 32))
    with torch.no_grad():
        for seq in head.cv2:
            seq[-1].weight.zero_()
            seq[-1].bias.zero_()
        y = head(feats(batch=1))
    points, strides = anchor_points(feats(batch=1), (8, 16, 32))
    assert torch.allclose(y[0, :2], points * strides)
    assert torch.allclose(y[0, 2:4], 15.0 * strides.expand(2, -1))
    assert y[0, 0, 0].item() == 4.0 and y[0, 0, -1].item() == 4.5 * 32  # first cell at stride 8, last at stride 32


def test_init_real_bias_priors():
    head = make(Detect, 80, CH)
    head.set_strides((8, 16, 32))
    head.init_real()
    assert torch.all(head.cv2[0][-1].bias == 2.0)
    # formula: log(5 / nc / (640 / stride)^2), the prior for ~5 objects per 640 x 640 image
    assert head.cv3[2][-1].bias[0].item() == pytest.approx(math.log(5 / 80 / (640 / 32) ** 2))


def test_training_mode_returns_raw_maps():
    head = make(Detect, 80, CH).train()
    raw = head(feats())
    assert list(raw["boxes"].shape) == [2, 64, A] and list(raw["scores"].shape) == [2, 80, A]
    v10 = make(v10Detect, 80, CH).train()
    raw = v10(feats())
    assert set(raw) == {"one2many", "one2one"}


# --------------------------------------------------------------------------------------------------- meta


@pytest.mark.parametrize("factory, pre, channels", [
    (Detect, (80,), 84), (Pose, (1, [17, 3]), 56), (OBB, (80, 1), 85), (v10Detect, (80,), 84),
])
def test_meta_forward_before_and_after_set_strides(factory, pre, channels):
    head = make(factory, *pre, CH, device="meta").eval()
    assert head.stride == (8, 16, 32)  # placeholders before the builder hands the real ones over
    with torch.no_grad():
        assert list(head(feats("meta")).shape) == [2, channels, A]
    head.set_strides((4, 8, 16))
    assert head.stride == (4, 8, 16) and isinstance(head.stride, tuple)
    with torch.no_grad():
        y = head(feats("meta"))
    assert y.device.type == "meta" and list(y.shape) == [2, channels, A]
    with pytest.raises(ArchscopeError):
        head.set_strides((8, 16))


def test_meta_segment_and_anchor_detect():
    seg = make(Segment, 80, 32, 64, CH, device="meta").eval()
    seg.set_strides((8, 16, 32))
    with torch.no_grad():
        y, proto = seg(feats("meta"))
    assert list(y.shape) == [2, 116, A] and list(proto.shape) == [2, 32, 32, 40]
    anchors = [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]]
    v5 = make(AnchorDetect, 80, anchors, CH, device="meta").eval()
    v5.set_strides((8, 16, 32))
    with torch.no_grad():
        assert list(v5(feats("meta")).shape) == [2, 3 * A, 85]


# ---------------------------------------------------------------------------------------- through the builder


def write(tmp_path, text, name="m.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


TINY = """\
    nc: 7
    kpt_shape: [4, 3]
    scales:
      n: [0.50, 0.25, 1024]
    backbone:
      - [-1, 1, Conv, [64, 3, 2]]   # 0 /2
      - [-1, 1, Conv, [128, 3, 2]]  # 1 /4
      - [-1, 1, {mid}, [128{mid_args}]]
      - [-1, 1, Conv, [256, 3, 2]]  # 3 /8
      - [-1, 1, Conv, [512, 3, 2]]  # 4 /16
      - [-1, 1, Conv, [1024, 3, 2]] # 5 /32
    head:
      - [[3, 4, 5], 1, {head}, [{head_args}]]
    """


@pytest.mark.parametrize("head, head_args, channels", [
    ("Detect", "nc", 4 + 7), ("Pose", "nc, kpt_shape", 4 + 7 + 12), ("OBB", "nc, 1", 4 + 7 + 1),
    ("v10Detect", "nc", 4 + 7),
])
def test_builder_non_square_shapes_and_strides(tmp_path, head, head_args, channels):
    path = write(tmp_path, TINY.format(mid="Conv", mid_args=", 3", head=head, head_args=head_args))
    built = build_model(load_spec(path), BuildOptions(scale="n", imgsz=(128, 160)))
    assert built.layers[-1].output_shape == [1, channels, A]
    assert built.model.layers[-1].stride == (8, 16, 32)  # handed over by the builder from shapes
    assert built.layers[-1].args[-1] == [64, 128, 256]  # the input channel list is appended as the last argument
    model = materialize(built)
    torch.manual_seed(0)
    with torch.no_grad():
        y = model(torch.randn(1, 3, 128, 160))
    assert list(y.shape) == [1, channels, A] and torch.isfinite(y).all()


def test_builder_segment_scales_npr_and_pads_defaults(tmp_path):
    path = write(tmp_path, TINY.format(mid="Conv", mid_args=", 3", head="Segment", head_args="nc, 32, 256"))
    built = build_model(load_spec(path), BuildOptions(scale="n", imgsz=(128, 160)))
    assert built.layers[-1].args[:3] == [7, 32, 64]  # npr 256 * width 0.25 -> 64
    y, proto = built.layers[-1].output_shape
    assert y == [1, 4 + 7 + 32, A] and proto == [1, 32, 32, 40]
    short = write(tmp_path, TINY.format(mid="Conv", mid_args=", 3", head="Segment", head_args="nc"), "short.yaml")
    built = build_model(load_spec(short), BuildOptions(scale="n", imgsz=(128, 160)))
    assert built.layers[-1].args[:3] == [7, 32, 64]  # missing nm, npr: the defaults 32, 256 (then scaled)


def test_builder_rejects_too_many_head_args(tmp_path):
    path = write(tmp_path, TINY.format(mid="Conv", mid_args=", 3", head="Detect", head_args="nc, 16, 3"))
    with pytest.raises(ArchscopeError, match="Detect"):
        build_model(load_spec(path), BuildOptions(scale="n"))


def test_builder_switches_heads_off_legacy_after_c3k2(tmp_path):
    old = build_model(load_spec(write(tmp_path, TINY.format(mid="Conv", mid_args=", 3", head="Detect",
                                                             head_args="nc"), "a.yaml")), BuildOptions(scale="n"))
    new = build_model(load_spec(write(tmp_path, TINY.format(mid="C3k2", mid_args=", False, 0.25", head="Detect",
                                                             head_args="nc"), "b.yaml")), BuildOptions(scale="n"))
    assert old.model.layers[-1].legacy is True and new.model.layers[-1].legacy is False


def test_builder_classify_does_not_scale_classes(tmp_path):
    text = """\
        nc: 10
        scales:
          n: [0.50, 0.25, 1024]
        backbone:
          - [-1, 1, Conv, [64, 3, 2]]
        head:
          - [-1, 1, Classify, [1000]]
        """
    built = build_model(load_spec(write(tmp_path, text)), BuildOptions(scale="n", imgsz=(96, 64)))
    assert built.layers[-1].args == [16, 1000]  # Ultralytics never width-scales Classify's c2, nc or not
    assert built.layers[-1].output_shape == [1, 1000]


# ------------------------------------------------------------------------------------------- YOLOv5 dialect


def test_yolov5s_v6_fixture_params_and_shapes():
    built = build_model(load_spec(str(FIXTURES / "yolov5s_v6.yaml")), BuildOptions(imgsz=(640, 640)))
    assert built.params == 7_235_389  # published YOLOv5s v6.0 figure (nc 80)
    assert built.layers[-1].params == 229_245  # formula, see test_yolov5_anchor_detect_params
    assert built.layers[-1].output_shape == [1, 25_200, 85]  # 3 anchors x (80^2 + 40^2 + 20^2)
    assert built.model.layers[-1].stride == (8, 16, 32)


def test_yolov5s_v6_fixture_per_layer_matches_the_repository():
    from reference.yolov5_repo import YOLOV5_REPO  # measured with the YOLOv5 repository's own code (see its docstring)

    built = build_model(load_spec(str(FIXTURES / "yolov5s_v6.yaml")), BuildOptions(imgsz=(640, 640)))
    assert [layer.params for layer in built.layers] == YOLOV5_REPO["yolov5s"]["per_layer"]


def test_yolov5s_v6_real_forward_non_square():
    built = build_model(load_spec(str(FIXTURES / "yolov5s_v6.yaml")), BuildOptions(imgsz=(128, 160)))
    model = materialize(built)
    head = model.layers[-1]
    assert head.anchors[2, 2].tolist() == [373.0, 326.0]  # init_real restored the pixel anchors
    torch.manual_seed(0)
    with torch.no_grad():
        y = model(torch.randn(1, 3, 128, 160))
    assert list(y.shape) == [1, 3 * A, 85] and torch.isfinite(y).all()
    # First anchor of the first cell: xy = (2 * sigmoid - 0.5) * 8 lies in (-4, 12) pixels.
    assert -4 < y[0, 0, 0].item() < 12


def test_yolov5_anchor_count_form(tmp_path):
    text = (FIXTURES / "yolov5s_v6.yaml").read_text().replace(
        "anchors:\n  - [10,13, 16,30, 33,23]  # P3/8\n  - [30,61, 62,45, 59,119]  # P4/16\n"
        "  - [116,90, 156,198, 373,326]  # P5/32\n", "anchors: 3\n")
    assert "anchors: 3" in text
    path = tmp_path / "v5count.yaml"
    path.write_text(text)
    built = build_model(load_spec(str(path)), BuildOptions(imgsz=(640, 640)))
    assert built.params == 7_235_389  # an anchor count gives the same layers as explicit anchors

"""The seed blocks (Mobile MQA / MHSA, UIB, iRMB, EfficientFormer attention) against hand-derived parameter and
FLOP counts, on non-square maps, and against torch's FlopCounterMode on real tensors; and the attention trio.

Every expected number below is derived in the comment beside it from the block's published definition.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

import archscope
from archscope.analysis.analyze import analyze
from archscope.blocks.mobilenetv4 import make_divisible_tf
from archscope.build.builder import BuildOptions, build_model
from archscope.build.materialize import materialize
from archscope.cli.app import app
from archscope.errors import ArchscopeError
from archscope.spec.model_spec import load_spec

SAMPLES = Path(__file__).resolve().parents[1] / "sample_configs"


def _one_block(tmp_path, line: str, ch: int, imgsz, batch: int = 1):
    path = tmp_path / "block.yaml"
    path.write_text(textwrap.dedent(f"""\
        nc: 1
        ch: {ch}
        backbone:
          - {line}
        head: []
        """))
    return build_model(load_spec(path), BuildOptions(imgsz=imgsz, batch=batch))


def _params(built) -> int:
    return sum(p.numel() for p in built.model.layers[0].parameters())


def _fcm_matches(built) -> None:
    """FlopCounterMode on a real forward counts exactly archscope's mac_flops (total)."""
    ours = analyze(built).totals.mac_flops
    model = materialize(built)
    x = torch.rand(built.batch, built.ch, *built.imgsz, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), FlopCounterMode(display=False) as fcm:
        out = model.run(x)
    assert fcm.get_total_flops() == ours
    return out


# ------------------------------------------------------------------------------------ Mobile MQA and MHSA

# c = 64, 4 heads, key_dim 16, value_dim 24, query strides (2, 1), kv_strides 2
MQA = "[-1, 1, MultiQueryAttentionLayerWithDownSampling, [4, 16, 24, 2, 1, 2]]"
MHSA = "[-1, 1, MultiHeadAttentionLayerWithDownSampling, [4, 16, 24, 2, 1, 2]]"


def test_mqa_params_by_hand(tmp_path):
    # q proj 64*64 = 4096; K and V depthwise 3x3 + BN: 2 * (576 + 128); k proj 64*16 = 1024; v proj 64*24 = 1536;
    # out proj 96*64 = 6144; query BN 128
    assert _params(_one_block(tmp_path, MQA, 64, (10, 14))) == 4096 + 2 * 704 + 1024 + 1536 + 6144 + 128 == 14336


def test_mhsa_differs_only_in_per_head_keys_and_values(tmp_path):
    # k proj 64*(4*16) = 4096, v proj 64*(4*24) = 6144: 4x the MQA projections (the head count)
    assert _params(_one_block(tmp_path, MHSA, 64, (10, 14))) == 4096 + 2 * 704 + 4096 + 6144 + 6144 + 128 == 22016


@pytest.mark.parametrize("line", [MQA, MHSA])
def test_downsampled_attention_flops_on_a_non_square_map(tmp_path, line):
    built = _one_block(tmp_path, line, 64, (10, 14))
    assert tuple(built.layers[0].output_shape) == (1, 64, 10, 14)  # upsampled back to the input size
    # queries: avg-pool (2, 1) -> 5 x 14 = 70 tokens; keys/values: stride-2 3x3 conv -> 5 x 7 = 35 tokens
    costs = analyze(built).layers[0]
    assert costs.totals.attention_flops == 2 * 4 * 70 * 35 * (16 + 24) == 784_000
    assert costs.score_shape[-1] == 35


@pytest.mark.parametrize("line", [MQA, MHSA,
                                  "[-1, 1, MultiQueryAttentionLayerWithDownSampling, [2, 8, 8, 3, 2, 3, 5]]"])
def test_downsampled_attention_matches_flopcountermode_on_odd_sizes(tmp_path, line):
    built = _one_block(tmp_path, line, 32, (11, 7), batch=2)
    out = _fcm_matches(built)
    assert tuple(out.shape) == (2, 32, 11, 7)


def test_mqa_reads_keys_once_for_all_heads(tmp_path):
    """Shared K/V: the score product reads one key tensor, not one per head (the bytes MQA saves)."""
    mqa = analyze(_one_block(tmp_path, "[-1, 1, MultiQueryAttentionLayerWithDownSampling, [4, 16, 16]]", 64,
                             (8, 8))).layers[0].totals
    mhsa = analyze(_one_block(tmp_path, "[-1, 1, MultiHeadAttentionLayerWithDownSampling, [4, 16, 16]]", 64,
                              (8, 8))).layers[0].totals
    assert mqa.attention_flops == mhsa.attention_flops == 2 * 4 * 64 * 64 * 32
    # fused view (elements x 4 bytes): MHSA reads q, k, v (4 heads x 64 x 16 each) and writes out (4 x 64 x 16);
    # MQA reads the same q and out but k and v only once (64 x 16)
    assert mhsa.attention_bytes_fused == 4 * 4 * (4 * 64 * 16)
    assert mqa.attention_bytes_fused == 4 * (2 * 4 * 64 * 16 + 2 * 64 * 16)


def test_attention_arguments_are_checked(tmp_path):
    with pytest.raises(ArchscopeError, match="num_heads must be a positive integer"):
        _one_block(tmp_path, "[-1, 1, MobileMQA, [0, 16, 16]]", 64, (8, 8))


# ------------------------------------------------------------------------------------------------- UIB


def test_make_divisible_follows_the_tensorflow_rule():
    assert make_divisible_tf(16) == 16
    assert make_divisible_tf(108) == 112  # nearest multiple of 8
    assert make_divisible_tf(10) == 16  # 8 would be more than 10% below 10


# c1 16 -> c2 24, expand 4 (64 wide): start dw 3x3 16*9 + BN 32 = 176; expand 16*64 + 128 = 1152;
# middle dw 5x5 64*25 + 128 = 1728; projection 64*24 + 48 = 1584
@pytest.mark.parametrize("start,middle,params", [
    (3, 5, 176 + 1152 + 1728 + 1584),  # ExtraDW
    (0, 5, 1152 + 1728 + 1584),  # inverted bottleneck
    (3, 0, 176 + 1152 + 1584),  # ConvNext-like
    (0, 0, 1152 + 1584),  # FFN
])
def test_uib_variants_params(tmp_path, start, middle, params):
    built = _one_block(tmp_path, f"[-1, 1, UIB, [24, {start}, {middle}, True, 1, 4]]", 16, (15, 22))
    assert _params(built) == params
    assert tuple(built.layers[0].output_shape) == (1, 24, 15, 22)


@pytest.mark.parametrize("middle_downsample,macs", [
    # 16 x 22 = 352 positions in, 8 x 11 = 88 out. Stride on the middle conv: start dw and expansion at full size
    (True, 352 * 16 * 9 + 352 * 16 * 64 + 88 * 64 * 25 + 88 * 64 * 24),
    # stride on the start conv: everything after it at 88 positions
    (False, 88 * 16 * 9 + 88 * 16 * 64 + 88 * 64 * 25 + 88 * 64 * 24),
])
def test_uib_stride_placement(tmp_path, middle_downsample, macs):
    built = _one_block(tmp_path, f"[-1, 1, UIB, [24, 3, 5, {middle_downsample}, 2, 4]]", 16, (16, 22))
    assert tuple(built.layers[0].output_shape) == (1, 24, 8, 11)
    assert analyze(built).layers[0].totals.mac_flops == 2 * macs


def test_uib_residual_and_flopcountermode(tmp_path):
    built = _one_block(tmp_path, "[-1, 1, UIB, [16, 3, 3, True, 1, 2, True]]", 16, (9, 13))
    assert built.model.layers[0].residual
    _fcm_matches(built)


def test_uib_ffn_cannot_downsample(tmp_path):
    with pytest.raises(ArchscopeError, match="FFN variant"):
        _one_block(tmp_path, "[-1, 1, UIB, [16, 0, 0, True, 2]]", 16, (8, 8))


# ------------------------------------------------------------------------------------------------ iRMB


def test_irmb_params_by_hand(tmp_path):
    # BN 128; qk 64*128 = 8192; v 64*64 = 4096; depthwise 3x3 576 + BN 128; projection 64*64 = 4096
    assert _params(_one_block(tmp_path, "[-1, 1, iRMB, [64]]", 64, (14, 14))) == 17216


@pytest.mark.parametrize("hw,windows", [((14, 14), 4), ((13, 9), 4)])
def test_irmb_window_attention_flops(tmp_path, hw, windows):
    # 64 channels, dim_head 8: 8 heads; window 7 x 7 = 49 tokens; (13, 9) pads to (14, 14): still 2 x 2 windows
    built = _one_block(tmp_path, "[-1, 1, iRMB, [64]]", 64, hw)
    assert tuple(built.layers[0].output_shape) == (1, 64, *hw)
    per_window = 2 * 8 * 49 * 49 * 8 * 2  # QK^T and PV, each 2 * heads * 49 * 49 * 8
    assert analyze(built).layers[0].totals.attention_flops == windows * per_window


def test_irmb_matches_a_direct_strided_window_reference(tmp_path):
    """The reference's windows gather every n-th row/column; recompute the block position by position."""
    built = _one_block(tmp_path, "[-1, 1, iRMB, [16, True, True, 1.0, 'bn_2d', 'relu', True, 3, 1, 1, 0.0, 8, 3]]",
                       16, (5, 4))
    block = materialize(built).layers[0].eval()
    x = torch.randn(1, 16, 5, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = block(x)
        xn = torch.nn.functional.pad(block.norm(x), (0, 2, 0, 1))  # 5 x 4 -> 6 x 6: window 3, n1 = n2 = 2
        qk, v = block.qk(xn), block.v(xn)
        attended = torch.zeros_like(v)
        for i in range(2):
            for j in range(2):
                rows, cols = torch.arange(i, 6, 2), torch.arange(j, 6, 2)  # every 2nd row/column from (i, j)
                pick = lambda t: t[0][:, rows][:, :, cols].reshape(t.shape[1], 9)  # noqa: E731  [C, 9 tokens]
                q, k, vv = pick(qk)[:16].view(2, 8, 9), pick(qk)[16:].view(2, 8, 9), pick(v).view(2, 8, 9)
                attn = (q.transpose(1, 2) @ k * 8 ** -0.5).softmax(-1)  # [heads, 9, 9]
                out = (attn @ vv.transpose(1, 2)).transpose(1, 2).reshape(16, 3, 3)
                attended[0][:, rows[:, None], cols[None, :]] = out
        y = attended[:, :, :5, :4]
        y = y + block.conv_local(y)
        expected = x + block.proj(y)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_irmb_flopcountermode_with_se_and_expansion(tmp_path):
    built = _one_block(tmp_path, "[-1, 1, iRMB, [32, True, True, 2.0, 'bn_2d', 'silu', True, 5, 1, 1, 0.25, 16, 4]]",
                       32, (9, 6))
    _fcm_matches(built)


# ------------------------------------------------------------------------------------ EfficientFormer attention

EFF = "[-1, 1, EfficientFormerAttention, [16, 4, 2, [5, 7]]]"  # key_dim 16, 4 heads, attn_ratio 2, grid 5 x 7


def test_efficientformer_params_and_flops_by_hand(tmp_path):
    built = _one_block(tmp_path, EFF, 64, (5, 7))
    # qkv Linear(64, 4 * (16 + 16 + 32)) with bias: 64*256 + 256; proj Linear(128, 64): 128*64 + 64;
    # bias table: 4 heads x 35 offsets (|dy| in 0..4, |dx| in 0..6)
    assert _params(built) == 16640 + 8256 + 140
    assert analyze(built).layers[0].totals.attention_flops == 2 * 4 * 35 * 35 * (16 + 32)
    _fcm_matches(built)


def test_efficientformer_grid_mismatch_is_a_located_error(tmp_path):
    path = tmp_path / "eff.yaml"
    path.write_text(f"nc: 1\nch: 64\nbackbone:\n  - {EFF}\nhead: []\n")
    result = CliRunner().invoke(app, ["profile", str(path), "--imgsz", "6x7"])
    assert result.exit_code == 2
    line = result.output.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "eff.yaml:4" in line and "layer 0" in line
    assert "feature map 6x7 does not match its attention-bias grid 5x7" in line


# ------------------------------------------------------------------------------------ the attention trio


@pytest.fixture(scope="module")
def trio():
    return {name: archscope.profile(SAMPLES / f"yolov8n-{name}.yaml", depth=1) for name in ("mhsa", "mqa", "mqa-kv2")}


def _sub(layer, path):
    return next(s for s in layer.submodules if s.path == path)


def test_trio_configs_differ_in_one_layer_only(trio):
    rows = {name: [(l.module, l.args) for l in r.layers] for name, r in trio.items()}
    diff = [i for i, (a, b, c) in enumerate(zip(*rows.values())) if not a == b == c]
    assert diff == [7]


def test_trio_mqa_divides_kv_projections_by_the_head_count(trio):
    mhsa, mqa = trio["mhsa"].layers[7], trio["mqa"].layers[7]
    for proj in ("key_proj", "value_proj"):  # 128 channels -> 4 x 64 (MHSA) or 64 (MQA)
        assert _sub(mhsa, proj).params == 128 * 4 * 64 == 4 * _sub(mqa, proj).params
        assert _sub(mhsa, proj).mac_flops == 4 * _sub(mqa, proj).mac_flops == 4 * 2 * 1600 * 128 * 64


def test_trio_kv_stride_2_cuts_attention_flops_and_bytes_about_4x(trio):
    mqa, kv2 = trio["mqa"].layers[7], trio["mqa-kv2"].layers[7]
    # 40 x 40 = 1,600 queries; keys 1,600 or (stride 2) 400; 4 heads, key and value 64 wide
    assert mqa.attention_flops == 2 * 4 * 1600 * 1600 * 128
    assert kv2.attention_flops == 2 * 4 * 1600 * 400 * 128
    assert 3.5 < mqa.attention_bytes / kv2.attention_bytes < 4.0  # the queries do not shrink
    assert kv2.score_shape == [1, 4 * 1600, 400]


def test_trio_shared_kv_raises_the_attention_intensity(trio):
    mhsa, mqa = trio["mhsa"].layers[7], trio["mqa"].layers[7]
    # fused view: q, k, v, out of 4 x 1600 x 64 fp32 each for MHSA (6.55 MB); MQA's k and v are 1600 x 64
    assert mhsa.attention_bytes_fused == 4 * 4 * (4 * 1600 * 64)
    assert mqa.attention_bytes_fused == 4 * (2 * 4 * 1600 * 64 + 2 * 1600 * 64)
    assert mqa.attention_flops / mqa.attention_bytes_fused == pytest.approx(640.0)
    assert mhsa.attention_flops / mhsa.attention_bytes_fused == pytest.approx(400.0)
    # with the score matrices in memory too, sharing still lowers the traffic for the same FLOPs
    assert mqa.attention_flops / mqa.attention_bytes > mhsa.attention_flops / mhsa.attention_bytes


def test_trio_runs_for_real_on_a_non_square_image():
    built = build_model(load_spec(SAMPLES / "yolov8n-mqa-kv2.yaml"), BuildOptions(imgsz=(96, 160)))
    model = materialize(built)
    with torch.no_grad():
        outputs = []
        model.run(torch.rand(1, 3, 96, 160), on_layer=lambda i, out: outputs.append((i, tuple(out.shape)))
                  if torch.is_tensor(out) else None)
    assert dict(outputs)[7] == tuple(built.layers[7].output_shape) == (1, 128, 6, 10)


def test_seed_samples_profile_at_non_square_sizes():
    for name in ("yolov10m-C2f_MQA", "yolov5n-C3_UIB", "yolov8n-iRMB", "yolov8n-mqa-kv2"):
        report = archscope.profile(SAMPLES / f"{name}.yaml", imgsz="384x640")
        assert report.layers[0].output_shape[2:] == [192, 320], name

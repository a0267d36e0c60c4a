"""The seed documents' models, reproduced number for number, and what archscope adds to them.

References (literal numbers below):
* seed 000_83c903e02d795824.txt, section 7: the Ultralytics model summary of YOLOv10m-C2f_MQA (nc 1): per-layer
  ``from, n, params, module, arguments`` and "657 layers, 18335782 parameters, 18335766 gradients, 77.8 GFLOPs"
  (Ultralytics 8.2-era: "layers" = every module, GFLOPs = thop 0.1.1 module hooks).
* hand-derived attention FLOPs: Mobile MQA with h heads, key/value width d, N query and M key tokens does
  ``2 * h * N * M * (d_k + d_v)`` FLOPs in QK^T and PV.
* seed 002: the YOLOv5-dialect C3_UIB model; its parameter count is derived here by hand, block by block.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import archscope
from archscope.build.builder import BuildOptions, build_model
from archscope.cli.app import app
from archscope.spec.model_spec import load_spec

SAMPLES = Path(__file__).resolve().parents[1] / "sample_configs"
SEED_MQA = SAMPLES / "yolov10m-C2f_MQA.yaml"
SEED_UIB = SAMPLES / "yolov5n-C3_UIB.yaml"
runner = CliRunner()

# seed 000, section 7: (from, n, params, module, arguments) per layer, as printed
SEED_000_TABLE = [
    (-1, 1, 1392, "Conv", [3, 48, 3, 2]),
    (-1, 1, 41664, "Conv", [48, 96, 3, 2]),
    (-1, 2, 185472, "C2f_MQA", [96, 96, True]),
    (-1, 1, 166272, "Conv", [96, 192, 3, 2]),
    (-1, 4, 1257984, "C2f_MQA", [192, 192, True]),
    (-1, 1, 78720, "SCDown", [192, 384, 3, 2]),
    (-1, 4, 4580352, "C2f_MQA", [384, 384, True]),
    (-1, 1, 228672, "SCDown", [384, 576, 3, 2]),
    (-1, 2, 1689984, "C2fCIB", [576, 576, 2, True]),
    (-1, 1, 831168, "SPPF", [576, 576, 5]),
    (-1, 1, 1253088, "PSA", [576, 576]),
    (-1, 1, 0, "nn.Upsample", [None, 2, "nearest"]),
    ([-1, 6], 1, 0, "Concat", [1]),
    (-1, 2, 1993728, "C2f", [960, 384, 2]),
    (-1, 1, 0, "nn.Upsample", [None, 2, "nearest"]),
    ([-1, 4], 1, 0, "Concat", [1]),
    (-1, 2, 517632, "C2f", [576, 192, 2]),
    (-1, 1, 332160, "Conv", [192, 192, 3, 2]),
    ([-1, 13], 1, 0, "Concat", [1]),
    (-1, 2, 831744, "C2fCIB", [576, 384, 2, True]),
    (-1, 1, 152448, "SCDown", [384, 384, 3, 2]),
    ([-1, 10], 1, 0, "Concat", [1]),
    (-1, 2, 1911168, "C2fCIB", [960, 576, 2, True]),
    ([16, 19, 22], 1, 2282134, "v10Detect", [1, [192, 384, 576]]),
]
SEED_000_PARAMS = 18335782
SEED_000_LAYERS = 657  # Ultralytics 8.2 printed len(list(model.modules()))
SEED_000_GFLOPS = 77.8


@pytest.fixture(scope="module")
def seed_mqa_report():
    return archscope.profile(SEED_MQA)


def test_seed_000_table_is_reproduced_number_for_number(seed_mqa_report):
    rows = [(layer.from_, layer.n, layer.params, layer.module, layer.args) for layer in seed_mqa_report.layers]
    assert rows == SEED_000_TABLE
    assert seed_mqa_report.totals.params == SEED_000_PARAMS
    assert round(seed_mqa_report.totals.gflops_legacy, 1) == SEED_000_GFLOPS


def test_seed_000_module_count_matches_the_printed_layers():
    built = build_model(load_spec(SEED_MQA), BuildOptions())
    assert len(list(built.model.modules())) == SEED_000_LAYERS


def _mqa_flops(copies: int, tokens: int, heads: int = 2, d: int = 48) -> int:
    return copies * 2 * heads * tokens * tokens * (d + d)


def test_seed_000_attention_flops_by_hand_and_the_gap_to_the_hook_count(seed_mqa_report):
    layers = seed_mqa_report.layers
    # C2f_MQA: n copies, each with one Mobile MQA (2 heads, key/value 48, no downsampling) over every position
    assert layers[2].attention_flops == _mqa_flops(2, 160 * 160) == 503_316_480_000
    assert layers[4].attention_flops == _mqa_flops(4, 80 * 80)
    assert layers[6].attention_flops == _mqa_flops(4, 40 * 40)
    # PSA at m scale: 288 attended channels, 4 heads of width 72, keys 36 wide, 20 x 20 tokens
    assert layers[10].attention_flops == 2 * 4 * 400 * 400 * (36 + 72)
    t = seed_mqa_report.totals
    assert t.attention_flops == 570_301_440_000
    # the hook-based count plus the attention matmuls it cannot see is what Ultralytics 8.4 (which sees functional
    # matmuls) prints; the two conventions differ otherwise only in how nn.Upsample is charged (6.8 MFLOPs here)
    assert t.gflops_legacy + t.attention_flops / 1e9 == pytest.approx(t.gflops_ultralytics, abs=0.01)


def test_seed_000_stride_4_attention_is_flagged(seed_mqa_report):
    findings = seed_mqa_report.findings
    assert [(f.kind, f.layer) for f in findings] == [("quadratic-attention", 2), ("quadratic-attention", 4)]
    layer2 = seed_mqa_report.layers[2]
    # one score matrix: 2 heads x 25,600 queries x 25,600 keys, fp32
    assert layer2.score_bytes == 2 * 25_600 * 25_600 * 4 == 5_242_880_000
    assert "25,600 tokens (160x160)" in findings[0].message and "5.24 GB" in findings[0].message
    assert "kv_strides" in findings[0].message
    assert f"{layer2.flops / seed_mqa_report.totals.flops:.0%}" in findings[0].message


def test_seed_000_cli_shows_both_counts_and_the_warning():
    result = runner.invoke(app, ["profile", str(SEED_MQA)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "hook-based 77.8" in text
    assert "(QK^T, PV): 570.3; with them 648.1" in text
    assert "warning: layer 2 (C2f_MQA) at stride 4: 25,600 tokens" in text


def test_findings_reach_stderr_for_data_formats(tmp_path):
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["profile", str(SEED_MQA), "-o", str(out)])
    assert result.exit_code == 0
    assert "archscope: warning: layer 2 (C2f_MQA)" in result.output
    data = archscope.ModelReport.from_dict(__import__("json").loads(out.read_text()))
    assert [f.layer for f in data.findings] == [2, 4]


def test_no_findings_for_deep_stage_attention():
    # MQA at stride 16 of a 640 image: 1,600 tokens, 41 MB score matrices: below the 128 MiB line
    assert archscope.profile(SAMPLES / "yolov8n-mqa.yaml").findings == []


# ------------------------------------------------------------------------------------------------ seed 002


def _conv(c1: int, c2: int, k: int = 1) -> int:  # Conv2d without bias + BatchNorm (weight, bias)
    return c1 * c2 * k * k + 2 * c2


def _uib_default(c: int) -> int:
    # start 3x3 depthwise + BN, 1x1 expand (ratio 1) + BN, middle 3x3 depthwise + BN, 1x1 projection + BN
    return 2 * (9 * c + 2 * c) + 2 * (c * c + 2 * c)


def _c3_uib(c1: int, c2: int, n: int) -> int:
    c_ = c2 // 2
    return 2 * _conv(c1, c_) + _conv(2 * c_, c2) + n * _uib_default(c_)


def test_seed_002_c3_uib_model_params_by_hand():
    report = archscope.profile(SEED_UIB, analyse=False)
    assert report.model.dialect == "yolov5"
    uib_rows = [layer for layer in report.layers if layer.module == "C3_UIB"]
    assert [layer.index for layer in uib_rows] == [2, 4, 6, 8, 13, 17, 20, 23]
    for layer in uib_rows:
        c1, c2, n = layer.args[:3]
        assert layer.params == _c3_uib(c1, c2, n), layer.index
    assert uib_rows[0].params == 3104  # C3_UIB(32, 32, 1): 544 + 544 + 1088 + UIB(16) 928
    # every other row is plain YOLOv5n (v6.0), whose published per-layer summary gives these counts
    yolov5n_rows = {0: 1760, 1: 4672, 3: 18560, 5: 73984, 7: 295424, 9: 164608, 10: 33024, 14: 8320, 18: 36992,
                    21: 147712, 24: 115005}
    for index, params in yolov5n_rows.items():
        assert report.layers[index].params == params, index
    assert report.totals.params == sum(layer.params for layer in report.layers) == 1_434_685


def test_small_attention_gets_enough_digits_to_add_up():
    # tiny-detector's C2PSA at 20 x 20: 0.06 GFLOPs of attention; at one decimal the line would read 6.5 + 0.1 = 6.5
    result = runner.invoke(app, ["profile", str(SAMPLES / "tiny-detector.yaml")])
    text = " ".join(result.output.split())
    assert "hook-based 6.46" in text and "(QK^T, PV): 0.06; with them 6.52, the Ultralytics 8.4 figure above" in text
    # one convention, one rounding, said once: the summary's Ultralytics figure has the attention line's digits
    assert "GFLOPs (Ultralytics 8.4: 6.52)" in text

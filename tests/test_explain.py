"""``archscope explain``: one layer op by op, and the roofline's two ways of running attention (eager / fused).

Every expected figure is derived by hand in the comments, from the block's published definition (MobileNetV4,
arXiv:2404.10518, section 3.3, as archscope/blocks/mobilenetv4.py writes it: 1x1 projections without bias,
``softmax((q * d^-0.5) @ k) @ v``), never read back from archscope's output.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archscope.analysis.breakdown import group_path, op_role
from archscope.analysis.records import OpRecord
from archscope.api import compare, explain, profile
from archscope.cli.app import app
from archscope.devices.presets import ATTENTION_DEFAULTS, PRESETS, get_preset
from archscope.devices.roofline import roofline
from archscope.devices.spec import DeviceSpec, load_device_file
from archscope.errors import ArchscopeError

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_configs"
TRIO = {name: str(SAMPLES / f"yolov8n-{name}.yaml") for name in ("mhsa", "mqa", "mqa-kv2")}
runner = CliRunner()

# ------------------------------------------------------------------------------------------------ a small block
# 32x32 input -> Conv(64, 3, 2) -> 64 channels on a 16x16 map (N = 256 tokens) -> attention with 4 heads of d = 16.
SMALL = """nc: 1
backbone:
  - [-1, 1, Conv, [64, 3, 2]] # 0: 32x32 -> 16x16
  - [-1, 1, {block}, [4, 16, 16, 1, 1, 1]] # 1: 4 heads, key_dim = value_dim = 16
head: []
"""
C, N, H, D, BPE = 64, 256, 4, 16, 4  # channels, tokens, heads, head dim, fp32 bytes

# QK^T = 2 * heads * N * N * d multiply-add FLOPs, whether the heads have their own K (MHSA) or share one (MQA)
QK_FLOPS = 2 * H * N * N * D  # 8,388,608
SCORES = H * N * N * BPE  # the score matrices: 4 x 256 x 256 fp32 = 1,048,576 bytes
Q_BYTES = H * N * D * BPE  # 65,536: all heads' queries (and the attention output, same size)
KV_MHSA = H * N * D * BPE  # 65,536: K (or V) with one head per query head
KV_MQA = N * D * BPE  # 16,384: K (or V) with one shared head
# 1x1 projection C -> Cout on N tokens: 2 * N * C * Cout FLOPs; reads N*C + C*Cout, writes N*Cout elements
PROJ_Q_FLOPS = 2 * N * C * H * D  # 2,097,152
PROJ_Q_BYTES = (N * C + C * H * D + N * H * D) * BPE  # 147,456
PROJ_KV_MQA_BYTES = (N * C + C * D + N * D) * BPE  # 86,016
SOFTMAX_FLOPS = 5 * H * N * N  # archscope's softmax cost: 5 FLOPs per score (max, sub, exp, sum, div)


def _small(tmp_path, block: str) -> str:
    path = tmp_path / f"{block}.yaml"
    path.write_text(SMALL.format(block=block))
    return str(path)


def _groups(b):
    return {g.role: g for g in b.groups}


@pytest.mark.parametrize("attention", ["eager", "fused"])
def test_small_mhsa_groups_by_hand(tmp_path, attention):
    b = explain(_small(tmp_path, "MultiHeadAttentionLayerWithDownSampling"), 1, imgsz=32, attention=attention)
    g = _groups(b)
    assert b.attention == attention
    assert [g[r].path for r in ("q_proj", "k_proj", "v_proj", "out_proj")] == [
        "query_proj", "key_proj", "value_proj", "output_proj"]
    for role in ("q_proj", "k_proj", "v_proj"):
        assert (g[role].flops, g[role].bytes) == (PROJ_Q_FLOPS, PROJ_Q_BYTES)
    assert g["qk"].flops == QK_FLOPS and g["pv"].flops == QK_FLOPS
    assert g["softmax"].flops == SOFTMAX_FLOPS
    if attention == "eager":  # QK^T reads Q and K and writes the scores; softmax reads and writes them; PV reads them
        assert g["qk"].bytes == Q_BYTES + KV_MHSA + SCORES
        assert g["softmax"].bytes == 2 * SCORES
        assert g["pv"].bytes == SCORES + KV_MHSA + Q_BYTES
    else:  # fused: only Q, K, V and the output move
        assert g["qk"].bytes == Q_BYTES + KV_MHSA
        assert g["softmax"].bytes == 0
        assert g["pv"].bytes == KV_MHSA + Q_BYTES
    assert g["qk"].score_bytes + g["softmax"].score_bytes + g["pv"].score_bytes == 4 * SCORES
    f = b.facts
    assert f is not None
    assert (f.heads, f.kv_heads, f.queries, f.keys) == (H, H, N, N)
    assert f.score_bytes == 4 * SCORES
    assert f.kv_bytes == 2 * KV_MHSA  # K and V as their projections write them


def test_small_mqa_divides_kv_by_the_head_count(tmp_path):
    b = explain(_small(tmp_path, "MultiQueryAttentionLayerWithDownSampling"), 1, imgsz=32, attention="eager")
    g = _groups(b)
    assert (g["k_proj"].flops, g["k_proj"].bytes) == (2 * N * C * D, PROJ_KV_MQA_BYTES)  # 524,288 / 86,016
    assert g["qk"].flops == QK_FLOPS  # the same scores: 4 query heads x 256 x 256
    assert g["qk"].bytes == Q_BYTES + KV_MQA + SCORES
    f = b.facts
    assert (f.heads, f.kv_heads, f.queries, f.keys) == (H, 1, N, N)
    assert (f.kv_bytes, f.kv_bytes_mhsa) == (2 * KV_MQA, 2 * KV_MHSA)  # 32,768 vs 131,072: divided by 4
    text = " ".join(b.findings)
    assert "MQA: 4 query heads share 1 K/V head" in text
    assert "0.0328 MB instead of MHSA's 0.131 MB" in text
    assert "The scores outweigh the K/V traffic" in text  # eager on cpu: score traffic is 4.19 MB of 5.2


def test_kv_downsampling_estimate_matches_the_downsampled_model(tmp_path):
    """'What K/V downsampling would save' scales scores and K/V by 4: against the real kv_strides=2 model, the
    attention core (QK^T, softmax, PV, projections) agrees; only the depthwise downsampling conv it adds is left out."""
    mqa = explain(_small(tmp_path, "MultiQueryAttentionLayerWithDownSampling"), 1, imgsz=32, attention="eager")
    path = tmp_path / "kv2.yaml"
    path.write_text(SMALL.format(block="MultiQueryAttentionLayerWithDownSampling").replace(
        "[4, 16, 16, 1, 1, 1]", "[4, 16, 16, 1, 1, 2]"))
    kv2 = explain(str(path), 1, imgsz=32, attention="eager")
    assert kv2.facts.keys == N // 4 and kv2.facts.kv_stride == 2
    down = sum(g.predicted_ms for g in kv2.groups if g.role.endswith("_down"))
    assert mqa.facts.kv2_ms == pytest.approx(kv2.predicted_ms - down, rel=0.02)


def test_roles_and_group_paths():
    assert group_path("query_proj.0") == "query_proj"
    assert group_path("m.0.cv1.conv") == "m.0.cv1"
    assert group_path("key_dw.1") == "key_dw"
    assert op_role(OpRecord("convolution", 1, "key_dw.0", 10, 0, 10, 10)) == "k_down"
    assert op_role(OpRecord("convolution", 1, "m.0.attn.qkv.conv", 10, 0, 10, 10)) == "qkv_proj"
    assert op_role(OpRecord("clone", 1, "", 0, 0, 10, 10)) == "copy"
    assert op_role(OpRecord("_softmax", 1, "", 0, 5, 10, 10)) == "softmax"


def test_a_layer_without_attention_has_no_finding_and_both_modes_agree():
    eager = explain(str(SAMPLES / "tiny-detector.yaml"), 1, attention="eager")
    fused = explain(str(SAMPLES / "tiny-detector.yaml"), 1, attention="fused")
    assert eager.facts is None and not eager.findings
    assert eager.predicted_ms == fused.predicted_ms and eager.bytes == fused.bytes
    assert eager.flops == sum(g.flops for g in eager.groups)


# ------------------------------------------------------------------------------------------- the MobileNetV4 figure
# pixel8-edgetpu: the MobileNetV4 ridge point 433.8 MACs/byte = 867.6 FLOP/byte at a nominal 1 GB/s, int8 (1 byte):
# an op takes max(FLOPs / 867.6e9, bytes / 1e9) s. Layer 7 of the trio: 128 channels, 4 heads of 64.
RIDGE = 867.6


def _op_ms(flops: float, nbytes: float) -> float:
    return max(flops / RIDGE, nbytes) / 1e6  # ms: bytes / 1e9 B/s, FLOPs / 867.6e9 FLOP/s


def _trio_layer7_fused_by_hand(n: int) -> tuple[float, float]:
    """(MHSA, MQA) layer-7 time with fused attention, n tokens, by hand: the 1x1 projections move input + weight +
    output; QK^T and PV move only Q, K, V and the output (the score matrices stay on chip, and the q layout copy,
    the q x d^-0.5 scaling and the output re-layout are what a flash kernel does while reading and writing);
    softmax and the scaling keep only their FLOPs (5 per score; 1 per query element)."""
    c, heads, d = 128, 4, 64
    proj_q = _op_ms(2 * n * c * heads * d, n * c + c * heads * d + n * heads * d)  # 128 -> 256
    proj_out = _op_ms(2 * n * heads * d * c, n * heads * d + heads * d * c + n * c)  # 256 -> 128
    proj_kv_mqa = _op_ms(2 * n * c * d, n * c + c * d + n * d)  # 128 -> 64
    scores = 2 * heads * n * n * d  # QK^T (and PV) FLOPs
    rest = _op_ms(5 * heads * n * n, 0) + _op_ms(n * heads * d, 0)  # softmax, q scaling
    # int8 deployment (analysis.precision): PV, a product of two activations, writes fp16 (2 bytes per element)
    pv_out = 2 * n * heads * d
    mhsa = 3 * proj_q + proj_out + _op_ms(scores, 2 * n * heads * d) + _op_ms(scores, n * heads * d + pv_out) + rest
    mqa = (proj_q + 2 * proj_kv_mqa + proj_out + _op_ms(scores, n * heads * d + n * d)
           + _op_ms(scores, n * d + pv_out) + rest)
    return mhsa, mqa


# 256x256 -> 16x16 = 256 tokens at stride 16; 640 -> 40x40 = 1,600. By hand (the function above, in numbers):
#   256: MHSA 6 x 0.131072 + 0.065536 (PV's fp16 output) + 0.00159 = 0.85355, MQA 0.60779 -> MQA/MHSA 0.7121 (-29%):
#        every op memory-bound
#   640: MHSA 5.66964, MQA 5.00609 -> 0.8830 (-12%): QK^T and PV are compute-bound (1,310,720,000 FLOPs each)
HAND_RATIO = {256: 0.60779428 / 0.85355428, 640: 5.00609003 / 5.66964203}
PAPER_RATIO = 1 - 0.39  # MobileNetV4 (arXiv:2404.10518), section 3.3: Mobile MQA is 39% faster than MHSA on EdgeTPU


@pytest.mark.parametrize("imgsz", [256, 640])
def test_trio_mqa_over_mhsa_on_edgetpu_fused(imgsz):
    tokens = (imgsz // 16) ** 2
    mhsa_hand, mqa_hand = _trio_layer7_fused_by_hand(tokens)
    assert mqa_hand / mhsa_hand == pytest.approx(HAND_RATIO[imgsz], rel=1e-6)
    got = {name: explain(TRIO[name], 7, imgsz=imgsz, dtype="int8", device_spec="pixel8-edgetpu")
           for name in ("mhsa", "mqa")}
    assert got["mhsa"].attention == "fused"  # the preset's default
    assert got["mhsa"].predicted_ms == pytest.approx(mhsa_hand, rel=1e-6)
    assert got["mqa"].predicted_ms == pytest.approx(mqa_hand, rel=1e-6)
    ratio = got["mqa"].predicted_ms / got["mhsa"].predicted_ms
    assert ratio < 1  # the paper's direction
    if imgsz == 256:  # with few tokens, near the paper's size: -29% against its -39% (the gap: PV's output is
        # kept in fp16 under int8, analysis.precision, which MQA does not shrink)
        assert abs(ratio - PAPER_RATIO) < 0.12


def test_trio_eager_scores_swamp_mqa_on_edgetpu():
    """Eager, the score matrices (4 x 1600 x 1600 fp16, written, read and written by softmax, read) are the same in
    MHSA and MQA and dwarf K/V: the ratio is close to 1, which is why the fused default matters."""
    mhsa = explain(TRIO["mhsa"], 7, dtype="int8", device_spec="pixel8-edgetpu", attention="eager")
    mqa = explain(TRIO["mqa"], 7, dtype="int8", device_spec="pixel8-edgetpu", attention="eager")
    assert mhsa.facts.score_bytes == mqa.facts.score_bytes == 4 * 4 * 1600 * 1600 * 2  # fp16 under int8
    assert 0.95 < mqa.predicted_ms / mhsa.predicted_ms < 1.0


# ------------------------------------------------------------------------------------------- the roofline option
def test_profile_attention_option_changes_only_attention_layers():
    eager = profile(TRIO["mhsa"], device_spec="cpu", attention="eager")
    fused = profile(TRIO["mhsa"], device_spec="cpu", attention="fused")
    assert (eager.model.attention, fused.model.attention) == ("eager", "fused")
    assert fused.layers[7].predicted_ms < eager.layers[7].predicted_ms
    assert [lr.predicted_ms for i, lr in enumerate(eager.layers) if i != 7] == \
        [lr.predicted_ms for i, lr in enumerate(fused.layers) if i != 7]
    assert profile(TRIO["mhsa"], device_spec="cpu").model.attention == "eager"  # the cpu preset's default
    with pytest.raises(ArchscopeError, match="--attention must be eager or fused"):
        profile(TRIO["mhsa"], device_spec="cpu", attention="flash")


def test_roofline_fused_leaves_out_score_and_prep_bytes():
    device = DeviceSpec("toy", {"fp32": 1e12}, 1e11, "hand-made")
    qk = OpRecord("bmm", 0, "", 100, 0, 40, 400, (1, 10, 10), True, score_bytes=400)
    copy = OpRecord("clone", 0, "", 0, 0, 40, 40, prep_bytes=80)
    assert roofline(device, "fp32", [qk, copy], attention="eager").total.bytes == 520
    assert roofline(device, "fp32", [qk, copy], attention="fused").total.bytes == 40
    assert roofline(device, "fp32", [qk, copy]).attention == "eager"  # a device file's default


def test_every_preset_has_a_documented_attention_default():
    assert set(ATTENTION_DEFAULTS) == set(PRESETS)
    for name in PRESETS:
        spec = get_preset(name)
        assert spec.attention in ("eager", "fused") and len(spec.attention_source) > 40
    assert get_preset("a100").attention == "fused" and get_preset("pixel8-edgetpu").attention == "fused"
    assert get_preset("cpu").attention == "eager"


def test_device_file_attention_key(tmp_path):
    good = tmp_path / "d.yaml"
    good.write_text("name: mine\npeak_flops: {fp32: 1.0e+12}\nbandwidth: 1.0e+11\nattention: fused\n")
    assert load_device_file(good).attention == "fused"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: mine\npeak_flops: {fp32: 1.0e+12}\nbandwidth: 1.0e+11\nattention: flash\n")
    with pytest.raises(ArchscopeError, match="'attention' must be eager or fused") as exc:
        load_device_file(bad)
    assert exc.value.line == 4


# ------------------------------------------------------------------------------------------------------ the CLI
def test_explain_table_fits_80_columns_and_says_where_the_time_goes():
    result = runner.invoke(app, ["explain", TRIO["mqa"], "--layer", "7", "--device-spec", "pixel8-edgetpu",
                                 "--dtype", "int8", "--imgsz", "256"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    for group in ("Q projection", "K projection", "V projection", "output projection", "QK^T", "softmax", "PV"):
        assert group in result.output
    assert "MQA: 4 query heads share 1 K/V head" in result.output
    assert "K/V downsampling by 2 more" in result.output


def test_explain_json_and_markdown(tmp_path):
    result = runner.invoke(app, ["explain", TRIO["mqa-kv2"], "--layer", "7", "-f", "json", "--attention", "eager"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["schema"] == "archscope.explain/1" and data["attention"] == "eager"
    roles = [g["role"] for g in data["groups"]]
    assert {"k_down", "v_down", "qk", "softmax", "pv", "copy"} <= set(roles)
    out = tmp_path / "l7.md"
    result = runner.invoke(app, ["explain", TRIO["mqa-kv2"], "--layer", "7", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "| op group |" in out.read_text() and "K downsampling" in out.read_text()


@pytest.mark.parametrize("args, message", [
    (["--layer", "99"], r"--layer 99: the model has layers 0-23"),
    (["--layer", "7", "--attention", "flash"], r"--attention must be eager or fused, got 'flash'"),
])
def test_explain_bad_input_is_one_line_exit_2(args, message):
    result = runner.invoke(app, ["explain", TRIO["mqa"], *args])
    assert result.exit_code == 2
    assert re.search(message, result.output)
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_compare_breaks_down_the_differing_attention_layer():
    c = compare([TRIO["mhsa"], TRIO["mqa"]], imgsz=256, dtype="int8", device_spec="pixel8-edgetpu")
    assert [(b.model, b.layer) for b in c.breakdowns] == [("yolov8n-mhsa.yaml", 7), ("yolov8n-mqa.yaml", 7)]
    assert c.breakdowns[1].predicted_ms / c.breakdowns[0].predicted_ms == pytest.approx(HAND_RATIO[256], rel=1e-6)
    assert c.to_dict()["breakdowns"][0]["layer"] == 7
    result = runner.invoke(app, ["compare", TRIO["mhsa"], TRIO["mqa"], "--device-spec", "pixel8-edgetpu",
                                 "--dtype", "int8", "--attention", "fused"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "op by op" in result.output and "QK^T" in result.output
    assert max(len(line.rstrip()) for line in result.output.splitlines()) <= 80


def test_check_takes_attention_from_the_option_the_config_and_the_baseline(tmp_path):
    from archscope.api import rerun_settings
    from archscope.check.targets import CheckTarget, load_config

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(f'[[tool.archscope.models]]\npath = "{TRIO["mhsa"]}"\nmax-params = "10M"\n'
                         f'device-spec = "a100"\nattention = "eager"\n')
    (target,) = load_config(str(pyproject))
    assert target.attention == "eager"
    assert rerun_settings(target, None)["attention"] == "eager"
    baseline = profile(TRIO["mhsa"], device_spec="a100")  # the preset's default: fused
    assert baseline.model.attention == "fused"
    assert rerun_settings(CheckTarget(path=TRIO["mhsa"]), baseline)["attention"] == "fused"
    pyproject.write_text(f'[[tool.archscope.models]]\npath = "{TRIO["mhsa"]}"\nmax-params = "10M"\nattention = "flash"\n')
    with pytest.raises(ArchscopeError, match="'attention' must be one of eager, fused"):
        load_config(str(pyproject))
    result = runner.invoke(app, ["check", TRIO["mhsa"], "--max-params", "10M", "--device-spec", "cpu",
                                 "--attention", "fused", "--no-cache"])
    assert result.exit_code == 0, result.output


def test_hand_made_records_with_a_joint_qkv_projection():
    """Records made by hand (no model): a joint QKV conv, QK^T, softmax, PV. The first score-moving product is QK^T,
    the next PV; the finding says MQA's saving cannot be read off a joint projection."""
    from archscope.analysis.breakdown import breakdown
    from archscope.analysis.records import LayerCosts, ModelCosts

    s = 1000  # score bytes
    ops = [
        OpRecord("convolution", 0, "attn.qkv.conv", 600, 0, 300, 300),
        OpRecord("bmm", 0, "attn", 2000, 0, 200, s, (1, 10, 25), True, score_bytes=s),
        OpRecord("_softmax", 0, "attn", 0, 250, s, s, score_bytes=2 * s),
        OpRecord("bmm", 0, "attn", 2000, 0, s + 100, 100, (1, 10, 4), True, score_bytes=s),
    ]
    costs = ModelCosts("fp32", 4, [LayerCosts(0)], ops, 0)
    device = DeviceSpec("toy", {"fp32": 1e12}, 1e9, "hand-made")  # 1 byte = 1e-6 ms; 1 FLOP = 1e-9 ms
    b = breakdown(costs, None, 0, device, attention="eager")
    assert [g.role for g in b.groups] == ["qkv_proj", "qk", "softmax", "pv"]
    assert [g.bytes for g in b.groups] == [600, 200 + s, 2 * s, s + 200]
    assert b.predicted_ms == pytest.approx((600 + 1200 + 2000 + 1200) * 1e-6)
    assert b.facts.joint_qkv and b.facts.keys == 25 and b.facts.score_bytes == 4 * s
    assert "one QKV projection" in b.findings[0]
    fused = breakdown(costs, None, 0, device, attention="fused")
    assert [g.bytes for g in fused.groups] == [600, 200, 0, 200]

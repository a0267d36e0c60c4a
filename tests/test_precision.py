"""``--dtype int8`` as a quantized deployment (archscope.analysis.precision), checked with byte counts derived by
hand: int8 weights and activations, int32/fp32 per-channel vectors (bias, norm), fp16 scores and softmax."""

from __future__ import annotations

import textwrap

import pytest

from archscope.analysis.analyze import analyze
from archscope.analysis.precision import Precision
from archscope.build.builder import BuildOptions, build_model
from archscope.spec.model_spec import load_spec

CONV_YAML = """
nc: 80
backbone:
  - [-1, 1, Conv, [16, 3, 2]]  # Conv2d(3, 16, 3, s=2, p=1, no bias) + BatchNorm2d(16) + SiLU
head: []
"""

PSA_YAML = """
nc: 80
ch: 128
backbone:
  - [-1, 1, PSA, [128]]  # c = 64: one head, key_dim 32, head_dim 64; N tokens
head: []
"""


def _built(tmp_path, text, imgsz):
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent(text))
    return build_model(load_spec(path), BuildOptions(imgsz=imgsz))


@pytest.mark.parametrize("h,w", [(32, 32), (16, 48)])
def test_int8_conv_by_hand(h, w, tmp_path):
    c = analyze(_built(tmp_path, CONV_YAML, (h, w)), dtype="int8")
    P = (h // 2) * (w // 2)
    conv, bn, act = c.ops
    assert (conv.bytes_read, conv.bytes_written) == (3 * h * w + 432, 16 * P)  # int8 input, weight and output
    assert (bn.bytes_read, bn.bytes_written) == (16 * P + 4 * 16 * 4, 16 * P)  # 4 vectors of 16 at 4 bytes
    assert (act.bytes_read, act.bytes_written) == (16 * P, 16 * P)
    assert c.layers[0].param_bytes == 432 + 2 * 16 * 4  # int8 weight; BN weight and bias at 4 bytes
    assert c.layers[0].activation_bytes == 16 * P
    assert c.peak_activation_bytes == 3 * h * w + 32 * P  # input, conv and BN outputs, 1 byte each
    assert c.dtype == "int8" and c.bytes_per_element == 1


@pytest.mark.parametrize("h,w", [(8, 8), (4, 12)])
def test_int8_attention_keeps_scores_and_softmax_in_fp16(h, w, tmp_path):
    c = analyze(_built(tmp_path, PSA_YAML, (h, w)), dtype="int8")
    N = h * w
    attn = [op for op in c.ops if op.path == "attn"]
    assert [op.op for op in attn] == ["mul", "bmm", "_softmax", "bmm", "add"]
    scale, scores, softmax, pv, residual = attn
    assert (scale.bytes_read, scale.bytes_written) == (32 * N, 32 * N)  # q * scale: int8
    assert (scores.bytes_read, scores.bytes_written) == (2 * 32 * N, 2 * N * N)  # int8 q, k -> fp16 N x N scores
    assert (softmax.bytes_read, softmax.bytes_written) == (2 * N * N, 2 * N * N)  # fp16 in and out
    assert (pv.bytes_read, pv.bytes_written) == (64 * N + 2 * N * N, 2 * 64 * N)  # int8 v, fp16 weights, fp16 out
    assert (residual.bytes_read, residual.bytes_written) == (2 * 64 * N + 64 * N, 64 * N)  # back to int8
    fp32 = [op for op in analyze(_built(tmp_path, PSA_YAML, (h, w))).ops if op.path == "attn"]
    assert (fp32[1].bytes_written, fp32[3].bytes_read) == (4 * N * N, 4 * (64 * N + N * N))  # fp32: 4 bytes each


def test_index_tensors_keep_their_own_size_and_fp16_is_two_bytes():
    import torch

    fp16, int8 = Precision("fp16"), Precision("int8")
    assert fp16.output(False, torch.int64.itemsize, "topk") == 8 and int8.output(False, 8, "argmax") == 8
    assert fp16.output(True, 4, "softmax") == 2 and int8.output(True, 4, "softmax") == 2
    assert int8.output(True, 4, "convolution") == 1 and int8.output(True, 4, "bmm", activation_product=True) == 2
    assert int8.parameter(True, 4, 1) == 4 and int8.parameter(True, 4, 4) == 1 and fp16.parameter(True, 4, 1) == 2
    assert Precision(None).output(True, 2, "softmax") == 2  # a real tensor at its own size

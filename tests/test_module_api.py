"""Any nn.Module: ``archscope.profile(module, input_size=...)`` and ``archscope profile pkg.module:factory``.

The FLOPs are checked against torch.utils.flop_counter.FlopCounterMode run on REAL tensors (its total put in as a
literal beside the hand-derived formula, and recomputed in the test), for plain conv/linear modules and for
attention (matmul + softmax, and scaled_dot_product_attention)."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

import archscope
from archscope.cli.app import app
from archscope.errors import ArchscopeError

runner = CliRunner()


class Plain(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(self.pool(torch.relu(self.conv(x))).flatten(1))


class Attention(nn.Module):
    """Multi-head self-attention written out: the two matmuls run in this module's own forward."""

    def __init__(self, d=16, heads=2):
        super().__init__()
        self.h = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def scores(self, q, k, v):
        return (q @ k.transpose(-2, -1) / (q.shape[-1] ** 0.5)).softmax(-1) @ v

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        return self.proj(self.scores(q, k, v).transpose(1, 2).reshape(b, n, d)) + x


class Sdpa(Attention):
    def scores(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v)


def _flop_counter(module, *inputs) -> int:
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        module(*inputs)  # the math backend: FlopCounterMode has no formula for CPU's fused SDPA kernel
    return counter.get_total_flops()


def test_plain_module_matches_flop_counter_mode():
    torch.manual_seed(0)
    module = Plain()
    # conv: 2 images * 16*16 outputs * 8 channels * 3*3*3 MACs = 110,592 MACs; fc: 2 * 8 * 10 = 160 MACs;
    # FLOPs = 2 * MACs
    assert _flop_counter(module, torch.randn(2, 3, 16, 16)) == 221_504 == 2 * (2 * 16 * 16 * 8 * 27 + 2 * 8 * 10)
    weights = module.conv.weight.detach().clone()
    report = archscope.profile(module, input_size=(2, 3, 16, 16))
    assert report.totals.mac_flops == 221_504
    assert [layer.module for layer in report.layers] == ["Conv2d", "AdaptiveAvgPool2d", "Linear"]
    assert [layer.params for layer in report.layers] == [3 * 8 * 9 + 8, 0, 8 * 10 + 10]
    assert [layer.mac_flops for layer in report.layers] == [221_184, 0, 320]
    assert report.layers[0].output_shape == [2, 8, 16, 16]
    assert report.totals.params == 314
    # the caller's module is left as it was: on the CPU, with its weights
    assert module.conv.weight.device.type == "cpu" and torch.equal(module.conv.weight, weights)


@pytest.mark.parametrize("cls", [Attention, Sdpa])
def test_attention_modules_match_flop_counter_mode(cls):
    torch.manual_seed(0)
    module = cls()
    x = torch.randn(1, 10, 16)
    # qkv: 10 tokens * 16 * 48 = 7,680 MACs; q @ k^T and scores @ v: 2 heads * 10 * 10 * 8 = 1,600 MACs each;
    # proj: 10 * 16 * 16 = 2,560 MACs; FLOPs = 2 * 13,440
    assert _flop_counter(module, x) == 26_880 == 2 * (10 * 16 * 48 + 2 * (2 * 10 * 10 * 8) + 10 * 16 * 16)
    report = archscope.profile(module, example_inputs=(x,))
    assert report.totals.mac_flops == 26_880
    # the layers are the children; the matmuls of the module's own forward are in the totals, outside them
    assert [layer.mac_flops for layer in report.layers] == [15_360, 5_120]
    assert report.totals.params == (16 * 48 + 48) + (16 * 16 + 16)


def test_named_layers_and_depth():
    model = nn.Sequential()
    model.add_module("stem", nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4)))
    model.add_module("head", nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)))
    report = archscope.profile(model, input_size=(1, 3, 8, 8), layers=["stem.0", "stem.1"], depth=1)
    assert [layer.module for layer in report.layers] == ["Conv2d", "BatchNorm2d"]
    assert [layer.args for layer in report.layers] == [["stem.0"], ["stem.1"]]
    # conv 1 * 6*6 * 4 * 27 MACs
    assert report.layers[0].mac_flops == 2 * 6 * 6 * 4 * 27
    nested = archscope.profile(model.stem, input_size=(1, 3, 8, 8))
    assert [layer.params for layer in nested.layers] == [4 * 27, 8]
    whole = archscope.profile(model, input_size=(1, 3, 8, 8), depth=1)
    assert [layer.args for layer in whole.layers] == [["stem"], ["head"]]
    assert [(sub.path, sub.module, sub.params) for sub in whole.layers[0].submodules] == [
        ("0", "Conv2d", 4 * 27), ("1", "BatchNorm2d", 8)]
    assert whole.layers[1].submodules[-1].mac_flops == 2 * 4 * 2  # the Linear: 4 * 2 MACs
    with pytest.raises(ArchscopeError, match="no sub-module named 'nope'"):
        archscope.profile(model, input_size=(1, 3, 8, 8), layers=["nope"])
    with pytest.raises(ArchscopeError, match="input_size"):
        archscope.profile(model)


def test_cli_factory(tmp_path, monkeypatch):
    (tmp_path / "mynets.py").write_text(textwrap.dedent("""\
        import torch
        from torch import nn

        DEVICES = []


        def small():
            DEVICES.append(torch.empty(1).device.type)  # where the factory is called
            return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())


        def not_a_module():
            return 3
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    result = runner.invoke(app, ["profile", "mynets:small", "--input-size", "1,3,10,10", "-f", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # conv 3->4, k3, no padding: 8*8 outputs * 4 * 27 MACs
    assert data["layers"][0]["mac_flops"] == 2 * 8 * 8 * 4 * 27
    assert data["totals"]["params"] == 4 * 27 + 4
    import mynets

    assert mynets.DEVICES == ["meta"]  # built on meta, nothing allocated
    result = runner.invoke(app, ["profile", "mynets:small", "--imgsz", "12"])  # imgsz: batch 1, 3 channels
    assert result.exit_code == 0, result.output
    for target, words in (("mynets:not_a_module", "not an nn.Module"), ("mynets:missing", "has no missing"),
                          ("nosuchpkg_xyz:f", "no importable module")):
        result = runner.invoke(app, ["profile", target, "--input-size", "1,3,10,10"])
        assert result.exit_code == 2 and words in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1

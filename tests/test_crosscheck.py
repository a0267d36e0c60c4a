"""The optional fvcore / thop cross-check: clear errors when the package is missing (no network, no install)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from archscope.analysis import crosscheck as xc
from archscope.errors import ArchscopeError


@pytest.mark.parametrize("counter, modules", [("fvcore", ("fvcore", "fvcore.nn")), ("thop", ("thop",))])
def test_missing_package_names_the_extra(monkeypatch, counter, modules):
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)  # makes `import name` raise ImportError
    with pytest.raises(ArchscopeError) as e:
        xc.crosscheck(object(), (), counter)
    assert str(e.value) == f"--counter {counter} needs the optional package: pip install 'archscope-yolo[{counter}]'"


def test_unknown_counter():
    with pytest.raises(ArchscopeError, match="choose from fvcore, thop"):
        xc.crosscheck(object(), (), "ptflops")


def test_every_counter_has_a_one_line_explanation():
    for counter in xc.COUNTERS:
        text = xc.EXPLANATIONS[counter]
        assert "\n" not in text and 40 < len(text) < 240


def test_importing_crosscheck_imports_neither_package_nor_torch():
    code = "import sys, archscope.analysis.crosscheck; print([m in sys.modules for m in ('fvcore', 'thop', 'torch')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[False, False, False]"


def _small_model():
    """Conv with bias + BN + SiLU, then a token Linear and an explicit matmul attention (no SDPA)."""
    import torch
    from torch import nn

    class Attn(nn.Module):
        def __init__(self, c=16):
            super().__init__()
            self.qkv = nn.Linear(c, 3 * c)

        def forward(self, x):
            t = x.flatten(2).transpose(1, 2)
            q, k, v = self.qkv(t).chunk(3, -1)
            return torch.matmul(torch.matmul(q, k.transpose(-1, -2)).softmax(-1), v)

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=True), nn.BatchNorm2d(16), nn.SiLU(), Attn(16))
    return model, torch.randn(1, 3, 8, 8)


# Hand count for the small model (64 pixels / tokens): conv 16*64*3*9 = 27,648 MACs; qkv Linear 64*16*48 = 49,152;
# q@k^T 64*64*16 = 65,536; attn@v 65,536 -> 207,872 MACs = 415,744 FLOPs on archscope's 2-per-MAC scale.
SMALL_MACS = 27_648 + 49_152 + 65_536 + 65_536


def test_fvcore_counts_matmuls_and_charges_batchnorm():
    import fvcore  # noqa: F401  (in the dev extra: a missing fvcore fails here instead of skipping)

    model, x = _small_model()
    r = xc.crosscheck(model, x, "fvcore")
    assert r.macs == SMALL_MACS + 2 * 16 * 64  # + BatchNorm at 2 per element (eval)
    assert r.flops_x2 == 2 * r.macs
    assert "aten::silu" in r.unsupported_ops


def test_thop_is_blind_to_functional_matmuls():
    import thop  # noqa: F401  (in the dev extra: PyPI thop 0.1.1)

    model, x = _small_model()
    buffers = sorted(n for n, _ in model.named_buffers())
    r = xc.crosscheck(model, x, "thop")
    assert r.macs == 27_648 + 49_152 + 4 * 16 * 64  # conv + Linear + BatchNorm at 4 per element; no matmuls
    assert sorted(n for n, _ in model.named_buffers()) == buffers  # thop ran on a copy

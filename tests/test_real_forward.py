"""Built models really run: a real CPU forward on a small input gives the shapes the meta build predicted.

The meta shapes themselves are checked against Ultralytics' in test_parity_reference_json.py (at 640) and
test_parity_shapes.py (non-square sizes); here the real kernels confirm them on deterministic random weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from archscope.build.builder import BuildOptions, build_model, shape_of
from archscope.build.materialize import materialize
from archscope.spec.model_spec import load_spec

REFERENCE = Path(__file__).resolve().parent / "reference" / "ultralytics-8.4.190-smallest-scales.json"
CONFIGS = [r["cfg"] for r in json.loads(REFERENCE.read_text())["records"]]


@pytest.mark.parametrize("cfg", CONFIGS)
def test_real_forward_matches_meta_shapes(cfg, cfg_dir):
    size = (64, 96) if "p6" not in cfg else (128, 64)  # small, non-square, divisible by the max stride
    built = build_model(load_spec(cfg_dir / cfg), BuildOptions(imgsz=size))
    model = materialize(built, device="cpu", seed=0)
    seen = {}
    x = torch.randn(1, built.ch, *size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        out = model.run(x, on_layer=lambda i, y: seen.__setitem__(i, shape_of(y)))
    assert [seen[layer.index] for layer in built.layers] == [layer.output_shape for layer in built.layers]
    flat = out if isinstance(out, torch.Tensor) else out[0]
    assert torch.isfinite(flat).all()

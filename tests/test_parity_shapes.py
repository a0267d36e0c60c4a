"""Per-layer output shapes at non-square and small sizes equal Ultralytics' own.

Figures: tests/reference/ultralytics_shapes.py, recorded from real Ultralytics 8.4.190 eval forwards at
384x640 (H x W) and 320x320 (classifiers: 224x224 and 192x256); its docstring has the exact procedure.
"""

from __future__ import annotations

import pytest

from archscope.build.builder import BuildOptions, build_model
from archscope.spec.model_spec import load_spec
from reference.ultralytics_shapes import SHAPES


@pytest.mark.parametrize("key", sorted(SHAPES, key=str), ids=lambda k: f"{k[0]}:{k[1]}:{k[2][0]}x{k[2][1]}")
def test_shapes_match_ultralytics(key, cfg_dir):
    cfg, scale, imgsz = key
    built = build_model(load_spec(cfg_dir / cfg), BuildOptions(scale=scale, imgsz=imgsz))
    assert [layer.output_shape for layer in built.layers] == SHAPES[key]

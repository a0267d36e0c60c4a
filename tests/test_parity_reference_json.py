"""Parity with Ultralytics on the smallest-scales reference file.

Figures: tests/reference/ultralytics-8.4.190-smallest-scales.json, produced by Ultralytics 8.4.190's own
model.info(imgsz=640) and a real 1x3x640x640 eval forward (see tests/reference/README.md). For the smallest scale of each
of the 43 official v3/v5/v6/v8/v9/v10/11/12 configs: total and per-layer parameters, and per-layer output shapes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archscope.build.builder import BuildOptions, build_model
from archscope.analysis.to_report import leaf_module_count
from archscope.spec.model_spec import load_spec

REFERENCE = Path(__file__).resolve().parent / "reference" / "ultralytics-8.4.190-smallest-scales.json"
RECORDS = json.loads(REFERENCE.read_text())["records"]


def _first_output(shape):
    """Ultralytics' heads return (inference output, extras) in eval: compare the inference output."""
    if isinstance(shape, list) and len(shape) == 2 and isinstance(shape[1], dict):
        return shape[0]
    if isinstance(shape, list) and len(shape) == 2 and shape[0] == shape[1] and isinstance(shape[0], list):
        return shape[0]  # Classify: (y, y)
    return shape


@pytest.mark.parametrize("record", RECORDS, ids=[f"{r['cfg']}:{r['scale']}" for r in RECORDS])
def test_params_and_shapes_match_ultralytics(record, cfg_dir):
    spec = load_spec(cfg_dir / record["cfg"])
    built = build_model(spec, BuildOptions(scale=record["scale"], imgsz=(640, 640)))
    assert [layer.module.removeprefix("nn.") for layer in built.layers] == record["per_layer_type"]
    assert [layer.params for layer in built.layers] == record["per_layer_params"]
    assert built.params == record["params"]
    shapes = [layer.output_shape for layer in built.layers]
    expected = [_first_output(s) for s in record["per_layer_out_shape"]]
    assert shapes == expected
    assert leaf_module_count(built.model) == record["layers"]

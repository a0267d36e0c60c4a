"""Findings: what in a profiled model deserves a warning, read from the report's figures alone (no torch).

Two kinds. **borrowed-block**: a YAML of one dialect names a block that dialect's reference does not define (a
YOLOv10 ``PSA`` in a YOLOv5-repository file, say), so archscope built another family's definition; forks often
define their own block under that name, so the report says which one was built and how to supply one's own.

**quadratic attention**. Global attention over an early, high-resolution feature map materialises
an ``Nq x Nk`` score matrix per head every forward; at stride 4 of a 640 image that is 25,600 x 25,600 (GBs in
fp32). FLOP totals bury this, and peak-activation figures that track layer outputs never see it, so archscope names
the layer, its tokens, the size of its score matrix and its share of the model's FLOPs, and says what helps.
"""

from __future__ import annotations

from archscope.reports.profile import Finding, LayerReport, ModelReport
from archscope.util.shapes import feature_stride
from archscope.util.units import human_bytes

#: A layer is flagged when one attention score matrix it materialises reaches this many bytes (at the analysed
#: batch and dtype). 128 MiB is far above any windowed or deep-stage attention in the official configs (YOLO11's
#: C2PSA at 640: 1.3 MB) and far below the GBs of full attention at stride 4 or 8.
SCORE_MATRIX_WARN_BYTES = 128 * 2**20


def block_notices(layers) -> list[Finding]:
    """One ``borrowed-block`` finding per block name whose built layers carry a notice (``BuiltLayer.notice``),
    naming every such layer; ``layer`` is the first of them."""
    by_name: dict[str, list] = {}
    for layer in layers:
        if getattr(layer, "notice", None):
            by_name.setdefault(layer.module, []).append(layer)
    findings = []
    for group in by_name.values():
        where = "layer" if len(group) == 1 else "layers"
        indices = ", ".join(str(layer.index) for layer in group)
        findings.append(Finding("borrowed-block", group[0].index, f"{where} {indices}: {group[0].notice}"))
    return findings


def find_issues(report: ModelReport, *, score_warn_bytes: int = SCORE_MATRIX_WARN_BYTES) -> list[Finding]:
    """Every finding for an analysed report (an empty list for one made without the analysis)."""
    if not report.analysed:
        return []
    total_flops = report.totals.flops or 0
    return [
        Finding("quadratic-attention", layer.index, _attention_message(report, layer, total_flops))
        for layer in report.layers
        if (layer.score_bytes or 0) >= score_warn_bytes
    ]


def _attention_message(report: ModelReport, layer: LayerReport, total_flops: int) -> str:
    keys = layer.score_shape[-1] if layer.score_shape else 0
    where = ""
    shape = layer.output_shape
    if isinstance(shape, list) and len(shape) == 4 and all(isinstance(v, int) for v in shape):
        h, w = shape[2], shape[3]
        stride = feature_stride(report.model.imgsz[0], h)
        where = f" at stride {stride}: {h * w:,} tokens ({h}x{w})"
    share = (layer.flops or 0) / total_flops if total_flops else 0.0
    size = human_bytes(layer.score_bytes or 0)
    return (f"layer {layer.index} ({layer.module}){where} attend to {keys:,} keys: a {size} score matrix per "
            f"attention, every forward ({report.model.dtype}, batch {report.model.batch}); {share:.0%} of the model's "
            f"FLOPs. Downsample K/V (kv_strides: 2 -> 4x smaller) or attend at a deeper stage")



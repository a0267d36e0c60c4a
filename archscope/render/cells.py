"""The cells of a profile report: the per-layer rows and the summary lines shared by the table, Markdown and HTML
renderers (numbers formatted by :mod:`archscope.util.units`)."""

from __future__ import annotations

import json
from typing import Any

from archscope.util.units import fmt_bytes, fmt_g, fmt_int, fmt_ms


def fmt_args(args: Any, limit: int = 48) -> str:
    """Python-style, as Ultralytics prints its arguments column: [None, 2, 'nearest']."""
    text = repr(args)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fmt_shape(shape: Any) -> str:
    if shape is None:
        return ""
    if isinstance(shape, list) and shape and all(isinstance(d, int) for d in shape):
        return "x".join(str(d) for d in shape)
    if isinstance(shape, list):
        return " + ".join(fmt_shape(s) for s in shape)
    if isinstance(shape, dict):
        return ", ".join(f"{k}: {fmt_shape(v)}" for k, v in shape.items())
    return str(shape)


def fmt_from(value: Any) -> str:
    return json.dumps(value, separators=(",", "")) if isinstance(value, list) else str(value)


def layer_cells(report, *, depth: int = 0) -> tuple[list[str], list[list[str]]]:
    """Header and rows (strings) for the per-layer table; sub-module rows follow their layer up to ``depth``."""
    analysed = report.analysed
    roofline = any(layer.predicted_ms is not None for layer in report.layers)
    header = ["#", "from", "n", "params", "module", "arguments", "output"]
    attention = analysed and bool(report.totals.attention_flops)
    if analysed:
        header += ["GFLOPs", "MB moved", "FLOP/B", "act MB"]
    if attention:
        header += ["attn GFLOPs"]  # QK^T and PV: the part of GFLOPs module-hook counters miss
    if roofline:
        header += ["pred ms", "bound"]
    rows = []
    for layer in report.layers:
        row = [str(layer.index), fmt_from(layer.from_), str(layer.n), fmt_int(layer.params), layer.module,
               fmt_args(layer.args), fmt_shape(layer.output_shape)]
        if analysed:
            ai = (layer.arithmetic_intensity or {}).get("unfused")
            row += [fmt_g(layer.flops), fmt_bytes(layer.bytes_unfused), "" if ai is None else f"{ai:.1f}",
                    fmt_bytes(layer.activation_bytes)]
        if attention:
            row += [fmt_g(layer.attention_flops) if layer.attention_flops else ""]
        if roofline:
            row += [fmt_ms(layer.predicted_ms), layer.bound or ""]
        rows.append(row)
        for sub in layer.submodules:
            if sub.depth > depth:
                continue
            cells = ["", "", "", fmt_int(sub.params), "  " * sub.depth + sub.path, sub.module, ""]
            if analysed:
                ai = sub.flops / sub.bytes_unfused if sub.bytes_unfused else None
                cells += [fmt_g(sub.flops), fmt_bytes(sub.bytes_unfused), "" if ai is None else f"{ai:.1f}", ""]
            if attention:
                cells += [""]
            if roofline:
                cells += [fmt_ms(sub.predicted_ms), ""]
            rows.append(cells)
    return header, rows


def summary_line(report) -> str:
    m, t = report.model, report.totals
    scale = f"scale {m.scale}" if m.scale else "no scales"
    fused = ", fused" if m.fused else ""  # as Ultralytics' "summary (fused)"
    parts = [f"{m.name} ({scale}{fused})", f"{t.yaml_layers} YAML layers ({t.layers} modules)",
             f"{t.params:,} parameters"]
    if t.flops is not None:
        d = ultralytics_digits(report)
        parts.append(f"{t.flops / 1e9:.2f} GFLOPs (Ultralytics 8.4: {t.gflops_ultralytics:.{d}f})")
        if t.peak_activation_bytes is not None:
            parts.append(peak_text(report))
    if t.predicted_ms is not None:
        unit = "relative units (ridge-point preset)" if m.predicted_unit == "relative" else "ms"
        attention = f", attention {m.attention}" if getattr(m, "attention", None) else ""
        parts.append(f"{t.predicted_ms:.3g} {unit} predicted on {m.device_spec} ({m.dtype}{attention})")
    parts.append(f"imgsz {m.imgsz[0]}x{m.imgsz[1]} (HxW), batch {m.batch}, ch {m.ch}, nc {m.nc}")
    return ", ".join(parts)


def peak_text(report) -> str:
    """``peak activations 24.6 MB fp32 in layer 2 C2f (cv2.bn: batch_norm)``: the peak and where it happens."""
    m, t = report.model, report.totals
    text = f"peak activations {t.peak_activation_bytes / 1e6:.1f} MB {m.dtype}"
    layer = t.peak_layer
    if layer is None:
        return text
    if layer < 0:
        return f"{text} (the input)"
    module = report.layers[layer].module if layer < len(report.layers) else ""
    op = t.peak_op or ""
    inside = f"{t.peak_path}: {op}" if t.peak_path else op
    return f"{text} in layer {layer} {module}" + (f" ({inside})" if inside else "")


def crosscheck_lines(report) -> list[str]:
    """One line per --counter backend: its total beside archscope's, and why they differ (computed module by module
    in :mod:`archscope.analysis.crosscheck`). The distribution is named: PyPI thop and ultralytics-thop differ."""
    lines = []
    for c in report.crosscheck:
        lines.append(f"{c.get('package') or c['counter']} {c['version']}: {c['flops_x2'] / 1e9:.2f} GFLOPs "
                     f"(2 x its {c['macs'] / 1e9:.2f} G multiply-adds) "
                     f"vs archscope mac_flops {c['archscope_mac_flops'] / 1e9:.2f} G; "
                     f"{c['explanation']}")
    return lines


def ultralytics_digits(report) -> int:
    """Decimals for the Ultralytics-convention figure, the same in the summary and the attention line: one, as
    Ultralytics prints it, unless the attention matmuls are under 1 GFLOP per image, where one decimal would not let
    the sum visibly add up (6.46 + 0.06 = 6.52, not 6.5 + 0.1 = 6.5)."""
    t = report.totals
    if not t.attention_flops:
        return 1
    return 1 if t.attention_flops / report.model.batch / 1e9 >= 1 else 2


def attention_gflops_line(report) -> str | None:
    """For models with attention: how the GFLOPs conventions differ, and that the difference is the attention
    matmuls (functional ``@``/``bmm`` calls that module-hook counters cannot see). The Ultralytics figure is the
    summary's, at the summary's rounding; it is named, not repeated with other digits."""
    t = report.totals
    if not t.attention_flops or t.gflops_legacy is None:
        return None
    per_image = t.attention_flops / report.model.batch / 1e9
    d = ultralytics_digits(report)
    with_them = f"{t.gflops_legacy + per_image:.{d}f}"
    if with_them == f"{t.gflops_ultralytics:.{d}f}":
        same = "the Ultralytics 8.4 figure above (ultralytics-thop sees them)"
    else:  # the conventions also differ in how nn.Upsample is charged; say so rather than print two figures as one
        same = "and Ultralytics 8.4 (above) also charges nn.Upsample its own way"
    ours = t.flops / report.model.batch / 1e9
    # the legacy proxy (one stride-sized image, scaled by area) multiplies costs that do not grow with the image
    # (a DETR decoder's fixed queries) by the area ratio: say so where that puts it above the full count
    above = (" (above archscope's: its proxy image, scaled by area, also scales costs that do not grow with the "
             "image, such as a decoder's fixed queries)") if t.gflops_legacy > ours else ""
    return (f"GFLOPs per image: hook-based {t.gflops_legacy:.{d}f}{above} (thop 0.1.1 / Ultralytics <= 8.2, as "
            f"YOLOv5 and YOLOv10 print it) misses the attention matmuls (QK^T, PV): {per_image:.{d}f}; with them "
            f"{with_them}, {same}; archscope counts {ours:.{d}f} with every elementwise op")


def uncounted_line(report) -> str | None:
    """The operators that ran but have no cost (as fvcore's "unsupported operator ... encountered N time(s)")."""
    ops = report.totals.uncounted_ops
    if not ops:
        return None
    listed = ", ".join(f"{o['op']} ({o['calls']} call{'s' if o['calls'] != 1 else ''})" for o in ops)
    return (f"no cost rule for {len(ops)} operator{'s' if len(ops) != 1 else ''}, counted as 0 FLOPs (bytes still "
            f"counted): {listed}; archscope.register_op_cost adds one")


def finding_lines(report) -> list[str]:
    return [f"warning: {f.message}" for f in report.findings]

"""Machine-readable renderings: JSON (the documented schema), CSV (one row per layer), Markdown."""

from __future__ import annotations

import csv
import io
import json

from archscope.render.cells import (
    attention_gflops_line,
    crosscheck_lines,
    finding_lines,
    fmt_args,
    fmt_shape,
    layer_cells,
    summary_line,
    uncounted_line,
)
from archscope.render.markdown import md_table

CSV_COLUMNS = [
    "index", "from", "n", "module", "args", "params", "output_shape", "flops", "mac_flops", "other_flops",
    "gflops_ultralytics", "gflops_legacy", "bytes_unfused", "bytes_fused", "ai_unfused", "ai_fused",
    "activation_bytes", "predicted_ms", "bound",
]


def to_json(report) -> str:
    from archscope.util.jsonio import dumps_strict  # no NaN/Infinity: such a figure is written as null

    return dumps_strict(report.to_dict(), indent=2) + "\n"


def to_csv(report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for layer in report.layers:
        ai = layer.arithmetic_intensity or {}
        row = {
            **layer.to_dict(),
            "args": json.dumps(layer.args),
            "from": json.dumps(layer.from_),
            "output_shape": json.dumps(layer.output_shape),
            "ai_unfused": ai.get("unfused"),
            "ai_fused": ai.get("fused"),
        }
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in CSV_COLUMNS])
    return buffer.getvalue()


def to_markdown(report, *, depth: int = 0) -> str:
    header, rows = layer_cells(report, depth=depth)
    text_columns = ("module", "arguments", "output", "from", "bound")
    lines = [f"**{summary_line(report)}**", "", *md_table(header, rows, [h not in text_columns for h in header])]
    notes = [line for line in (attention_gflops_line(report),) if line] + crosscheck_lines(report)
    notes += [line for line in (uncounted_line(report),) if line]
    notes += finding_lines(report)
    lines += ["", *(f"- {line}" for line in notes)] if notes else []
    return "\n".join(lines) + "\n"


__all__ = ["to_json", "to_csv", "to_markdown", "fmt_args", "fmt_shape"]

"""Machine-readable renderings: JSON (the documented schema), CSV (one row per layer), Markdown."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict

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
    # added after the first release, at the end so that the columns above keep their places
    "attention_flops", "attention_bytes", "attention_bytes_fused", "score_bytes", "score_shape", "submodule", "depth",
    "peak_activation_bytes",
]
# what a sub-module row (--depth) carries; the other columns are empty there
SUBMODULE_CSV_COLUMNS = {"index", "module", "params", "flops", "mac_flops", "other_flops", "bytes_unfused",
                         "predicted_ms", "submodule", "depth"}


def to_json(report) -> str:
    from archscope.util.jsonio import dumps_strict  # no NaN/Infinity: such a figure is written as null

    return dumps_strict(report.to_dict(), indent=2) + "\n"


def _cell(value) -> object:
    return "" if value is None else value


def to_csv(report, *, depth: int | None = None) -> str:
    """One row per YAML layer, each followed by its sub-modules down to ``depth`` (None: all the report holds).

    A layer row has ``depth`` 0 and an empty ``submodule``; a sub-module row has the layer's ``index``, its path
    inside the layer in ``submodule`` (``m.0.attn.qkv``), its depth, and its own class, params and costs."""
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
            "score_shape": None if layer.score_shape is None else json.dumps(layer.score_shape),
            "submodule": None,
            "depth": 0,
        }
        writer.writerow([_cell(row.get(c)) for c in CSV_COLUMNS])
        for sub in layer.submodules:
            if depth is not None and sub.depth > depth:
                continue
            sub_row = {**asdict(sub), "index": layer.index, "submodule": sub.path}
            writer.writerow([_cell(sub_row.get(c)) if c in SUBMODULE_CSV_COLUMNS else "" for c in CSV_COLUMNS])
    return buffer.getvalue()


def to_markdown(report, *, depth: int = 0) -> str:
    header, rows = layer_cells(report, depth=depth)
    text_columns = ("module", "arguments", "output", "from", "bound")
    lines = [f"**{summary_line(report)}**", "", *md_table(header, rows, [h not in text_columns for h in header])]
    notes = [line for line in (attention_gflops_line(report),) if line] + crosscheck_lines(report)
    from archscope.render.training import memory_lines

    notes += memory_lines(report)
    notes += [line for line in (uncounted_line(report),) if line]
    notes += finding_lines(report)
    lines += ["", *(f"- {line}" for line in notes)] if notes else []
    return "\n".join(lines) + "\n"


__all__ = ["to_json", "to_csv", "to_markdown", "fmt_args", "fmt_shape"]

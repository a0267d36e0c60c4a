"""Summarise benchmarks/gpu/check.sh's bench JSONs as a Markdown table: per model and dtype the measured and the
predicted (calibrated roofline) whole-model time, how far the per-layer predictions are from the measurements
(``prediction_error``: median error factor, Spearman rank correlation, whole predicted / measured), the layer-7
times of the attention trio, and the measured peak memory beside archscope's estimate.
Usage: python benchmarks/gpu/table.py FOLDER"""

from __future__ import annotations

import glob
import json
import os
import sys


def _fmt(value, spec: str = ".3g") -> str:
    return "-" if value is None else format(value, spec)


def rows(folder: str) -> list[str]:
    out = ["| model | dtype | measured ms | predicted ms | median factor | rank corr. | whole pred/meas | "
           "layer 7 meas / pred ms | peak measured / estimated MB |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        with open(path) as f:
            data = json.load(f)
        if not str(data.get("schema", "")).startswith("archscope.bench"):
            continue
        b = data["batches"][0]
        err = b.get("prediction_error") or {}
        layer7 = next((r for r in b.get("layers") or [] if r.get("index") == 7), None)
        l7 = "-" if layer7 is None else f"{_fmt(layer7.get('median_ms'))} / {_fmt(layer7.get('predicted_ms'))}"
        peak = (f"{_fmt((b.get('peak_measured_bytes') or 0) / 1e6 or None)} / "
                f"{_fmt((b.get('peak_estimate_bytes') or 0) / 1e6 or None)}")
        name, dtype = os.path.basename(path)[:-5].rsplit("-", 1)
        out.append(f"| {name} | {dtype} | {_fmt(b.get('median_ms'))} | {_fmt(b.get('predicted_ms'))} | "
                   f"{_fmt(err.get('median_factor'))} | {_fmt(err.get('rank_correlation'))} | "
                   f"{_fmt(err.get('whole_model_ratio'))} | {l7} | {peak} |")
    return out


if __name__ == "__main__":
    print("\n".join(rows(sys.argv[1] if len(sys.argv) > 1 else ".")))

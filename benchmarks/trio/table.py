"""Summarise benchmarks/trio/measure.sh's bench JSONs: per model and size, the lowest over rounds of the layer-7
median time and of the whole-model median time (other programs competing for the CPUs only ever add time, so the
round that ran with the least competition is the closest to the machine's own figure), each round's values, and
the load average of each run; then what bench's roofline predicted against the calibrated preset (layer 7 and the
whole model, median over rounds, and layer 7 over MHSA's).
Usage: python benchmarks/trio/table.py FOLDER"""

from __future__ import annotations

import glob
import json
import os
import statistics
import sys


def main(folder: str) -> None:
    print("imgsz  model     layer 7 ms: lowest (each round)      whole ms: lowest (each round)    load (each round)")
    layers: dict[tuple[int, str], list[float]] = {}
    predicted: dict[tuple[int, str], tuple[float, float]] = {}
    for size in (256, 640):
        for model in ("mhsa", "mqa", "mqa-kv2"):
            layer, whole, load, pred_layer, pred_whole = [], [], [], [], []
            for path in sorted(glob.glob(os.path.join(folder, f"{model}-{size}-r*.json"))):
                with open(path) as f:
                    data = json.load(f)
                batch = data["batches"][0]
                layer += [row["median_ms"] for row in batch["layers"] if row["index"] == 7]
                pred_layer += [row["predicted_ms"] for row in batch["layers"] if row["index"] == 7
                               and row.get("predicted_ms") is not None]
                whole.append(batch["median_ms"])
                if batch.get("predicted_ms") is not None:
                    pred_whole.append(batch["predicted_ms"])
                load.append(data["environment"]["load_average"][0])
            if not whole:
                continue
            print(f"{size:5}  {model:8}  {min(layer):8.2f} ({', '.join(f'{x:.2f}' for x in layer)})"
                  f"  {min(whole):8.1f} ({', '.join(f'{x:.1f}' for x in whole)})"
                  f"  ({', '.join(f'{x:.1f}' for x in load)})")
            layers[size, model] = layer
            if pred_layer and pred_whole:
                predicted[size, model] = statistics.median(pred_layer), statistics.median(pred_whole)
    print("\nlayer 7 time over MHSA's in the same round: median over rounds (each round)")
    for (size, model), layer in layers.items():
        base = layers[size, "mhsa"]
        if model == "mhsa" or len(base) != len(layer):
            continue
        ratios = [a / b for a, b in zip(layer, base)]
        print(f"{size:5}  {model:8}  x{statistics.median(ratios):.2f} ({', '.join(f'{x:.2f}' for x in ratios)})")
    if predicted:
        print("\npredicted (bench's roofline on the preset): layer 7 ms (x MHSA), whole ms")
        for (size, model), (layer7, whole) in predicted.items():
            base = predicted.get((size, "mhsa"), (layer7, whole))[0]
            print(f"{size:5}  {model:8}  {layer7:8.2f} (x{layer7 / base:.2f})  {whole:8.1f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")

"""Summarise benchmarks/trio/measure.sh's bench JSONs: per model and size, the lowest over rounds of the layer-7
median time and of the whole-model median time (other programs competing for the CPUs only ever add time, so the
round that ran with the least competition is the closest to the machine's own figure), each round's values, and
the load average of each run.
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
    for size in (256, 640):
        for model in ("mhsa", "mqa", "mqa-kv2"):
            layer, whole, load = [], [], []
            for path in sorted(glob.glob(os.path.join(folder, f"{model}-{size}-r*.json"))):
                with open(path) as f:
                    data = json.load(f)
                batch = data["batches"][0]
                layer += [row["median_ms"] for row in batch["layers"] if row["index"] == 7]
                whole.append(batch["median_ms"])
                load.append(data["environment"]["load_average"][0])
            if not whole:
                continue
            print(f"{size:5}  {model:8}  {min(layer):8.2f} ({', '.join(f'{x:.2f}' for x in layer)})"
                  f"  {min(whole):8.1f} ({', '.join(f'{x:.1f}' for x in whole)})"
                  f"  ({', '.join(f'{x:.1f}' for x in load)})")
            layers[size, model] = layer
    print("\nlayer 7 time over MHSA's in the same round: median over rounds (each round)")
    for (size, model), layer in layers.items():
        base = layers[size, "mhsa"]
        if model == "mhsa" or len(base) != len(layer):
            continue
        ratios = [a / b for a, b in zip(layer, base)]
        print(f"{size:5}  {model:8}  x{statistics.median(ratios):.2f} ({', '.join(f'{x:.2f}' for x in ratios)})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")

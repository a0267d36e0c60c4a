#!/bin/bash
# The attention trio measured on this machine (README, "The attention trio, predicted and measured"):
# calibrate a single-threaded preset, then `archscope bench --per-layer --threads 1` of yolov8n-mhsa, -mqa and
# -mqa-kv2 at 256 and 640, in ROUNDS rounds (round-robin over the models, so that a change in the machine's load
# falls on all three alike). Then: python benchmarks/trio/table.py OUT
# Usage: bash benchmarks/trio/measure.sh OUT [ROUNDS]   (from the repository root; about 5 minutes a round on a
# loaded 2-core machine)
set -e
out=${1:?output folder}
rounds=${2:-3}
mkdir -p "$out"
OMP_NUM_THREADS=1 .venv/bin/archscope calibrate --dtypes fp32 --seconds 6 --repeats 5 --name thisbox-1t \
  -o "$out/thisbox-1t.yaml" > "$out/calibrate.txt" 2>&1
for round in $(seq 1 "$rounds"); do
  for size in 256 640; do
    runs=100; [ "$size" = 640 ] && runs=20
    for m in mhsa mqa mqa-kv2; do
      .venv/bin/archscope bench "sample_configs/yolov8n-$m.yaml" --imgsz "$size" --per-layer --threads 1 \
        --device cpu --runs "$runs" --warmup 3 --device-spec "$out/thisbox-1t.yaml" \
        -o "$out/$m-$size-r$round.json" > "$out/$m-$size-r$round.log" 2>&1
      echo "$round $size $m $(uptime)" >> "$out/load.txt"
    done
  done
done

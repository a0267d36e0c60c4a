#!/bin/bash
# Issue 15.7, the GPU side, as one short prepared script for a machine with CUDA (or, with DEVICE=mps, Apple's GPU):
# calibrate the GPU (peaks, bandwidth and the per-op-class table), then `archscope bench --per-layer` of the
# attention trio and any further model YAMLs given (two official ones, e.g. yolov8n and yolo11n: archscope ships no
# Ultralytics YAML, so pass their paths) at fp32 and fp16, each against the calibrated preset, and print the table
# of predicted against measured (benchmarks/gpu/table.py). Nothing is downloaded.
# Usage: bash benchmarks/gpu/check.sh OUT [MODEL.yaml ...]          (from the repository root)
#        DEVICE=cpu bash benchmarks/gpu/check.sh /tmp/dry          (a dry run of the same steps on the CPU)
# Environment: ARCHSCOPE (default .venv/bin/archscope), PYTHON (default .venv/bin/python), DEVICE (default cuda),
#              IMGSZ (default 640), RUNS (default 50), DTYPES (default "fp32 fp16"), CLASS_SECONDS (default 10).
set -euo pipefail
out=${1:?output folder}
shift
archscope=${ARCHSCOPE:-.venv/bin/archscope}
python=${PYTHON:-.venv/bin/python}
device=${DEVICE:-cuda}
imgsz=${IMGSZ:-640}
runs=${RUNS:-50}
dtypes=${DTYPES:-fp32 fp16}
mkdir -p "$out"
models=(sample_configs/yolov8n-mhsa.yaml sample_configs/yolov8n-mqa.yaml sample_configs/yolov8n-mqa-kv2.yaml "$@")
"$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" | tee "$out/environment.txt"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem --format=csv >> "$out/environment.txt" \
  2>/dev/null || true
"$archscope" calibrate --device "$device" --dtypes "${dtypes// /,}" --class-seconds "${CLASS_SECONDS:-10}" \
  --name "gpu-$device" -o "$out/device.yaml" 2>&1 | tee "$out/calibrate.txt"
for dtype in $dtypes; do
  for model in "${models[@]}"; do
    name=$(basename "$model" .yaml)
    "$archscope" bench "$model" --device "$device" --dtype "$dtype" --imgsz "$imgsz" --per-layer --runs "$runs" \
      --warmup 10 --device-spec "$out/device.yaml" -o "$out/$name-$dtype.json" > "$out/$name-$dtype.log" 2>&1 \
      || echo "bench failed: $model $dtype (see $out/$name-$dtype.log)"
  done
done
"$python" benchmarks/gpu/table.py "$out" | tee "$out/table.md"

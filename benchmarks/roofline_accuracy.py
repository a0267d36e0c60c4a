#!/usr/bin/env python3
"""How close the calibrated roofline comes to measured per-layer times on this CPU.

1. Calibrates this machine (``archscope.devices.calibrate.measure``: matmul peak, copy bandwidth and the op-class
   table, ``--threads`` threads), or reads ``--device-file``.
2. For each model (by default the official YOLOv8n and YOLO11n from the Ultralytics wheel YAMLs, through
   tests/official_configs.py, and the sample_configs models; none of them is used by the calibration, which times
   single operators), runs ``archscope.bench(..., per_layer=True, threads=...)`` with that device file, and prints
   per model: the per-layer median error factor ``exp(median |log(pred / meas)|)``, the Spearman rank correlation
   over the layers and the whole-model ``predicted / measured`` (``BenchReport``'s ``prediction_error``), beside the
   same figures for the one-peak roofline (the same device without its op-class table), and the worst layers.
3. Says PASS or FAIL against the targets of issue 15: median factor <= 1.25, rank correlation >= 0.95, whole model
   within 10 %. Exit status 0 whatever the targets say.

    .venv/bin/python benchmarks/roofline_accuracy.py                       # calibrate (~35 s), then 7 models at 640
    .venv/bin/python benchmarks/roofline_accuracy.py --device-file dev.yaml --imgsz 320 --json out.json

On a shared machine the load average printed beside the figures matters: read them with it. So does the CPU share
(this process's CPU time / wall time during each bench; 1.0 with one thread on a quiet machine): at 0.5 the measured
times include as much waiting for the CPU as running. ``--clock cpu`` times calibration and bench alike in this
thread's CPU time instead, which waiting does not count: a diagnostic of the model, not the target.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SAMPLES = ["yolov8n-mhsa.yaml", "yolov8n-mqa.yaml", "yolov8n-mqa-kv2.yaml", "yolov5n-C3_UIB.yaml", "yolov8n-iRMB.yaml",
           "tiny-detector.yaml"]
TARGET_FACTOR, TARGET_RANK, TARGET_WHOLE = 1.25, 0.95, 0.10


def default_models() -> list[str]:
    models = []
    try:
        from tests.official_configs import official_cfg_dir

        cfg = official_cfg_dir()
        models += [f"{cfg / 'v8' / 'yolov8.yaml'}:n", f"{cfg / '11' / 'yolo11.yaml'}:n"]
    except Exception as exc:  # no wheel and no network: the samples still run
        print(f"(official YAMLs unavailable: {exc}; samples only)", file=sys.stderr)
    return models + [str(REPO / "sample_configs" / name) for name in SAMPLES]


def load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def one_peak_errors(report, model: str, device, imgsz: int):
    """The same measured layers against the one-peak roofline (the device without its op-class table)."""
    from archscope.analysis.analyze import analyze
    from archscope.api import split_scale
    from archscope.build.builder import BuildOptions, build_model
    from archscope.devices.roofline import roofline
    from archscope.reports.bench import prediction_error
    from archscope.spec.model_spec import load_spec

    source, scale = split_scale(model, None)
    built = build_model(load_spec(source), BuildOptions(scale=scale, imgsz=(imgsz, imgsz)))
    costs = analyze(built, legacy=False)
    plain = roofline(dataclasses.replace(device, op_classes={}), "fp32", costs.ops, layers=range(len(built.layers)))
    stats = dataclasses.replace(report.batches[0], predicted_ms=plain.predicted_ms, layers=[
        dataclasses.replace(row, predicted_ms=plain.layer(row.index).predicted_ms) for row in report.batches[0].layers])
    return prediction_error(stats)


def verdict(error) -> str:
    ok = (error.median_factor is not None and error.median_factor <= TARGET_FACTOR
          and error.rank_correlation is not None and error.rank_correlation >= TARGET_RANK
          and error.whole_model_ratio is not None and abs(error.whole_model_ratio - 1) <= TARGET_WHOLE)
    return "PASS" if ok else "FAIL"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", help="model YAMLs (file.yaml:s for a scale); default: see above")
    parser.add_argument("--device-file", help="use this calibrated device file instead of calibrating")
    parser.add_argument("--save-device", help="save the calibration here")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--class-seconds", type=float, default=30.0)
    parser.add_argument("--worst", type=int, default=3, help="list this many worst layers per model")
    parser.add_argument("--json", help="also write every figure here")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall: what bench measures (the target). cpu: this thread's CPU time, for calibration "
                             "and bench alike (a diagnostic: what a machine nobody else loads would show; needs "
                             "--threads 1)")
    args = parser.parse_args(argv)
    clock = time.perf_counter
    if args.clock == "cpu":
        if args.threads != 1:
            parser.error("--clock cpu needs --threads 1 (thread CPU time misses other threads' work)")
        clock = time.thread_time
        from archscope.measure import runner, timing

        wall_target = runner.target_for

        def cpu_target(device: str):
            target = wall_target(device)
            return dataclasses.replace(target, stopwatch=timing.SyncStopwatch(lambda: None, clock=time.thread_time))

        runner.target_for = cpu_target

    import archscope
    from archscope.devices.calibrate import measure
    from archscope.devices.spec import load_device_file, save_device

    print(f"load average before calibrating: {load():.2f}")
    if args.device_file:
        path = args.device_file
    else:
        result = measure("cpu", dtypes=("fp32",), seconds=3.0, class_seconds=args.class_seconds,
                         threads=args.threads, name="calibrated-cpu", clock=clock)
        path = args.save_device or os.path.join(tempfile.mkdtemp(), "device.yaml")
        save_device(result.spec, path)
        print(f"calibrated -> {path}")
    device = load_device_file(path)
    for dtype, table in device.op_classes.items():
        for name, rate in table.items():
            print(f"  {dtype} {name:15s} {rate.flops_per_s / 1e9:8.3g} GFLOP/s {rate.bytes_per_s / 1e9:8.3g} GB/s "
                  f"{rate.overhead_s * 1e6:7.3g} us")

    rows, out = [], []
    for model in args.models or default_models():
        wall0, cpu0 = time.perf_counter(), time.process_time()
        report = archscope.bench(model, imgsz=args.imgsz, device="cpu", threads=args.threads, per_layer=True,
                                 device_spec=path, runs=args.runs)
        share = (time.process_time() - cpu0) / max(time.perf_counter() - wall0, 1e-9)
        stats = report.batches[0]
        calibrated = stats.prediction_error
        plain = one_peak_errors(report, model, device, args.imgsz)
        name = Path(model.split(":")[0]).stem + (f":{model.split(':')[1]}" if ":" in model else "")
        worst = sorted(stats.layers, key=lambda r: -abs(math.log(r.predicted_ms / r.median_ms))
                       if r.predicted_ms and r.median_ms else 0)[: args.worst]
        rows.append((name, stats, calibrated, plain, worst, load(), share))
        out.append({"model": model, "imgsz": args.imgsz, "measured_ms": stats.median_ms,
                    "predicted_ms": stats.predicted_ms, "calibrated": dataclasses.asdict(calibrated),
                    "one_peak": dataclasses.asdict(plain), "load": rows[-1][5], "cpu_share": share,
                    "layers": [{"index": r.index, "module": r.module, "measured_ms": r.median_ms,
                                "predicted_ms": r.predicted_ms} for r in stats.layers]})
        print(f"  {name}: done (load {rows[-1][5]:.2f}, CPU share {share:.2f})", file=sys.stderr)

    print(f"\nimgsz {args.imgsz}, {args.threads} thread(s), fp32, batch 1, {args.clock} clock; device file {path}")
    print("| model | layers | measured ms | predicted ms | median factor | rank corr. | whole pred/meas | target "
          "| one-peak: median factor | rank corr. | whole | load | CPU share |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, stats, cal, plain, _, ld, share in rows:
        print(f"| {name} | {cal.layers} | {stats.median_ms:.1f} | {stats.predicted_ms:.1f} | {cal.median_factor:.2f} "
              f"| {cal.rank_correlation:.3f} | {cal.whole_model_ratio:.2f} | {verdict(cal)} "
              f"| {plain.median_factor:.2f} | {plain.rank_correlation:.3f} | {plain.whole_model_ratio:.2f} "
              f"| {ld:.1f} | {share:.2f} |")
    print("\nworst layers (measured / predicted ms):")
    for name, _, _, _, worst, _, _ in rows:
        print(f"  {name}: " + "; ".join(f"{r.index} {r.module} {r.median_ms:.3g} / {r.predicted_ms:.3g}"
                                       for r in worst))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

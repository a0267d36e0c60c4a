#!/usr/bin/env python3
"""Checks archscope's timing harness on this machine.

1. **Against an independent timer, same process, same module.** The model is built and prepared as ``bench``
   prepares it (seeded weights and input); archscope's harness (``benchmarking.time_forward``: warm-up, synchronised
   timed runs, the outlier rule) and ``torch.utils.benchmark.Timer(...).blocked_autorange()`` then time that very
   module, same thread count, under ``torch.inference_mode()``. They alternate for ``--rounds`` rounds (who goes
   first alternates too), so a change in machine load hits both alike; the script prints each round's medians, their
   ratio (archscope / Timer) and the median of the ratios. ``--api`` also runs the whole ``archscope.bench()`` path
   (its own build of the same YAML) each round.
2. **Spread between processes.** ``archscope bench ... -f json`` runs ``--repeats`` times as fresh processes; the
   script prints every median and the coefficient of variation (standard deviation / mean) of those medians.

    .venv/bin/python benchmarks/bench_harness.py                        # tiny-detector at 320, 1 thread
    .venv/bin/python benchmarks/bench_harness.py --threads 2 --json out.json

The 1-minute load average is printed before each part: on a shared machine, read the figures with it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_YAML = REPO / "sample_configs" / "tiny-detector.yaml"


def load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def in_process(args) -> list[dict]:
    """Alternate archscope's harness and torch.utils.benchmark.Timer on one module; one dict per round."""
    import torch
    import torch.utils.benchmark as tb

    import archscope
    from archscope.measure import runner as benchmarking, timing
    from archscope.api import parse_imgsz
    from archscope.build.builder import BuildOptions, build_model
    from archscope.spec.model_spec import load_spec

    torch.set_num_threads(args.threads)
    options = benchmarking.BenchOptions(seed=args.seed, runs=args.runs, min_time=0.0, warmup=args.warmup)
    built = build_model(load_spec(str(args.yaml)), BuildOptions(imgsz=parse_imgsz(args.imgsz), batch=args.batch))
    model = benchmarking.prepare_model(built, options, "cpu").eager
    x = benchmarking.make_input(built, args.batch, options, "cpu")
    stopwatch = benchmarking.target_for("cpu").stopwatch

    def archscope_harness() -> timing.Summary:
        with torch.inference_mode():  # as bench does: warm-up, then synchronised timed runs
            return timing.summarize(benchmarking.time_forward(lambda: model(x), stopwatch, options))

    def forward():
        with torch.inference_mode():
            return model(x)

    timer = tb.Timer(stmt="forward()", globals={"forward": forward}, num_threads=args.threads)
    rounds = []
    for r in range(args.rounds):
        # alternate which goes first, so a drift in machine load does not favour one side
        if r % 2 == 0:
            ours, theirs = archscope_harness(), timer.blocked_autorange(min_run_time=args.timer_seconds)
        else:
            theirs, ours = timer.blocked_autorange(min_run_time=args.timer_seconds), archscope_harness()
        api = None
        if args.api:  # the whole API path: its own build of the same YAML, same seed
            api = archscope.bench(str(args.yaml), imgsz=args.imgsz, batch=args.batch, device="cpu",
                                  threads=args.threads, runs=args.runs, warmup=args.warmup,
                                  seed=args.seed).batches[0].median_ms
        row = {
            "round": r + 1, "load": load(),
            "archscope_median_ms": ours.median * 1e3, "archscope_runs": ours.runs,
            "archscope_outliers": ours.outliers, "archscope_api_median_ms": api,
            "timer_median_ms": theirs.median * 1e3, "timer_iqr_ms": theirs.iqr * 1e3,
            "timer_blocks": len(theirs.times), "timer_calls_per_block": theirs.number_per_run,
            "ratio": ours.median / theirs.median,
        }
        rounds.append(row)
        api_text = f"  (archscope.bench API {api:.2f} ms)" if api is not None else ""
        print(f"  round {row['round']}: archscope {row['archscope_median_ms']:.2f} ms "
              f"({row['archscope_runs']} runs, {row['archscope_outliers']} outliers)  "
              f"Timer {row['timer_median_ms']:.2f} ms ({row['timer_blocks']} blocks x "
              f"{row['timer_calls_per_block']})  ratio {row['ratio']:.3f}  load {row['load']:.2f}{api_text}",
              flush=True)
    return rounds


def repeated(args) -> list[dict]:
    """``archscope bench`` as fresh processes; one dict per process."""
    exe = [args.python, "-m", "archscope", "bench", str(args.yaml), "--imgsz", str(args.imgsz), "--batch",
           str(args.batch), "--device", "cpu", "--threads", str(args.threads), "--runs", str(args.runs),
           "--warmup", str(args.warmup), "--seed", str(args.seed), "-f", "json"]
    out = []
    for i in range(args.repeats):
        before = load()
        t0 = time.perf_counter()
        done = subprocess.run(exe, capture_output=True, text=True, cwd=REPO)
        if done.returncode != 0:
            sys.exit(f"archscope bench failed (exit {done.returncode}): {done.stderr.strip()}")
        stats = json.loads(done.stdout)["batches"][0]
        out.append({"process": i + 1, "load": before, "median_ms": stats["median_ms"], "std_ms": stats["std_ms"],
                    "outliers": stats["outliers"], "wall_s": time.perf_counter() - t0})
        print(f"  process {i + 1}: median {stats['median_ms']:.2f} ms, std {stats['std_ms']:.2f} ms, "
              f"{stats['outliers']} outliers, load {before:.2f}", flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--yaml", type=Path, default=DEFAULT_YAML)
    parser.add_argument("--imgsz", default="320")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=20, help="archscope's timed runs per measurement")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=6, help="archscope/Timer alternations in one process")
    parser.add_argument("--api", action="store_true", help="also run archscope.bench() (its own build) each round")
    parser.add_argument("--timer-seconds", type=float, default=1.0, help="blocked_autorange(min_run_time=...)")
    parser.add_argument("--repeats", type=int, default=5, help="fresh archscope bench processes")
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    parser.add_argument("--json", type=Path, help="also save every figure here")
    args = parser.parse_args()

    import torch

    print(f"{args.yaml.name} at {args.imgsz}, batch {args.batch}, {args.threads} thread(s), fp32, cpu; "
          f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"{time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"1. archscope harness vs torch.utils.benchmark.Timer, same process, same module (load {load():.2f})")
    rounds = in_process(args)
    ratios = [r["ratio"] for r in rounds]
    print(f"   median ratio archscope/Timer: {statistics.median(ratios):.3f} "
          f"(rounds: {', '.join(f'{r:.3f}' for r in ratios)})")
    print(f"2. {args.repeats} fresh 'archscope bench' processes (load {load():.2f})")
    procs = repeated(args)
    medians = [p["median_ms"] for p in procs]
    cv = statistics.stdev(medians) / statistics.mean(medians) if len(medians) > 1 else 0.0
    print(f"   medians {', '.join(f'{m:.2f}' for m in medians)} ms: mean {statistics.mean(medians):.2f} ms, "
          f"coefficient of variation {100 * cv:.1f}%")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rounds": rounds,
                                         "processes": procs, "median_ratio": statistics.median(ratios),
                                         "cv": cv}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

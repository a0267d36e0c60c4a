"""How long ``archscope check`` takes in a pre-commit hook: uncached, cached, and a bare ``import torch``.

Every figure is a fresh process timed from ``Popen`` to reap (``time.perf_counter``). Rows run round-robin, each
round starting at a different row, so a change in machine load hits every row alike; the script prints best-of-N
and median-of-N per row and PASS/FAIL for the target: the cached check under 0.3 s (best and median judged
separately). Standard library only (like bench_startup.py).

    .venv/bin/python benchmarks/bench_precommit.py              # N=7
    .venv/bin/python benchmarks/bench_precommit.py --runs 15 --json out.json

The cache lives in a temporary ``XDG_CACHE_HOME`` made for the run: the uncached row passes ``--no-cache``, the
cached row is primed once before timing, and the script checks that the cached row printed "(cached)", gave the
uncached row's exit code and stdout, and did not import torch (``-X importtime`` on one extra run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 0.3


CPU: dict[str, list[float]] = {}  # row -> CPU seconds (user + system) of each timed process


def run_once(cmd: list[str], env: dict[str, str], row: str | None = None) -> tuple[float, int, str, str]:
    """Wall seconds from Popen to reap, exit code, stdout, stderr; the child's own CPU time (os.wait4) goes to
    CPU[row]: on a loaded machine wall time waits for a core, CPU time does not."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()  # small outputs: reading one then the other cannot block
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if row is not None:
        CPU.setdefault(row, []).append(usage.ru_utime + usage.ru_stime)
    return wall, proc.returncode, out, err


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per row (default 7)")
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"), help="archscope's interpreter")
    parser.add_argument("--yaml", default="sample_configs/tiny-detector.yaml")
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args()
    py = args.python
    script = str(Path(py).with_name("archscope"))
    if not Path(py).exists() or not Path(script).exists():
        print(f"set-up error: no {py} / {script} (run setup.sh)", file=sys.stderr)
        return 2

    check = [args.yaml, "--max-params", "3M"]
    with tempfile.TemporaryDirectory(prefix="archscope-bench-cache-") as cache:
        env = {**os.environ, "XDG_CACHE_HOME": cache}
        env.pop("GITHUB_STEP_SUMMARY", None)
        rows = {
            "uncached": ("archscope check (uncached: --no-cache)", [script, "check", *check, "--no-cache"]),
            "cached": ("archscope check (cached)", [script, "check", *check]),
            "torch": ("python -c 'import torch'", [py, "-c", "import torch"]),
        }
        load_start = os.getloadavg()
        print(f"nproc {os.cpu_count()}; load average at start {load_start[0]:.2f} {load_start[1]:.2f}; "
              f"python {py}; model {args.yaml} --max-params 3M")
        # warm-up (untimed): every row once, primes the cache and checks the outputs agree
        results = {key: run_once(cmd, env) for key, (_, cmd) in rows.items()}
        fresh = run_once(rows["cached"][1], env)  # the priming run above stored the verdict; this one reads it
        _, rc_u, out_u, err_u = results["uncached"]
        _, rc_c, out_c, err_c = fresh
        if rc_u not in (0, 1):
            print(f"set-up error: uncached check exited {rc_u}: {err_u.strip()}", file=sys.stderr)
            return 2
        problems = []
        if "(cached)" not in err_c:
            problems.append("the cached row did not say (cached)")
        if (rc_c, out_c) != (rc_u, out_u):
            problems.append(f"cached exit {rc_c} / stdout differ from uncached exit {rc_u}")
        imp = subprocess.run([py, "-X", "importtime", script, "check", *check], capture_output=True, text=True,
                             env=env, cwd=REPO)
        imported = {line.rsplit("|", 1)[-1].strip() for line in imp.stderr.splitlines() if "|" in line}
        torch_imported = "torch" in imported
        if torch_imported:
            problems.append("the cached check imported torch")
        print(f"cached run: exit {rc_c}, says (cached): {'(cached)' in err_c}, same stdout and exit as uncached: "
              f"{(rc_c, out_c) == (rc_u, out_u)}, modules imported: {len(imported)}, torch imported: "
              f"{torch_imported}")

        times: dict[str, list[float]] = {key: [] for key in rows}
        loads = []
        keys = list(rows)
        for rnd in range(args.runs):
            loads.append(os.getloadavg()[0])
            order = keys[rnd % len(keys):] + keys[:rnd % len(keys)]
            for key in order:
                wall, rc, _, err = run_once(rows[key][1], env, key)
                if (key != "torch" and rc not in (0, 1)) or (key == "torch" and rc != 0):
                    print(f"  {rows[key][0]} exited {rc}: {err.strip()[-200:]}", file=sys.stderr)
                    return 2
                times[key].append(wall)
        loads.append(os.getloadavg()[0])

    print(f"\n{args.runs} runs per row, round-robin; load average (1 min) during the runs: min {min(loads):.2f}, "
          f"max {max(loads):.2f} on {os.cpu_count()} CPUs")
    head = f"{'command':<42} {'best s':>7} {'median s':>9} {'x cached (median)':>18} {'CPU s (median)':>15}"
    print(head)
    print("-" * len(head))
    cached_median = statistics.median(times["cached"])
    for key, (label, _) in rows.items():
        best, median = min(times[key]), statistics.median(times[key])
        print(f"{label:<42} {best:7.3f} {median:9.3f} {median / cached_median:18.1f} "
              f"{statistics.median(CPU[key]):15.3f}")
    print("(CPU s = user + system time of the process itself: what it costs without waiting for a core)")
    best, median = min(times["cached"]), statistics.median(times["cached"])
    verdict = {"best": best < TARGET_S, "median": median < TARGET_S}
    print(f"\ntarget: cached check < {TARGET_S} s: best {best:.3f} s {'PASS' if verdict['best'] else 'FAIL'}, "
          f"median {median:.3f} s {'PASS' if verdict['median'] else 'FAIL'}")
    for problem in problems:
        print(f"FAIL: {problem}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "runs": args.runs, "loads": loads, "times": times,
            "cpu": CPU, "target_s": TARGET_S, "pass": verdict, "torch_imported": torch_imported, "problems": problems,
        }, indent=1))
        print(f"wrote {args.json}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

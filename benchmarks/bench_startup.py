#!/usr/bin/env python3
"""Whole-process start-up benchmark: archscope's CLI against bare ``import torch`` and against the peers
(Ultralytics ``model.info()``, fvcore ``FlopCountAnalysis``, thop ``profile``) on the official yolov8.yaml at scale x.

Every row is a fresh process, timed from fork to reap with ``time.perf_counter`` and measured for peak RSS with
``os.wait4`` (the child's own ``ru_maxrss``). The rows are run round-robin (the start row rotates each round) after
one untimed warm-up round, so machine load hits every row alike. Reports best-of-N and median-of-N.

    .venv/bin/python benchmarks/bench_startup.py                 # N=5, with the peers
    .venv/bin/python benchmarks/bench_startup.py --skip-peers    # archscope and bare import torch only

Exit status: 0 whatever the targets say; 2 on a set-up error (no YAML, no archscope, archscope failing).
Stdlib only; runs under any Python 3.10+ (the interpreters it times are given by the options).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_UL_PYTHON = "/work/scratch/ulv/bin/python"
DEFAULT_FV_PYTHON = "/work/scratch/xc/bin/python"
HEAVY_LOAD = 3.0  # load average above which the figures are flagged as inflated

# ---------------------------------------------------------------------------------------------------------------
# Child programs. Each peer prints one JSON line on stdout with its in-process phases (seconds) and its result,
# so a row that "ran fast" because it silently did nothing would be caught.
# ---------------------------------------------------------------------------------------------------------------

_PEER_PRELUDE = r"""
import json, sys, time
YAML = sys.argv[1]
t0 = time.perf_counter()
import torch
t_torch = time.perf_counter() - t0
"""

# Build the yolov8 architecture as a real CPU model with archscope's builder (archscope is on PYTHONPATH for this
# process only; the build path needs torch and pyyaml, not typer/rich).
_BUILD_WITH_ARCHSCOPE = r"""
t1 = time.perf_counter()
from archscope.spec.model_spec import load_spec
from archscope.build.builder import BuildOptions, build_model
model = build_model(load_spec(YAML), BuildOptions(scale="x", imgsz=(640, 640), batch=1), device="cpu").model
model.eval()
x = torch.randn(1, 3, 640, 640, generator=torch.Generator().manual_seed(0))
t_build = time.perf_counter() - t1
"""

FVCORE_CHILD = _PEER_PRELUDE + r"""
t1 = time.perf_counter()
import logging
from fvcore.nn import FlopCountAnalysis
logging.getLogger("fvcore").setLevel(logging.ERROR)
t_lib = time.perf_counter() - t1
""" + _BUILD_WITH_ARCHSCOPE + r"""
t1 = time.perf_counter()
with torch.no_grad():
    analysis = FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    total = analysis.total()
t_count = time.perf_counter() - t1
print(json.dumps({"result": f"{total / 1e9:.2f} G fvcore-flops (MACs)", "import_torch": t_torch,
                  "import_lib": t_lib, "build": t_build, "count": t_count}))
"""

THOP_CHILD = _PEER_PRELUDE + r"""
t1 = time.perf_counter()
import thop
t_lib = time.perf_counter() - t1
""" + _BUILD_WITH_ARCHSCOPE + r"""
t1 = time.perf_counter()
with torch.no_grad():
    macs, params = thop.profile(model, inputs=(x,), verbose=False)
t_count = time.perf_counter() - t1
print(json.dumps({"result": f"{macs / 1e9:.2f} G MACs, {int(params):,} params (thop {getattr(thop, '__version__', '?')})",
                  "import_torch": t_torch, "import_lib": t_lib, "build": t_build, "count": t_count}))
"""

ULTRALYTICS_CHILD = _PEER_PRELUDE + r"""
t1 = time.perf_counter()
import yaml
from ultralytics.nn.tasks import DetectionModel
t_lib = time.perf_counter() - t1
t1 = time.perf_counter()
with open(YAML) as f:
    cfg = yaml.safe_load(f)
cfg["scale"] = "x"
model = DetectionModel(cfg, verbose=False)
t_build = time.perf_counter() - t1
t1 = time.perf_counter()
layers, params, grads, gflops = model.info(imgsz=640)  # verbose=False would skip the work
t_count = time.perf_counter() - t1
print(json.dumps({"result": f"{gflops:.1f} GFLOPs, {params:,} params (Ultralytics)", "import_torch": t_torch,
                  "import_lib": t_lib, "build": t_build, "count": t_count}))
"""

# In-process phases of what `archscope profile --format json` does (mirrors archscope.api.profile + the CLI's
# renderer), then which heavy torch sub-systems ended up imported.
ARCHSCOPE_PHASES_CHILD = r"""
import json, sys, time
YAML, IMGSZ, BATCH = sys.argv[1], (int(sys.argv[2]), int(sys.argv[2])), int(sys.argv[3])
t0 = time.perf_counter()
import typer  # the CLI imports it first
t_cli = time.perf_counter() - t0
t0 = time.perf_counter()
import torch
t_torch = time.perf_counter() - t0
phases = {"import typer (CLI)": t_cli, "import torch": t_torch}
def phase(name, fn):
    t = time.perf_counter(); out = fn(); phases[name] = time.perf_counter() - t; return out
from archscope.spec.model_spec import load_spec
from archscope.build.builder import BuildOptions, build_model
from archscope.analysis.to_report import add_costs, make_report
spec = phase("parse YAML", lambda: load_spec(YAML))
built = phase("build on meta", lambda: build_model(spec, BuildOptions(scale="x", imgsz=IMGSZ, batch=BATCH)))
report = phase("report skeleton", lambda: make_report(built, dtype="fp32"))
def _count():
    from archscope.analysis.analyze import analyze
    return analyze(built, dtype="fp32", real=False)
costs = phase("count (meta forward)", _count)
phase("attach costs", lambda: add_costs(report, built, costs, depth=0))
def _render():
    from archscope.render.formats import render_text
    return render_text(report, "json", depth=0)
text = phase("render JSON", _render)
watch = ["torch._dynamo", "torch.fx.experimental.symbolic_shapes", "torch._inductor", "torch.fx", "torch.jit",
         "torch.export", "sympy", "numpy", "rich", "typer"]
print(json.dumps({"phases": phases, "imported": {m: m in sys.modules for m in watch},
                  "modules": len(sys.modules), "json_chars": len(text),
                  "gflops": report.totals.flops / 1e9}))
"""


# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Row:
    key: str
    label: str
    argv: list[str]
    env: dict[str, str] | None = None
    capture: bool = False  # peers: parse the JSON line they print; archscope: stdout to /dev/null
    context: bool = False  # a context row (no target), shown after the main rows
    times: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)
    inproc: list[dict] = field(default_factory=list)
    result: str = ""
    skipped: str = ""

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def run_once(row: Row) -> tuple[float, int, int, str, str]:
    """Fork, run, reap one process. Returns (wall s, peak RSS KB, returncode, stdout, stderr tail)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        stdout = out if row.capture else subprocess.DEVNULL
        t0 = time.perf_counter()
        proc = subprocess.Popen(row.argv, stdout=stdout, stderr=err, stdin=subprocess.DEVNULL, env=row.env,
                                cwd=tempfile.gettempdir())
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode(errors="replace") if row.capture else ""
        tail = err.read().decode(errors="replace")[-2000:]
    return wall, int(usage.ru_maxrss), proc.returncode, text, tail


def parse_child_json(text: str) -> dict | None:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def python_info(python: str) -> str:
    code = "import sys, torch; print(sys.version.split()[0], torch.__version__)"
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unusable ({exc})"
    if done.returncode != 0:
        return "unusable: " + (done.stderr.strip().splitlines() or ["?"])[-1]
    py, torch_v = done.stdout.split()
    return f"Python {py}, torch {torch_v}"


def machine_info() -> dict:
    info = {"nproc": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)), "cpu": "?", "ram_gib": None,
            "platform": platform.platform(), "python": sys.version.split()[0]}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["ram_gib"] = round(int(line.split()[1]) / 1024**2, 1)
                break
    except OSError:
        pass
    return info


def locate_yaml(arg: str | None) -> Path:
    if arg:
        path = Path(arg)
    else:
        sys.path.insert(0, str(REPO))
        from tests.official_configs import official_cfg_dir  # downloads the pinned wheel's YAMLs once

        path = official_cfg_dir() / "v8" / "yolov8.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no such YAML: {path}")
    return path


def default_archscope_python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


# ---------------------------------------------------------------------------------------------------------------
# -X importtime: where the CLI's import time goes, and what it imports beyond a bare `import torch`
# ---------------------------------------------------------------------------------------------------------------

_IMPORTTIME = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


def importtime(python: str, argv: list[str]) -> list[tuple[str, int, int, int]]:
    """Run ``python -X importtime argv...`` once; return [(module, self us, cumulative us, depth)]."""
    done = subprocess.run([python, "-X", "importtime", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, cwd=tempfile.gettempdir())
    rows = []
    for line in done.stderr.splitlines():
        m = _IMPORTTIME.match(line)
        if m:
            depth = (len(m.group(3)) - 1) // 2
            rows.append((m.group(4), int(m.group(1)), int(m.group(2)), depth))
    return rows


def import_report(python: str, archscope_script: str, yaml_path: str, wanted: list[str]) -> dict:
    cli = importtime(python, [archscope_script, "profile", yaml_path, "--scale", "x", "--imgsz", "640",
                              "--format", "json"])
    bare = importtime(python, ["-c", "import torch"])
    bare_names = {r[0] for r in bare}
    total_us = sum(r[1] for r in cli)
    roots: dict[str, int] = {}
    for name, self_us, _cum, _depth in cli:
        root = name.split(".")[0]
        roots[root] = roots.get(root, 0) + self_us
    top_level = sorted((r for r in cli if r[3] == 0), key=lambda r: -r[2])[:10]
    extra = [r for r in cli if r[0] not in bare_names]
    extra_torch = [r for r in extra if r[0].startswith("torch")]
    extra_torch_top = sorted(extra_torch, key=lambda r: -r[2])[:10]
    return {
        "modules_cli": len(cli), "modules_bare_torch": len(bare), "total_self_s": total_us / 1e6,
        "bare_torch_self_s": sum(r[1] for r in bare) / 1e6,
        "by_package_s": sorted(((k, v / 1e6) for k, v in roots.items()), key=lambda kv: -kv[1])[:10],
        "top_level_cumulative_s": [(r[0], r[2] / 1e6) for r in top_level],
        "extra_modules": len(extra), "extra_torch_modules": len(extra_torch),
        "extra_self_s": sum(r[1] for r in extra) / 1e6,
        "extra_torch_top_cumulative_s": [(r[0], r[2] / 1e6) for r in extra_torch_top],
        "imported": {w: any(r[0] == w for r in cli) for w in wanted},
        "imported_by_bare_torch": {w: w in bare_names for w in wanted},
    }


# ---------------------------------------------------------------------------------------------------------------


def fmt_s(x: float) -> str:
    return f"{x:7.2f}"


def verdict(name: str, best_value: float, median_value: float, ok) -> tuple[str, str]:
    b, m = ok(best_value), ok(median_value)
    word = "PASS" if b and m else "FAIL" if not b and not m else ("PASS on best, FAIL on median" if b
                                                                      else "FAIL on best, PASS on median")
    return word, f"{name}: best-of-N {best_value:.2f}, median {median_value:.2f} -> {word}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="timed runs per row (default 5), after one warm-up round")
    ap.add_argument("--skip-peers", action="store_true", help="only bare import torch and archscope")
    ap.add_argument("--yaml", help="model YAML (default: the official yolov8.yaml of ultralytics 8.4.190)")
    ap.add_argument("--archscope-python", default=default_archscope_python(),
                    help="archscope's interpreter (default: <repo>/.venv/bin/python)")
    ap.add_argument("--ultralytics-python", default=DEFAULT_UL_PYTHON)
    ap.add_argument("--fvcore-python", default=DEFAULT_FV_PYTHON, help="python with torch, fvcore and PyPI thop")
    ap.add_argument("--no-importtime", action="store_true", help="skip the -X importtime / in-process breakdown")
    ap.add_argument("--json", help="also write all figures to this JSON file")
    args = ap.parse_args()
    if args.runs < 1:
        print("--runs must be >= 1", file=sys.stderr)
        return 2

    # ---- set-up ------------------------------------------------------------------------------------------------
    try:
        yaml_path = str(locate_yaml(args.yaml))
    except Exception as exc:  # noqa: BLE001
        print(f"set-up error: cannot locate the YAML: {exc}", file=sys.stderr)
        return 2
    py = args.archscope_python
    script = str(Path(py).parent / "archscope")
    if not Path(py).exists() or not Path(script).exists():
        print(f"set-up error: need {py} and its console script {script} (bash setup.sh)", file=sys.stderr)
        return 2

    machine = machine_info()
    load_start = os.getloadavg()
    print(f"machine: {machine['cpu']}; nproc {machine['nproc']} (usable {machine['usable_cpus']}); "
          f"RAM {machine['ram_gib']} GiB; {machine['platform']}")
    print(f"load average at start: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}")
    print(f"YAML: {yaml_path} (scale x)")
    print(f"archscope python: {py} ({python_info(py)})")

    profile_args = [script, "profile", yaml_path, "--scale", "x", "--format", "json"]
    rows = [
        Row("torch", "python -c 'import torch'", [py, "-c", "import torch"]),
        Row("as640", "archscope profile yolov8x --imgsz 640", profile_args + ["--imgsz", "640"]),
        Row("as1280", "archscope profile yolov8x --imgsz 1280 --batch 16",
            profile_args + ["--imgsz", "1280", "--batch", "16"]),
    ]
    if not args.skip_peers:
        peers = [
            ("ul", "Ultralytics DetectionModel(...).info(imgsz=640)", args.ultralytics_python, ULTRALYTICS_CHILD,
             {"YOLO_OFFLINE": "1", "YOLO_VERBOSE": "False"}),
            ("fvcore", "fvcore FlopCountAnalysis(model, x).total()", args.fvcore_python, FVCORE_CHILD,
             {"PYTHONPATH": str(REPO)}),
            ("thop", "thop profile(model, inputs=(x,))", args.fvcore_python, THOP_CHILD, {"PYTHONPATH": str(REPO)}),
        ]
        for key, label, peer_py, code, extra_env in peers:
            env = dict(os.environ)
            env.pop("PYTHONPATH", None)
            env.update(extra_env)
            row = Row(key, label, [peer_py, "-c", code, yaml_path], env=env, capture=True)
            if not Path(peer_py).exists():
                row.skipped = f"peer python {peer_py} not found"
            else:
                print(f"{key} python: {peer_py} ({python_info(peer_py)})")
            rows.append(row)
        if Path(args.ultralytics_python).exists():
            rows.append(Row("ultorch", "python -c 'import torch' (Ultralytics python)",
                            [args.ultralytics_python, "-c", "import torch"], context=True))

    # ---- warm-up round: untimed, validates every row -------------------------------------------------------------
    print("\nwarm-up round (untimed) ...", flush=True)
    for row in rows:
        if row.skipped:
            print(f"  SKIP {row.label}: {row.skipped}")
            continue
        wall, _rss, rc, out, err = run_once(row)
        if rc != 0:
            last = (err.strip().splitlines() or ["(no stderr)"])[-1]
            if row.key in ("torch", "as640", "as1280"):
                print(f"set-up error: {row.label} exited {rc}: {last}", file=sys.stderr)
                return 2
            row.skipped = f"exited {rc} in warm-up: {last}"
            print(f"  SKIP {row.label}: {row.skipped}")
            continue
        if row.capture:
            data = parse_child_json(out)
            if data is None:
                row.skipped = "printed no result line in warm-up"
                print(f"  SKIP {row.label}: {row.skipped}")
                continue
            row.result = data.get("result", "")
        print(f"  ok   {row.label}: {wall:.2f} s {row.result}", flush=True)

    live = [r for r in rows if not r.skipped]
    loads = []
    for rnd in range(args.runs):
        shift = rnd % len(live)
        order = live[shift:] + live[:shift]
        loads.append(os.getloadavg()[0])
        for row in order:
            wall, rss, rc, out, err = run_once(row)
            if rc != 0:
                last = (err.strip().splitlines() or ["(no stderr)"])[-1]
                print(f"  round {rnd + 1}: {row.label} exited {rc}: {last} (run dropped)", file=sys.stderr)
                continue
            row.times.append(wall)
            row.rss_kb.append(rss)
            if row.capture:
                data = parse_child_json(out)
                if data:
                    row.inproc.append(data)
        print(f"  round {rnd + 1}/{args.runs} done, load {os.getloadavg()[0]:.2f}", flush=True)
    loads.append(os.getloadavg()[0])
    load_end = os.getloadavg()

    # ---- table ---------------------------------------------------------------------------------------------------
    by = {r.key: r for r in rows}
    base = by["torch"]
    a640 = by["as640"]
    heavy = max(loads) > HEAVY_LOAD
    print(f"\n{args.runs} timed runs per row, round-robin; load average (1 min) during the runs: "
          f"min {min(loads):.2f}, max {max(loads):.2f}" + (f"  ** load > {HEAVY_LOAD:g}: all figures inflated **"
                                                           if heavy else ""))
    head = f"{'command':<52} {'best s':>7} {'median s':>8} {'x torch':>8} {'as/peer':>8} {'peak RSS MB':>11}"
    print(head)
    print("-" * len(head))
    for row in sorted(rows, key=lambda r: r.context):
        if row.skipped or not row.times:
            print(f"{row.label:<52} skipped: {row.skipped or 'no successful run'}")
            continue
        ratio_torch = row.median / base.median
        peer = f"{a640.median / row.median:8.2f}" if row.capture else f"{'':>8}"
        rss = max(row.rss_kb) / 1024
        print(f"{row.label:<52} {fmt_s(row.best)} {row.median:8.2f} {ratio_torch:8.2f} {peer} {rss:11.0f}")
    print("(x torch = median / median of bare import torch; as/peer = archscope 640 median / that row's median,"
          " < 1 means archscope is faster; peak RSS = max ru_maxrss over the runs)")

    inproc_rows = [r for r in rows if r.inproc]
    if inproc_rows:
        print("\npeers, in-process phases (median s): import torch | import lib | build real model | count")
        for row in inproc_rows:
            med = {k: statistics.median(d[k] for d in row.inproc) for k in ("import_torch", "import_lib", "build",
                                                                              "count")}
            print(f"  {row.label:<50} {med['import_torch']:6.2f} | {med['import_lib']:6.2f} | {med['build']:6.2f}"
                  f" | {med['count']:6.2f}   ({row.result})")

    # ---- targets -------------------------------------------------------------------------------------------------
    print("\ntargets" + (f" (load average > {HEAVY_LOAD:g} during the runs: read with care)" if heavy else "") + ":")
    results = {}
    word, line = verdict("archscope yolov8x@640 whole process / bare import torch <= 1.5",
                         a640.best / base.best, a640.median / base.median, lambda v: v <= 1.5)
    results["as640_over_torch"] = word
    print("  " + line)
    a1280 = by["as1280"]
    word, line = verdict("archscope 1280/b16 / archscope 640 <= 1.3",
                         a1280.best / a640.best, a1280.median / a640.median, lambda v: v <= 1.3)
    results["as1280_over_as640"] = word
    print("  " + line)
    fv = by.get("fvcore")
    if fv is not None and fv.times:
        word, line = verdict("fvcore / archscope 640 (whole process) >= 5",
                             fv.best / a640.best, fv.median / a640.median, lambda v: v >= 5)
        results["fvcore_over_as640"] = word
        print("  " + line)
    else:
        results["fvcore_over_as640"] = "NOT RUN"
        print("  fvcore / archscope >= 5: NOT RUN (no fvcore row)")

    # ---- where archscope's time goes ------------------------------------------------------------------------------
    breakdown = None
    if not args.no_importtime:
        print("\nwhere archscope's time goes (one run each, in-process):")
        wanted = ["torch._dynamo", "torch.fx.experimental.symbolic_shapes", "torch._inductor", "torch.export",
                  "torch.jit", "sympy", "numpy"]
        breakdown = {"importtime": import_report(py, script, yaml_path, wanted), "phases": {}}
        imp = breakdown["importtime"]
        print(f"  -X importtime, profile --imgsz 640: {imp['modules_cli']} modules, {imp['total_self_s']:.2f} s of "
              f"import (bare import torch: {imp['modules_bare_torch']} modules, {imp['bare_torch_self_s']:.2f} s)")
        print("  import self-time by package: " + ", ".join(f"{k} {v:.2f}" for k, v in imp["by_package_s"]))
        print("  top-level imports (cumulative s): " + ", ".join(f"{k} {v:.2f}" for k, v in
                                                                  imp["top_level_cumulative_s"]))
        print(f"  beyond bare import torch: {imp['extra_modules']} modules ({imp['extra_torch_modules']} torch.*), "
              f"{imp['extra_self_s']:.2f} s; biggest torch.* extras (cumulative s): "
              + ", ".join(f"{k} {v:.2f}" for k, v in imp["extra_torch_top_cumulative_s"]))
        print("  imported by the profile command: " + ", ".join(
            f"{k}={'YES' if v else 'no'}" + (" (bare import torch too)" if v and imp["imported_by_bare_torch"][k]
                                             else "") for k, v in imp["imported"].items()))
        env = dict(os.environ)
        for label, imgsz, batch in (("640", 640, 1), ("1280 b16", 1280, 16)):
            done = subprocess.run([py, "-c", ARCHSCOPE_PHASES_CHILD, yaml_path, str(imgsz), str(batch)],
                                  capture_output=True, text=True, env=env,
                                  cwd=tempfile.gettempdir())
            data = parse_child_json(done.stdout) if done.returncode == 0 else None
            if data is None:
                print(f"  phases {label}: failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
                continue
            breakdown["phases"][label] = data
            print(f"  phases {label} (s): " + ", ".join(f"{k} {v:.2f}" for k, v in data["phases"].items())
                  + f"; {data['modules']} modules loaded; "
                  + ", ".join(f"{k}={'YES' if v else 'no'}" for k, v in data["imported"].items()
                              if k in ("torch._dynamo", "torch.fx.experimental.symbolic_shapes")))

        phases = breakdown["phases"].get("640")
        if fv is not None and fv.inproc and phases:
            fv_count = statistics.median(d["count"] for d in fv.inproc)
            as_work = phases["phases"]["build on meta"] + phases["phases"]["count (meta forward)"]
            print(f"  counting only (informational, not the target): fvcore FlopCountAnalysis {fv_count:.2f} s vs "
                  f"archscope build-on-meta + count {as_work:.2f} s = {fv_count / as_work:.1f}x")
            results["fvcore_count_over_archscope_work"] = round(fv_count / as_work, 2)

    if args.json:
        payload = {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine, "yaml": yaml_path, "runs": args.runs,
            "load_start": load_start, "load_end": load_end, "load_during": loads,
            "rows": [{"key": r.key, "label": r.label, "times": r.times, "best": min(r.times) if r.times else None,
                      "median": statistics.median(r.times) if r.times else None,
                      "peak_rss_mb": max(r.rss_kb) / 1024 if r.rss_kb else None, "result": r.result,
                      "inproc": r.inproc, "skipped": r.skipped} for r in rows],
            "targets": results, "breakdown": breakdown,
        }
        Path(args.json).write_text(json.dumps(payload, indent=1))
        print(f"\nwrote {args.json}")
    print(f"load average at end: {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Regenerates ../yolov5_repo.py (YOLOV5_REPO, ARGS; PUBLISHED is copied, it is not measured) from the YOLOv5
repository's code as packaged on PyPI (`yolov5==7.0.14`), with PyPI `thop==0.1.1.post2209072238` as its FLOPs counter.

model = yolov5.models.yolo.Model(<the package's models/yolov5{n,s}.yaml>, ch=3, nc=80): per-layer and total params,
module names, strides and the repo's printed per-layer table (ARGS, parsed from its own log lines) and summary line;
"gflops" re-computes unrounded what model_info() prints (thop.profile on a 1x3xSxS empty image, S = max stride,
x2 / 1e9, x (640/S)**2); "fused" repeats that after model.fuse().

    /work/scratch/y5v/bin/python tests/reference/scripts/y5_repo.py --check
(y5v: a scratch venv with yolov5==7.0.14 and thop==0.1.1.post2209072238 installed --no-deps, plus pandas, tqdm and
seaborn, and torch/torchvision/PyYAML/OpenCV taken from the Ultralytics scratch venv; see ../README.md.)
"""

import io
import logging
import os
import re
import sys
from copy import deepcopy
from pathlib import Path
from importlib.metadata import version

import _common as c

opts = c.args(__doc__)
import thop  # noqa: E402
import torch  # noqa: E402
import yolov5  # noqa: E402
from yolov5.models.yolo import Model  # noqa: E402

assert version("yolov5") == "7.0.14" and version("thop").startswith("0.1.1"), (version("yolov5"), version("thop"))
assert thop.__version__ == "0.1.1", thop.__file__  # PyPI thop, not ultralytics-thop (2.x)
torch.set_num_threads(1)

log = io.StringIO()
logging.getLogger("yolov5").addHandler(logging.StreamHandler(log))
ROW = re.compile(r"^\s*(\d+)\s+(-?\d+|\[[^\]]*\])\s+(\d+)\s+(\d+)\s+(\S+)\s+(.*?)\s*$")


def gflops(model, imgsz=640):
    stride = max(int(model.stride.max()), 32)
    img = torch.empty((1, next(model.parameters()).shape[1], stride, stride))
    flops = thop.profile(deepcopy(model), inputs=(img,), verbose=False)[0] / 1e9 * 2
    return flops * imgsz / stride * imgsz / stride


def summary():
    return [line for line in log.getvalue().splitlines() if " summary: " in line][-1]


repo, table = {}, {}
for name in ("yolov5n", "yolov5s"):
    if opts.only and opts.only not in name:
        continue
    log.truncate(0), log.seek(0)
    model = Model(os.path.join(os.path.dirname(yolov5.__file__), "models", f"{name}.yaml"), ch=3, nc=80)
    rows = [ROW.match(line) for line in log.getvalue().splitlines()]
    table[name] = [(int(m[1]), eval(m[2]), int(m[3]), int(m[4]), m[5].split(".")[-1], m[6]) for m in rows if m]
    g, printed = gflops(model), summary()
    entry = {
        "yaml": f"{name}.yaml", "nc": 80, "imgsz": 640, "params": sum(p.numel() for p in model.parameters()),
        "gflops": g, "gflops_printed": round(g, 1), "summary_printed": printed,
        "per_layer": [sum(p.numel() for p in m.parameters()) for m in model.model],
        "types": [m.type.split(".")[-1] for m in model.model], "stride": model.stride.tolist(),
    }
    model.fuse()
    gf = gflops(model)
    entry["fused"] = {"params": sum(p.numel() for p in model.parameters()), "gflops": gf,
                      "gflops_printed": round(gf, 1), "summary_printed": summary()}
    assert f"{entry['gflops_printed']} GFLOPs" in printed and f"{entry['fused']['gflops_printed']} GFLOPs" in summary()
    repo[name] = entry

# ------------------------------------------------------------------ every official YAML (CONFIGS, TAG_CONFIGS)
# CONFIGS: every model YAML of the package (= the repository's models/, models/hub/, models/segment/ at v7.0; the
# v6.1 and v6.2 files parse to the same documents, checked below), built by the package's Model at its defaults
# (nc from the YAML, ch 3): total and per-layer parameters.
# TAG_CONFIGS: YAMLs of older tags, each built by *that tag's own* models/yolo.py + models/common.py (a `git archive`
# of models/ and utils/ of a clone of github.com/ultralytics/yolov5 named by YOLOV5_GIT, run in a subprocess with
# this Python; scipy is stubbed for v2.0-v3.1, which only import it, and RANK=1 keeps v6.0 from fetching a font):
# the v6.0 files that differ from v7.0's, and yolov5s/m/l/x.yaml of v2.0, v3.0, v3.1, v4.0, v5.0. Each is also
# built with the 7.0 package's code: "same_with_7.0" records whether every layer's count is equal.
import json  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402

import yaml  # noqa: E402

PKG_MODELS = os.path.join(os.path.dirname(yolov5.__file__), "models")
logging.getLogger("yolov5").setLevel(logging.ERROR)


def counts(model):
    return {"params": sum(p.numel() for p in model.parameters()),
            "per_layer": [sum(p.numel() for p in m.parameters()) for m in model.model]}


def build7(path):
    with torch.no_grad():
        return counts(Model(path, ch=3))


configs = {}
for path in sorted(Path(PKG_MODELS).rglob("*.yaml")):
    rel = "models/" + path.relative_to(PKG_MODELS).as_posix()
    if "backbone" not in yaml.safe_load(path.read_text()) or (opts.only and opts.only not in rel):
        continue
    configs[rel] = build7(str(path))

TAG_PROBE = r"""
import json, os, sys, types
for name in ("scipy", "scipy.signal", "scipy.cluster", "scipy.cluster.vq"):
    try:
        __import__(name)
    except Exception:
        stub = types.ModuleType(name)
        stub.butter = stub.filtfilt = stub.kmeans = None
        sys.modules[name] = stub
sys.path.insert(0, os.getcwd())
import torch
from models.yolo import Model
out = {}
for f in sys.argv[1:]:
    with torch.no_grad():
        m = Model(f, ch=3)
    out[f] = {"params": sum(p.numel() for p in m.parameters()),
              "per_layer": [sum(p.numel() for p in l.parameters()) for l in m.model]}
print("JSON" + json.dumps(out))
"""


def git(*a):
    return subprocess.run(["git", "-C", os.environ["YOLOV5_GIT"], *a], capture_output=True, text=True, check=True).stdout


def tag_files(tag):
    return [f for f in git("ls-tree", "-r", "--name-only", tag, "models").split() if f.endswith(".yaml")]


def same_document(tag, f):
    try:
        return yaml.safe_load(git("show", f"{tag}:{f}")) == yaml.safe_load(Path(PKG_MODELS, f[7:]).read_text())
    except (yaml.YAMLError, OSError):
        return False


wanted = {}
if "YOLOV5_GIT" not in os.environ:
    raise SystemExit("set YOLOV5_GIT to a clone of https://github.com/ultralytics/yolov5 (with its tags)")
for tag in ("v6.1", "v6.2"):
    assert all(same_document(tag, f) for f in tag_files(tag) if "anchors.yaml" not in f), tag
wanted["v6.0"] = [f for f in tag_files("v6.0") if "anchors.yaml" not in f and not same_document("v6.0", f)]
for tag in ("v2.0", "v3.0", "v3.1", "v4.0", "v5.0"):
    wanted[tag] = [f"models/yolov5{s}.yaml" for s in "smlx"]
tag_configs = {}
for tag, files in wanted.items():
    files = [f for f in files if not opts.only or opts.only in f"{tag}:{f}"]
    if not files:
        continue
    with tempfile.TemporaryDirectory() as tree:
        subprocess.run(f"git -C {os.environ['YOLOV5_GIT']} archive {tag} models utils | tar -x -C {tree}",
                       shell=True, check=True)
        buildable = []
        for f in files:
            try:
                yaml.safe_load(Path(tree, f).read_text())
                buildable.append(f)
            except yaml.YAMLError as exc:  # v6.0's hub/yolov5-bifpn.yaml: its own repository cannot read it
                tag_configs[f"{tag}:{f}"] = {"unreadable": " ".join(str(exc).split())[:80]}
        run = subprocess.run([sys.executable, "-c", TAG_PROBE, *buildable], cwd=tree, capture_output=True, text=True,
                             env={**os.environ, "RANK": "1"})
        line = [x for x in run.stdout.splitlines() if x.startswith("JSON")]
        assert line, run.stderr[-2000:]
        for f, entry in json.loads(line[0][4:]).items():
            entry["same_with_7.0"] = build7(os.path.join(tree, f)) == entry
            tag_configs[f"{tag}:{f}"] = entry

PUBLISHED = {  # README / pytorch.org hub table (rounded; copied by hand, not measured)
    "yolov5n": {"params_M": 1.9, "gflops": 4.5},
    "yolov5s": {"params_M": 7.2, "gflops": 16.5},
}
c.finish(
    "Reference figures for the YOLOv5 *repository* YAML dialect (literal data, no YOLOv5 code). "
    "Written by scripts/y5_repo.py; see README.md here.",
    "yolov5_repo.py",
    [("", "YOLOV5_REPO", repo, "indented"),
     ("Per-layer table as the repo printed it: (index, from, n after depth gain, params, module, constructor args)",
      "ARGS", table, "indented"),
     ("", "PUBLISHED", PUBLISHED, "line"),
     ("Every YAML of the package (models/..., = the repository's v6.1-v7.0 files): the 7.0 code's counts",
      "CONFIGS", configs, "line"),
     ("Older tags' YAMLs, built by that tag's own code (same_with_7.0: every layer equal with the 7.0 code)",
      "TAG_CONFIGS", tag_configs, "line")],
    opts,
)

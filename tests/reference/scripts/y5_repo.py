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
from copy import deepcopy
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
     ("", "PUBLISHED", PUBLISHED, "line")],
    opts,
)

"""Legacy GFLOPs recipe (Ultralytics <=8.2 get_flops with PyPI thop 0.1.1) applied to Ultralytics 8.4.190 models."""
import os, sys, json, logging, glob
os.environ["YOLO_OFFLINE"] = "1"
from copy import deepcopy
import torch
torch.set_num_threads(1)
import thop
assert thop.__file__.startswith("/work/scratch/y5v"), thop.__file__
from ultralytics.utils import LOGGER
LOGGER.setLevel(logging.ERROR)
from ultralytics.nn.tasks import DetectionModel, SegmentationModel, PoseModel, OBBModel, ClassificationModel, yaml_model_load
import ultralytics
ROOT = os.path.join(os.path.dirname(ultralytics.__file__), "cfg/models")
HEAD = {"Detect": DetectionModel, "v10Detect": DetectionModel, "Segment": SegmentationModel, "Pose": PoseModel, "OBB": OBBModel, "Classify": ClassificationModel}
ref = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'ultralytics-8.4.190-smallest-scales.json')))['records']
jobs = [(r['cfg'], r['scale']) for r in ref] + [("v10/yolov10m.yaml", "m"), ("v8/yolov8.yaml", "x"), ("v10/yolov10n.yaml", "n")]
out = {}
def legacy(model, imgsz):
    p = next(model.parameters())
    stride = max(int(model.stride.max()), 32) if hasattr(model, "stride") else 32
    try:
        im = torch.empty((1, p.shape[1], stride, stride))
        flops = thop.profile(deepcopy(model), inputs=[im], verbose=False)[0] / 1e9 * 2
        return flops * imgsz[0] / stride * imgsz[1] / stride, stride
    except Exception as e:
        im = torch.empty((1, p.shape[1], *imgsz))
        return thop.profile(deepcopy(model), inputs=[im], verbose=False)[0] / 1e9 * 2, repr(e)[:100]
for cfg, scale in jobs:
    d = yaml_model_load(f"{ROOT}/{cfg}"); d["scale"] = scale
    m = HEAD[d["head"][-1][2]](cfg=d, verbose=False)
    for imgsz in ([640, 640], [320, 480]):
        g, s = legacy(m, imgsz)
        out[f"{cfg}|{scale}|{imgsz[0]}x{imgsz[1]}"] = {"gflops": g, "proxy": s}
        print(cfg, scale, imgsz, g, s, flush=True)
json.dump(out, open("legacy_ul84_thop011.json", "w"), indent=1)

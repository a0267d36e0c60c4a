"""GFLOPs printed by Ultralytics 8.2.20 (get_flops with PyPI thop 0.1.1), its own YAMLs."""
import os, sys, json, logging, io
os.environ["YOLO_OFFLINE"] = "1"
import torch
torch.set_num_threads(1)
import thop, ultralytics
assert thop.__file__.startswith("/work/scratch/ul82"), thop.__file__
from ultralytics.utils import LOGGER
from ultralytics.utils.torch_utils import get_flops
from ultralytics.nn.tasks import DetectionModel, SegmentationModel, PoseModel, OBBModel, ClassificationModel, yaml_model_load
ROOT = os.path.join(os.path.dirname(ultralytics.__file__), "cfg/models")
HEAD = {"Detect": DetectionModel, "Segment": SegmentationModel, "Pose": PoseModel, "OBB": OBBModel, "Classify": ClassificationModel}
ref = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'ultralytics-8.4.190-smallest-scales.json')))['records']
jobs = [(r['cfg'], r['scale']) for r in ref if os.path.exists(f"{ROOT}/{r['cfg']}")] + [("v8/yolov8.yaml", "x")]
buf = io.StringIO(); LOGGER.addHandler(logging.StreamHandler(buf))
out = {}
for cfg, scale in jobs:
    d = yaml_model_load(f"{ROOT}/{cfg}"); d["scale"] = scale
    if d["head"][-1][2] not in HEAD: continue
    buf.truncate(0); buf.seek(0)
    try:
        m = HEAD[d["head"][-1][2]](cfg=d, verbose=True)
    except Exception as e:
        print("FAIL", cfg, repr(e)[:200]); continue
    summary = [l for l in buf.getvalue().splitlines() if "summary" in l]
    g640 = get_flops(m, 640); g = get_flops(m, [320, 480])
    out[f"{cfg}|{scale}"] = {"gflops_640": g640, "gflops_320x480": g, "params": sum(p.numel() for p in m.parameters()), "summary": summary}
    print(cfg, scale, g640, g, summary, flush=True)
json.dump(out, open("legacy_ul8220.json", "w"), indent=1)

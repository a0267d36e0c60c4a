"""Ultralytics 8.4.190 get_flops (ultralytics-thop 2.2.3) at other sizes/scales."""
import os, json, logging
os.environ["YOLO_OFFLINE"] = "1"
import torch
torch.set_num_threads(1)
import thop, ultralytics
assert "ulv" in thop.__file__ and thop.__version__ == "2.2.3", thop.__file__
from ultralytics.utils import LOGGER
LOGGER.setLevel(logging.ERROR)
from ultralytics.utils.torch_utils import get_flops
from ultralytics.nn.tasks import DetectionModel, SegmentationModel, PoseModel, OBBModel, ClassificationModel, yaml_model_load
ROOT = os.path.join(os.path.dirname(ultralytics.__file__), "cfg/models")
HEAD = {"Detect": DetectionModel, "v10Detect": DetectionModel, "Segment": SegmentationModel, "Pose": PoseModel, "OBB": OBBModel, "Classify": ClassificationModel}
ref = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'ultralytics-8.4.190-smallest-scales.json')))['records']
jobs = [(r['cfg'], r['scale'], [320, 480]) for r in ref if "p6" not in r['cfg']]
jobs += [("v8/yolov8.yaml", "x", [640, 640]), ("11/yolo11.yaml", "x", [640, 640]), ("12/yolo12.yaml", "s", [640, 640]), ("v10/yolov10m.yaml", "m", [384, 640]), ("12/yolo12.yaml", "n", [1280, 1280])]
out = {}
for cfg, scale, sz in jobs:
    d = yaml_model_load(f"{ROOT}/{cfg}"); d["scale"] = scale
    m = HEAD[d["head"][-1][2]](cfg=d, verbose=False)
    g = get_flops(m, sz)
    out[f"{cfg}|{scale}|{sz[0]}x{sz[1]}"] = g
    print(cfg, scale, sz, g, flush=True)
json.dump(out, open("ul84_sizes.json", "w"), indent=1)

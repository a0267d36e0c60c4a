"""Ultralytics 8.4.190 get_flops on RT-DETR configs (not in ultralytics-8.4.190-smallest-scales.json)."""
import os, json, logging
os.environ["YOLO_OFFLINE"] = "1"
import torch
torch.set_num_threads(1)
import thop, ultralytics
assert thop.__version__ == "2.2.3"
from ultralytics.utils import LOGGER
LOGGER.setLevel(logging.ERROR)
from ultralytics.utils.torch_utils import get_flops
from ultralytics.nn.tasks import RTDETRDetectionModel, yaml_model_load
ROOT = os.path.join(os.path.dirname(ultralytics.__file__), "cfg/models")
out = {}
for cfg, sz in [("rt-detr/rtdetr-l.yaml", [320, 320]), ("rt-detr/rtdetr-l.yaml", [640, 640])]:
    d = yaml_model_load(f"{ROOT}/{cfg}")
    m = RTDETRDetectionModel(cfg=d, verbose=False)
    g = get_flops(m, sz)
    out[f"{cfg}|{sz[0]}x{sz[1]}"] = {"gflops": g, "params": sum(p.numel() for p in m.parameters())}
    print(cfg, sz, g, flush=True)
json.dump(out, open("ul84_rtdetr.json", "w"), indent=1)

"""Ultralytics 8.4.190 ``model.info()`` layer counts of the RTDETRDecoder configs: the deduplicated leaf-module count
it prints as "layers" (named_modules() without children; a module instance shared by several blocks counts once).
tests/reference/ultralytics_layers.py keeps them as literals.

Run: YOLO_OFFLINE=1 /work/scratch/ulv/bin/python tests/reference/scripts/ul84_rtdetr_layers.py [--types]
It prints the RTDETR_LAYERS dict; ``--types`` also prints the leaf-module count per class (to find which instances
are shared).
"""

import collections
import logging
import os
import sys

os.environ["YOLO_OFFLINE"] = "1"
import torch  # noqa: E402

torch.set_num_threads(1)
import ultralytics  # noqa: E402
from ultralytics.nn.tasks import RTDETRDetectionModel, yaml_model_load  # noqa: E402
from ultralytics.utils import LOGGER  # noqa: E402

assert ultralytics.__version__ == "8.4.190", ultralytics.__version__
LOGGER.setLevel(logging.ERROR)
ROOT = os.path.join(os.path.dirname(ultralytics.__file__), "cfg/models")
CONFIGS = [("rt-detr/rtdetr-l.yaml", None), ("rt-detr/rtdetr-x.yaml", None), ("rt-detr/rtdetr-resnet50.yaml", None),
           ("rt-detr/rtdetr-resnet101.yaml", None)] + [("v8/yolov8-rtdetr.yaml", s) for s in "nsmlx"]
print("RTDETR_LAYERS = {  # (config, scale): (layers, params) as model.info() returns them")
for cfg, scale in CONFIGS:
    d = yaml_model_load(os.path.join(ROOT, cfg))
    if scale:
        d["scale"] = scale
    model = RTDETRDetectionModel(cfg=d, verbose=False)
    n_layers, n_params, *_ = model.info(verbose=True)  # verbose=False returns nothing; LOGGER is quiet
    assert n_params == sum(p.numel() for p in model.parameters())
    print(f"    ({cfg!r}, {scale!r}): ({n_layers}, {n_params}),", flush=True)
    if "--types" in sys.argv:
        kinds = collections.Counter(type(m).__name__ for m in model.modules() if not m._modules)
        print("    #", dict(sorted(kinds.items())))
print("}")

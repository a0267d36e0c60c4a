"""Regenerates ../ultralytics_params.py (DEFAULT_NC, PARAMS, RTDETR) from the installed Ultralytics package.

For every YAML in cfg/models/{v3,v5,v6,v8,v9,v10,11,12,rt-detr}/ whose last head row is Detect, v10Detect, Segment,
Pose, OBB, Classify (-> PARAMS) or RTDETRDecoder (-> RTDETR), and every key of its `scales` (None: no `scales`):
build <Task>Model(cfg=d, verbose=False) with the YAML's own nc, then per-layer and total parameter counts, the
YAML module names and model.info(imgsz=640)'s unrounded GFLOPs (freshly built, i.e. train mode, not fused).

    YOLO_OFFLINE=1 /work/scratch/ulv/bin/python tests/reference/scripts/ul84_params.py --check [--only v8/yolov8.yaml]
"""

import _common as c

opts = c.args(__doc__)
c.quiet_ultralytics()
import ultralytics  # noqa: E402

assert ultralytics.__version__ == "8.4.190", ultralytics.__version__

DIRS = ["v3", "v5", "v6", "v8", "v9", "v10", "11", "12", "rt-detr"]
default_nc, params, rtdetr = {}, {}, {}
for cfg in c.yaml_files(DIRS):
    if opts.only and opts.only not in cfg:
        continue
    d0 = c.load(cfg, None)
    cls = c.model_class(d0)
    if cls is None:  # YOLOE / World heads
        continue
    default_nc[cfg] = d0["nc"]
    for scale in c.scales_of(d0):
        d = c.offline_torchvision(c.load(cfg, scale))
        model = cls(cfg=d, verbose=False)
        per_layer = [sum(p.numel() for p in m.parameters()) for m in model.model]
        total = sum(p.numel() for p in model.parameters())
        info = model.info(imgsz=640)  # (layers, params, gradients, GFLOPs)
        assert total == info[1] == sum(per_layer), cfg
        entry = {"params": total, "gflops": info[3], "per_layer": per_layer,
                 "types": [m.type.split(".")[-1] for m in model.model]}
        (rtdetr if c.head_name(d) == "RTDETRDecoder" else params)[(cfg, scale)] = entry

c.finish(
    "Reference figures from the real Ultralytics package (literal data, no Ultralytics code). "
    "Written by scripts/ul84_params.py; see README.md here.",
    "ultralytics_params.py",
    [("YAML -> its default `nc` (used for every entry; no nc override)", "DEFAULT_NC", default_nc, "line"),
     ("(yaml path relative to ultralytics/cfg/models, scale or None) -> figures", "PARAMS", params, "indented"),
     ("RT-DETR configs, built with ultralytics.nn.tasks.RTDETRDetectionModel, same fields", "RTDETR", rtdetr, "indented")],
    opts,
)

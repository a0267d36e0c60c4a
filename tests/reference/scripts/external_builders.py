"""The README's `--builder` figures: each YAML built by the user's own code directly (their model's
``sum(p.numel())``, per layer) and through ``archscope.profile(..., builder=...)``; prints both and exits 1 on any
difference. Needs the real code, so it is not part of the tests (CI has none of it).

    YOLO_OFFLINE=1 PYTHONPATH=. /work/scratch/ulv/bin/python tests/reference/scripts/external_builders.py \\
        ultralytics yolo11n.yaml yolov8s-seg.yaml yolo26n-pose.yaml yolov8n-cls.yaml rtdetr-l.yaml yolo11n-obb.yaml
    # a repository (extract the mirror first: git -C /work/.mirror/WongKinYiu+yolov7/repo archive HEAD | tar -x -C
    # /tmp/y7; a scratch venv with torch==2.13.0, pyyaml, tqdm, pandas, seaborn, matplotlib, scipy, opencv, ipython,
    # setuptools<70, and a torchvision stand-in where the wheel does not match torch):
    PYTHONPATH=.:/work/scratch/forks/standins /work/scratch/forks/bin/python tests/reference/scripts/external_builders.py \\
        yolov7:/tmp/y7 /tmp/y7/cfg/training/yolov7.yaml
    ... yolov9:/tmp/y9 /tmp/y9/models/detect/yolov9-c.yaml

Recorded 2026-12-01: ultralytics 8.4.190 equal to archscope's native build for all six above (and yolov5n, yolov9c);
yolov7.yaml 37,622,682 (their "Model Summary: 415 layers, 37622682 parameters"); yolov9-c.yaml 51,182,080 (their
"yolov9-c summary: 962 layers, 51182080 parameters").
"""

import os
import sys

import archscope
from archscope.build.external import _their_modules, parse_builder

builder, *cfgs = sys.argv[1:]
chosen = parse_builder(builder)
failed = False
for cfg in cfgs:
    report = archscope.profile(cfg, builder=builder)
    if chosen.kind == "ultralytics":
        from ultralytics.nn import tasks

        d = tasks.yaml_model_load(cfg)
        from archscope.build.external import _ultralytics_class

        model = _ultralytics_class(tasks, d, cfg)(d, verbose=False)
    else:
        with _their_modules(chosen.path, ("models", "utils")):
            sys.path.insert(0, chosen.path)
            from models.yolo import Model

            model = Model(cfg, ch=3)
    per_layer = [sum(p.numel() for p in m.parameters()) for m in model.model]
    ours = [layer.params for layer in report.layers]
    same = per_layer == ours and sum(p.numel() for p in model.parameters()) == report.totals.params
    failed |= not same
    print(f"{os.path.basename(cfg)}: theirs {sum(per_layer):,} archscope {report.totals.params:,} "
          f"{'equal per layer' if same else 'DIFFERENT'}; archscope GFLOPs {report.totals.flops / 1e9:.2f}")
sys.exit(1 if failed else 0)

"""Regenerates ../ultralytics-8.4.190-smallest-scales.json with Ultralytics 8.4.190 (and ultralytics-thop 2.2.3).

For the smallest scale (the first `scales` key; None: no `scales`) of every YAML in cfg/models/{v3,v5,v6,v8,v9,v10,
11,12}/ whose head is Detect, v10Detect, Segment, Pose, OBB or Classify (no RT-DETR, YOLOE/World or TorchVision
configs: 43 configs), with the YAML's own nc, in eval mode, not fused: model.info(imgsz=640) (params, layers,
unrounded GFLOPs); forward hooks and torch.utils.flop_counter.FlopCounterMode on one torch.no_grad() forward of
torch.randn(1, 3, 640, 640): each layer's output shape (nested for heads) and FLOPs (the counter's running total
before and after model.model[i]), the total and the total by aten op.

    YOLO_OFFLINE=1 /work/scratch/ulv/bin/python tests/reference/scripts/ul84_smallest_scales_json.py --check [--only v8/]
    (--out FILE writes the JSON; without --out/--check it is printed.)
"""

import json
import sys

import _common as c

opts = c.args(__doc__)
c.quiet_ultralytics()
import thop  # noqa: E402
import torch  # noqa: E402
import ultralytics  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from ultralytics.nn.tasks import guess_model_task  # noqa: E402

assert ultralytics.__version__ == "8.4.190" and thop.__version__ == "2.2.3", (ultralytics.__version__, thop.__version__)

SOURCE = ("ultralytics 8.4.190 model.info(imgsz=640) with ultralytics-thop 2.2.3; FlopCounterMode (torch "
          f"{torch.__version__.split('+')[0]}) on one real 1x3x640x640 forward under no_grad; default nc of each YAML; "
          "eval mode, not fused")
FIELDS = {
    "cfg": "path of the YAML inside the ultralytics package's cfg/models/",
    "scale": "scale used (null: the YAML has no scales)",
    "params": "total trainable+frozen parameters as model.info prints",
    "per_layer_params": "params of model.model[i]",
    "per_layer_out_shape": "output shape of model.model[i] at 640 (heads: nested)",
    "ultralytics_gflops": "GFLOPs that model.info prints, unrounded",
    "fcm_flops": "FlopCounterMode total (2 per multiply-add)",
    "fcm_per_layer_flops": "FlopCounterMode per model.model[i]",
    "layers": "leaf-module count that 8.4.190 prints",
}


def record(cfg):
    d = c.load(cfg, None)
    scale = c.scales_of(d)[0]
    d = c.load(cfg, scale)
    model = c.model_class(d)(cfg=d, verbose=False).eval()
    n_layers, n_params, _, gflops = model.info(imgsz=640)
    out, flops = {}, {}
    with FlopCounterMode(display=False) as fcm:
        def before(i):
            def hook(module, inputs):
                flops[i] = -fcm.get_total_flops()
            return hook

        def after(i):
            def hook(module, inputs, y):  # returns None: the output is left as it is
                out[i] = c.shape_of(y)
                flops[i] += fcm.get_total_flops()
            return hook

        for i, m in enumerate(model.model):
            m.register_forward_pre_hook(before(i))
            m.register_forward_hook(after(i))
        with torch.no_grad():
            model(torch.randn(1, 3, 640, 640))
    n = len(model.model)
    return {
        "cfg": cfg, "scale": scale, "task": guess_model_task(d), "nc": d["nc"], "params": n_params,
        "per_layer_params": [sum(p.numel() for p in m.parameters()) for m in model.model],
        "per_layer_type": [m.type.split(".")[-1] for m in model.model],
        "per_layer_from": [m.f for m in model.model],
        "per_layer_out_shape": [out[i] for i in range(n)],
        "ultralytics_gflops": gflops, "fcm_flops": fcm.get_total_flops(),
        "fcm_per_layer_flops": [flops[i] for i in range(n)],
        "fcm_by_op": {str(k).split(".")[-1]: v for k, v in fcm.get_flop_counts()["Global"].items()},
        "layers": n_layers,
    }


configs = []
for cfg in sorted(c.yaml_files(["v3", "v5", "v6", "v8", "v9", "v10", "11", "12"])):
    d = c.load(cfg, None)
    rows = d.get("backbone", []) + d.get("head", [])
    if c.head_name(d) != "RTDETRDecoder" and c.model_class(d) and not any(r[2] == "TorchVision" for r in rows):
        configs.append(cfg)
records = [record(cfg) for cfg in configs if not opts.only or opts.only in cfg]

if opts.check:
    committed = {(r["cfg"], r["scale"]): r for r in json.loads(c.JSON_REFERENCE.read_text())["records"]}
    bad = 0
    for r in records:
        old = committed.get((r["cfg"], r["scale"]))
        fields = [k for k in r if old is None or old.get(k) != r[k]]
        if fields:
            bad += 1
            print(f"{r['cfg']}:{r['scale']}: differs in {fields}")
    print(f"records: {len(records)} measured, {len(records) - bad} equal the committed ones")
    sys.exit(1 if bad else 0)
text = json.dumps({"source": SOURCE, "fields": FIELDS, "records": records}, indent=1)
if opts.out:
    open(opts.out, "w").write(text)
else:
    print(text)

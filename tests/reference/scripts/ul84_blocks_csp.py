"""Regenerates ../blocks_csp_params.py (TYPES, PARAMS, SHAPES_384x640, HEAD_OUT, TOTAL) with Ultralytics 8.4.190.

Configs: v3/*, v5/yolov5.yaml, v5/yolov5-p6.yaml, v6/yolov6.yaml, v8/yolov8*.yaml except world/worldv2/rtdetr, v9/*.
* PARAMS, TYPES: for every scale (None: no `scales`), parse_model(d, ch=3, verbose=False) under torch.device("meta");
  PARAMS = [m.np for m in layers] (the "params" column Ultralytics prints), TYPES = the module type names.
* SHAPES_384x640: at the smallest scale, every layer before the head on torch.empty(1, 3, 384, 640) (meta), routed
  by m.f as Ultralytics' _predict_once does.
* HEAD_OUT: first element of <Task>Model(d).eval()(torch.zeros(1, 3, H, W)) at 640x640 and 384x640; TOTAL: all
  parameters; both for the first and last scale (n and x; None when there are no scales).

    YOLO_OFFLINE=1 /work/scratch/ulv/bin/python tests/reference/scripts/ul84_blocks_csp.py --check [--only v9/yolov9t]
"""

import copy

import _common as c

opts = c.args(__doc__)
c.quiet_ultralytics()
import torch  # noqa: E402
import ultralytics  # noqa: E402
from ultralytics.nn.tasks import parse_model  # noqa: E402

assert ultralytics.__version__ == "8.4.190", ultralytics.__version__

CONFIGS = (c.yaml_files(["v3"]) + ["v5/yolov5.yaml", "v5/yolov5-p6.yaml", "v6/yolov6.yaml"]
           + [f for f in c.yaml_files(["v8"]) if f.startswith("v8/yolov8")
              and not any(w in f for w in ("world", "rtdetr"))] + c.yaml_files(["v9"]))


def backbone_shapes(layers, size):
    y, x = [], torch.empty(1, 3, *size, device="meta")
    for m in layers[:-1]:
        if m.f != -1:
            x = y[m.f] if isinstance(m.f, int) else [x if j == -1 else y[j] for j in m.f]
        x = m(x)
        y.append(x)
    return [c.shape_of(t) for t in y]


types, params, shapes, head_out, total = {}, {}, {}, {}, {}
for cfg in CONFIGS:
    if opts.only and opts.only not in cfg:
        continue
    scales = c.scales_of(c.load(cfg, None))
    for scale in scales:
        d = c.load(cfg, scale)
        with torch.device("meta"):
            layers, _ = parse_model(copy.deepcopy(d), ch=3, verbose=False)
        params[(cfg, scale)] = [m.np for m in layers]
        types.setdefault(cfg, [m.type.split(".")[-1] for m in layers])
        if scale == scales[0]:
            with torch.no_grad():
                shapes[(cfg, scale)] = backbone_shapes(layers, (384, 640))
    for scale in sorted({scales[0], scales[-1]}, key=scales.index):
        d = c.load(cfg, scale)
        model = c.model_class(d)(cfg=d, verbose=False).eval()
        total[(cfg, scale)] = sum(p.numel() for p in model.parameters())
        for size in [(640, 640), (384, 640)]:
            with torch.no_grad():
                y = model(torch.zeros(1, 3, *size))
            head_out[(cfg, scale, size)] = c.shape_of(y if isinstance(y, torch.Tensor) else y[0])

c.finish(
    "Ultralytics 8.4.190 figures for the configs built from archscope's conv / CSP / GELAN blocks (literal data only). "
    "Written by scripts/ul84_blocks_csp.py; see README.md here.",
    "blocks_csp_params.py",
    [("", "TYPES", types, "line"), ("", "PARAMS", params, "line"), ("", "SHAPES_384x640", shapes, "line"),
     ("", "HEAD_OUT", head_out, "line"), ("", "TOTAL", total, "line")],
    opts,
)

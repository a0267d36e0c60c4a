"""Regenerates ../ultralytics_yoloe_world.py (DEFAULT_NC, PARAMS, SHAPES) from the installed Ultralytics package.

For every scale of v8/yoloe-v8.yaml, v8/yoloe-v8-seg.yaml, 11/yoloe-11.yaml, 11/yoloe-11-seg.yaml, 26/yoloe-26.yaml,
26/yoloe-26-seg.yaml (built with ultralytics.nn.tasks.YOLOEModel / YOLOESegModel) and v8/yolov8-world.yaml,
v8/yolov8-worldv2.yaml (WorldModel), with the YAML's own nc: per-layer and total parameter counts, the YAML module
names, model.info(imgsz=640)'s leaf-module count ("layers") and unrounded GFLOPs (freshly built, train mode, not
fused). Building these models downloads nothing: the CLIP / MobileCLIP text encoders are only loaded by set_classes
/ get_text_pe, which are never called. model.info's GFLOPs run the models' own forward with their default prompt
input: WorldModel's placeholder txt_feats (1, nc, 512) and YOLOEModel's default class embeddings (1, 80, 512) (no
text or visual prompt, so the head's reprta and savpe do not run).

SHAPES: per-layer output shapes of one eval-mode torch.no_grad() forward of torch.randn(1, 3, 384, 640), with
forward hooks on every model.model[i] (for the head only the first element of its eval output: [1, 4+nc, N], or for
the segment heads [[1, 4+nc+32, N], [1, 32, 96, 160]]; ImagePoolingAttn's hook sees the text embeddings it returns).

    YOLO_OFFLINE=1 /work/scratch/ulv/bin/python tests/reference/scripts/ul84_yoloe_world.py --check [--only world]
"""

import _common as c

opts = c.args(__doc__)
c.quiet_ultralytics()
import torch  # noqa: E402
import ultralytics  # noqa: E402
from ultralytics.nn import tasks  # noqa: E402

assert ultralytics.__version__ == "8.4.190", ultralytics.__version__

CONFIGS = ["v8/yoloe-v8.yaml", "v8/yoloe-v8-seg.yaml", "11/yoloe-11.yaml", "11/yoloe-11-seg.yaml",
           "v8/yolov8-world.yaml", "v8/yolov8-worldv2.yaml", "26/yoloe-26.yaml", "26/yoloe-26-seg.yaml"]
MODEL = {"YOLOEDetect": tasks.YOLOEModel, "YOLOESegment": tasks.YOLOESegModel, "YOLOESegment26": tasks.YOLOESegModel,
         "WorldDetect": tasks.WorldModel}
SIZE = (384, 640)


def first(y):
    return c.shape_of(y) if isinstance(y, torch.Tensor) else c.shape_of(y[0])


default_nc, params, shapes = {}, {}, {}
for cfg in CONFIGS:
    if opts.only and opts.only not in cfg:
        continue
    d0 = c.load(cfg, None)
    default_nc[cfg] = d0["nc"]
    for scale in c.scales_of(d0):
        d = c.load(cfg, scale)
        model = MODEL[c.head_name(d)](cfg=d, verbose=False)
        per_layer = [sum(p.numel() for p in m.parameters()) for m in model.model]
        total = sum(p.numel() for p in model.parameters())
        info = model.info(imgsz=640)  # (layers, params, gradients, GFLOPs)
        assert total == info[1] == sum(per_layer), cfg
        params[(cfg, scale)] = {"params": total, "layers": info[0], "gflops": info[3], "per_layer": per_layer,
                                "types": [m.type.split(".")[-1] for m in model.model]}
        model.eval()
        seen = {}
        for i, m in enumerate(model.model):
            m.register_forward_hook(lambda mod, inp, out, i=i, seen=seen: seen.__setitem__(i, out))
        with torch.no_grad():
            model(torch.randn(1, 3, *SIZE))
        last = len(model.model) - 1
        shapes[(cfg, scale, SIZE)] = [c.shape_of(seen[i]) if i < last else first(seen[i]) for i in range(last + 1)]

c.finish(
    "YOLOE and YOLO-World reference figures from the real Ultralytics package (literal data, no Ultralytics code). "
    "Written by scripts/ul84_yoloe_world.py; see README.md here.",
    "ultralytics_yoloe_world.py",
    [("YAML -> its default `nc` (used for every entry; no nc override)", "DEFAULT_NC", default_nc, "line"),
     ("(yaml path relative to ultralytics/cfg/models, scale) -> figures", "PARAMS", params, "indented"),
     ("(yaml, scale, (H, W)) -> per-layer output shapes of an eval forward", "SHAPES", shapes, "indented")],
    opts,
)

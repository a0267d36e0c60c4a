"""Regenerates ../ultralytics_yolo26.py (YOLO26, GFLOPS_640): every YOLO26 config of Ultralytics 8.4.190, every scale.

For every YAML in cfg/models/26/ except yoloe-* (YOLOE is not built here), plus 11/yolo11-cls-resnet18.yaml (the
shipped TorchVision config, built with weights=None: offline, random init, same counts), and every key of its
`scales`: build <Task>Model(cfg=d, verbose=False) with the YAML's own nc (DetectionModel, SegmentationModel,
PoseModel, OBBModel, ClassificationModel, DepthModel, SemanticSegmentationModel by head), then

* "params" / "per_layer" / "types": total and per-layer parameter counts and YAML module names, freshly built;
* "layers": the leaf-module count that model.info() prints (first field of its return value);
* "shapes_384x640" (classifiers: "shapes_224x224"): .eval(), forward hooks on every model.model[i], one
  torch.no_grad() forward of torch.randn(1, 3, H, W); entry i = the shape of layer i's output, for the head only the
  first element of its eval output (Detect/Pose26/OBB26 [1, C, N]; Segment26 [[1, 4+nc+32, N], [1, 32, H/4, W/4]];
  Depth [1, 1, H/4, W/4]; SemanticSegment [1, nc, H/8, W/8]; Classify [1, nc]).

BLOCKS: two small hand-written models (CUSTOM below, written here, not shipped by Ultralytics) that put the 8.4.190
blocks no shipped non-YOLOE config uses through parse_model: Conv2 (a row's args as written), C3TR, C3k2 with
attn=True, a Detect with end2end/reg_max from the top-level keys, and TorchVision(split=True) + Index. Same fields,
shapes at 256x256.

GFLOPS_640: for the first scale of each config, model.eval().info(imgsz=640)'s unrounded GFLOPs (eval mode, not fused,
ultralytics-thop 2.2.3), the convention of ../ultralytics-8.4.190-smallest-scales.json.

    YOLO_OFFLINE=1 /work/scratch/ulv/bin/python tests/reference/scripts/ul84_yolo26.py --check [--only 26/yolo26-seg]
"""

import _common as c

opts = c.args(__doc__)
c.quiet_ultralytics()
import thop  # noqa: E402
import torch  # noqa: E402
import ultralytics  # noqa: E402

assert ultralytics.__version__ == "8.4.190" and thop.__version__ == "2.2.3", (ultralytics.__version__, thop.__version__)

CONFIGS = [cfg for cfg in c.yaml_files(["26"]) if "yoloe" not in cfg] + ["11/yolo11-cls-resnet18.yaml"]


def first(y):
    return c.shape_of(y) if isinstance(y, torch.Tensor) else c.shape_of(y[0])


def shapes(model, size):
    seen, hooks = {}, []
    for i, m in enumerate(model.model):
        hooks.append(m.register_forward_hook(lambda mod, inp, out, i=i: seen.__setitem__(i, out)))
    with torch.no_grad():
        model(torch.randn(1, 3, *size))
    for h in hooks:
        h.remove()
    last = len(model.model) - 1
    return [c.shape_of(seen[i]) if i < last else first(seen[i]) for i in range(last + 1)]


CUSTOM = {
    "blocks-detect": {"nc": 3, "end2end": True, "reg_max": 4, "backbone": [
        [-1, 1, "Conv", [16, 3, 2]], [-1, 1, "Conv2", [16, 16, 3]], [-1, 1, "Conv", [32, 3, 2]],
        [-1, 2, "C3TR", [32]], [-1, 1, "Conv", [64, 3, 2]], [-1, 2, "C3k2", [64, False, 0.5, True]],
        [-1, 1, "Conv", [128, 3, 2]], [-1, 1, "C3k2", [128, True, 0.5, True]]],
        "head": [[[3, 5, 7], 1, "Detect", ["nc"]]]},
    "blocks-torchvision": {"nc": 10, "backbone": [
        [-1, 1, "TorchVision", [512, "resnet18", None, True, 2, True]], [0, 1, "Index", [128, 6]],
        [-1, 1, "Conv2", [128, 128, 3, 2]], [-1, 1, "C3TR", [128]]],
        "head": [[-1, 1, "Classify", ["nc"]]]},
}


def custom(name):
    import copy

    d = copy.deepcopy(CUSTOM[name])
    model = c.model_class(d)(cfg=d, verbose=False)
    entry = {"params": sum(p.numel() for p in model.parameters()),
             "per_layer": [sum(p.numel() for p in m.parameters()) for m in model.model],
             "types": [m.type.split(".")[-1] for m in model.model], "layers": model.info()[0]}
    model.eval()
    entry["shapes_256x256"] = shapes(model, (256, 256))
    return entry


records, gflops = {}, {}
blocks = {name: custom(name) for name in CUSTOM if not opts.only or opts.only in name}
for cfg in CONFIGS:
    if opts.only and opts.only not in cfg:
        continue
    d0 = c.load(cfg, None)
    cls = c.model_class(d0)
    for k, scale in enumerate(c.scales_of(d0)):
        d = c.offline_torchvision(c.load(cfg, scale))
        model = cls(cfg=d, verbose=False)
        per_layer = [sum(p.numel() for p in m.parameters()) for m in model.model]
        total = sum(p.numel() for p in model.parameters())
        n_layers = model.info()[0]
        size = (224, 224) if "cls" in cfg else (384, 640)
        model.eval()
        entry = {"params": total, "per_layer": per_layer, "types": [m.type.split(".")[-1] for m in model.model],
                 "layers": n_layers, f"shapes_{size[0]}x{size[1]}": shapes(model, size)}
        records[(cfg, scale)] = entry
        if k == 0:
            gflops[(cfg, scale)] = model.info(imgsz=640)[3]
        print(cfg, scale, total, n_layers, flush=True, file=c.sys.stderr)

import torchvision  # noqa: E402

c.finish(
    "Reference figures of Ultralytics 8.4.190's YOLO26 configs (and its TorchVision config), from the real package "
    "(literal data, no Ultralytics code).\n\nultralytics==8.4.190, ultralytics-thop 2.2.3, "
    f"torch=={torch.__version__} (CPU), torchvision=={torchvision.__version__}, YOLO_OFFLINE=1. Written by "
    "scripts/ul84_yolo26.py (its docstring gives the exact procedure); see README.md here.\n",
    "ultralytics_yolo26.py",
    [("(yaml path relative to ultralytics/cfg/models, scale) -> figures", "YOLO26", records, "indented"),
     ("(cfg, first scale) -> model.eval().info(imgsz=640) GFLOPs, unrounded", "GFLOPS_640", gflops, "line"),
     ("the hand-written models of scripts/ul84_yolo26.py (CUSTOM, repeated in tests/test_parity_yolo26.py) -> figures",
      "BLOCKS", blocks, "indented")],
    opts,
)

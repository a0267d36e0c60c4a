"""Regenerates ../ultralytics_shapes.py (SHAPES, V10_END2END_HEAD): per-layer output shapes of a real Ultralytics
8.4.190 forward at non-square and small sizes.

<Task>Model(cfg=d, verbose=False).eval() with the YAML's own nc; forward hooks on every model.model[i]; one
torch.no_grad() forward of torch.randn(1, 3, H, W). Entry i = the shape of layer i's output; for the head only the
first element of its eval output (Detect/Pose/OBB/v10Detect: [1, C, N]; Segment: [[1, 4+nc+32, N], [1, 32, H/4,
W/4]]; Classify: [1, nc]). V10_END2END_HEAD: yolov10n's head output with model.end2end = True.

    YOLO_OFFLINE=1 /work/scratch/ulv/bin/python tests/reference/scripts/ul84_shapes.py --check [--only v8/yolov8.yaml]
"""

import _common as c

opts = c.args(__doc__)
c.quiet_ultralytics()
import torch  # noqa: E402
import ultralytics  # noqa: E402

assert ultralytics.__version__ == "8.4.190", ultralytics.__version__

CONFIGS = [("v8/yolov8.yaml", "n"), ("v8/yolov8-seg.yaml", "n"), ("v8/yolov8-pose.yaml", "n"), ("v8/yolov8-obb.yaml", "n"),
           ("v8/yolov8-cls.yaml", "n"), ("11/yolo11.yaml", "n"), ("12/yolo12.yaml", "n"), ("v10/yolov10n.yaml", "n"),
           ("v9/yolov9t.yaml", None), ("v5/yolov5.yaml", "n"), ("v6/yolov6.yaml", "n"), ("v3/yolov3-tiny.yaml", None),
           ("v8/yolov8-p6.yaml", "n")]


def first(y):
    return c.shape_of(y) if isinstance(y, torch.Tensor) else c.shape_of(y[0])


def run(cfg, scale, size, end2end=False):
    d = c.load(cfg, scale)
    model = c.model_class(d)(cfg=d, verbose=False).eval()
    if end2end:
        model.end2end = True
    seen = {}
    for i, m in enumerate(model.model):
        m.register_forward_hook(lambda mod, inp, out, i=i: seen.__setitem__(i, out))
    with torch.no_grad():
        model(torch.randn(1, 3, *size))
    last = len(model.model) - 1
    return [c.shape_of(seen[i]) if i < last else first(seen[i]) for i in range(last + 1)]


shapes, end2end = {}, {}
for cfg, scale in CONFIGS:
    if opts.only and opts.only not in cfg:
        continue
    sizes = [(224, 224), (192, 256)] if "cls" in cfg else [(384, 640), (320, 320)]
    for size in sizes:
        shapes[(cfg, scale, size)] = run(cfg, scale, size)
        if cfg == "v10/yolov10n.yaml":
            end2end[(cfg, scale, size)] = run(cfg, scale, size, end2end=True)[-1]

c.finish(
    "Per-layer output shapes from a real Ultralytics forward pass (literal data, no Ultralytics code). "
    "Written by scripts/ul84_shapes.py; see README.md here.",
    "ultralytics_shapes.py",
    [("", "SHAPES", shapes, "indented"),
     ("v10/yolov10n.yaml head output with model.end2end = True (not the default), first element only",
      "V10_END2END_HEAD", end2end, "line")],
    opts,
)

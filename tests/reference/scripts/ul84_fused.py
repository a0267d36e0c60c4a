"""Regenerates ../ultralytics_fused.py (FUSED) from the installed Ultralytics package: the "summary (fused)" figures.

For every YAML in cfg/models/{v3,v5,v6,v8,v9,v10,11,12,rt-detr}/ whose last head row is Detect, v10Detect, Segment,
Pose, OBB, Classify or RTDETRDecoder, at the first (smallest) key of its `scales` (None: no `scales`), and at every
scale of v8/yolov8.yaml and 11/yolo11.yaml: build <Task>Model(cfg=d, verbose=False) with the YAML's own nc, call
model.fuse(verbose=False) (what validation and prediction do), then record model.info(imgsz=640)'s layers,
parameters and unrounded GFLOPs (the figures of its "summary (fused)" line), the per-layer parameter counts, and the
leaf-module count model.info() gave before fusing ("layers_unfused").

End-to-end heads (v10Detect: a one-to-one branch beside the one-to-many one): Ultralytics 8.4.190's fuse() keeps
the branch the head's `end2end` mode selects and drops the other. `model.end2end = True` first (what `yolo val` and
`yolo predict` do with `nms=False`) keeps the one-to-one branch: the NMS-free deployment, recorded in FUSED.
With the default `nms=None` they set `end2end = False` and the one-to-many branch is kept instead (NMS); that
model's leaf-module count is recorded as "layers_nms" (parameters and GFLOPs are the same: the twins are equal).

    YOLO_OFFLINE=1 /work/scratch/ulv/bin/python tests/reference/scripts/ul84_fused.py --check [--only v10/]
"""

import _common as c

opts = c.args(__doc__)
c.quiet_ultralytics()
import ultralytics  # noqa: E402

assert ultralytics.__version__ == "8.4.190", ultralytics.__version__

DIRS = ["v3", "v5", "v6", "v8", "v9", "v10", "11", "12", "26", "rt-detr"]
ALL_SCALES = ("v8/yolov8.yaml", "11/yolo11.yaml")
fused = {}
for cfg in c.yaml_files(DIRS):
    if opts.only and opts.only not in cfg:
        continue
    d0 = c.load(cfg, None)
    cls = c.model_class(d0)
    if cls is None:  # YOLOE / World heads
        continue
    scales = c.scales_of(d0)
    for scale in scales if cfg in ALL_SCALES else scales[:1]:
        d = c.offline_torchvision(c.load(cfg, scale))
        model = cls(cfg=d, verbose=False)
        layers_unfused = model.info(imgsz=640)[0]  # before fusing
        end_to_end = getattr(model.model[-1], "one2one_cv2", None) is not None
        if end_to_end:
            model.end2end = True  # as `nms=False` does: keep the one-to-one branch
        model.fuse(verbose=False)
        assert model.is_fused(), cfg
        n_l, n_p, _, gflops = model.info(imgsz=640)  # the "summary (fused)" line's figures
        per_layer = [sum(p.numel() for p in m.parameters()) for m in model.model]
        assert n_p == sum(per_layer), cfg
        fused[(cfg, scale)] = {"layers": n_l, "params": n_p, "gflops": gflops, "per_layer": per_layer,
                              "layers_unfused": layers_unfused}
        if end_to_end:  # the default nms=None: end2end False, the one-to-many branch kept
            nms = cls(cfg=c.offline_torchvision(c.load(cfg, scale)), verbose=False)
            nms.end2end = False
            nms.fuse(verbose=False)
            assert nms.model[-1].one2one_cv2 is None and nms.model[-1].cv2 is not None, cfg
            n_nms, p_nms, _, g_nms = nms.info(imgsz=640)
            assert (p_nms, g_nms) == (n_p, gflops), cfg
            fused[(cfg, scale)]["layers_nms"] = n_nms

c.finish(
    "Ultralytics 8.4.190's fused figures (literal data, no Ultralytics code). Written by scripts/ul84_fused.py; "
    "see README.md here.\n\n"
    "Provenance: ultralytics==8.4.190, torch 2.14.1 (CPU), ultralytics-thop 2.2.3, Python 3.11.7, YOLO_OFFLINE=1, no\n"
    "weights. Per entry: d = yaml_model_load(<cfg>); d['scale'] = <scale>; model = <Task>Model(cfg=d, verbose=False);\n"
    "[end-to-end heads: model.end2end = True, as nms=False does;] model.fuse(verbose=False); (layers, params, _,\n"
    "gflops) = model.info(imgsz=640), i.e. the figures of the '<name> summary (fused): L layers, P parameters, G\n"
    "GFLOPs' line (gflops unrounded); per_layer[i] = sum(p.numel() for p in model.model[i].parameters()) after\n"
    "fusing; layers_unfused: model.info()'s layers before fuse(). layers_nms (end-to-end heads only): the\n"
    "leaf-module count of the same model fused with end2end = False (the default nms=None keeps the one-to-many\n"
    "branch); its parameters and GFLOPs are the same.\n",
    "ultralytics_fused.py",
    [("(yaml path relative to ultralytics/cfg/models, scale or None) -> fused figures", "FUSED", fused, "indented")],
    opts,
)

"""Reference figures for the YOLOv5 *repository* YAML dialect (depth_multiple / width_multiple / anchors,
anchor-based Detect, "v6.0" backbone/head layout with 6x6 stem Conv and SPPF). Literal data, no YOLOv5 code.

Provenance
----------
* Code measured: PyPI package `yolov5==7.0.14` (a pip packaging of the ultralytics/yolov5 repository at v7.0;
  its models/yolo.py, models/common.py and utils/torch_utils.py are that repo's), installed with --no-deps into a
  separate scratch venv (/work/scratch/y5v, Python 3.11.7) that reuses torch==2.14.1+cu130 / torchvision==0.29.1 from
  the ultralytics scratch venv, plus pandas, tqdm, seaborn; FLOPs counter = original `thop==0.1.1.post2209072238`
  (what that repo used). Run on CPU, offline.
* YAMLs: the package's own models/yolov5n.yaml and models/yolov5s.yaml (nc 80, 3 anchors per level, v6.0 layout;
  n: depth_multiple 0.33 / width_multiple 0.25, s: 0.33 / 0.50).
* Script: scripts/y5_repo.py (README.md here), run as `/work/scratch/y5v/bin/python tests/reference/scripts/y5_repo.py`:
      model = yolov5.models.yolo.Model("<yaml>", ch=3, nc=80)      # the repo's model class; prints its summary
      per_layer[i] = sum(p.numel() for p in model.model[i].parameters())
      params = sum(p.numel() for p in model.parameters())
  "gflops" re-computes, unrounded, exactly what that repo's model_info() prints: thop.profile on a 1x3x32x32
  (max stride) empty image, x2 / 1e9, scaled by (640/32)**2; "printed" is the repo's own summary line at model
  construction (not fused). "fused" = after model.fuse() (Conv+BN folded), as detect.py / val.py print.
* The repo's "layers" figure is len(list(model.modules())) (containers included): 214 unfused, 157 fused.
* Anchors are registered buffers (not parameters). Detect per-layer params = sum over levels of
  Conv2d(ch_l, na*(nc+5) = 255, 1x1, bias) = 255*(sum(ch)) + 3*255.
* Per-layer constructor args as the repo printed them are kept as comments (ARGS).

Published figures: the ultralytics/yolov5 README "Pretrained Checkpoints" table (v6.0 onward; same table on
https://pytorch.org/hub/ultralytics): YOLOv5n 1.9 M params, 4.5 B FLOPs@640; YOLOv5s 7.2 M params, 16.5 B FLOPs@640
(table values seen via a documentation search, not re-derived; they are rounded and refer to fused models).
The measured values below agree with the params (1,872,157 / 7,235,389; 1,867,405 / 7,225,885 fused). For FLOPs
the repo prints 4.6 / 16.6 at construction and 4.5 / 16.4 after fusing; README's 16.5 for s was not reproduced
with thop 0.1.1 (README FLOPs were produced with older torch/thop versions).
"""

YOLOV5_REPO = {
    'yolov5n': {
        "yaml": 'yolov5n.yaml',
        "nc": 80,
        "imgsz": 640,
        "params": 1872157,
        "gflops": 4.563968000000001,
        "gflops_printed": 4.6,
        "summary_printed": 'YOLOv5n summary: 214 layers, 1872157 parameters, 1872157 gradients, 4.6 GFLOPs',
        "per_layer": [1760, 4672, 4800, 18560, 29184, 73984, 156928, 295424, 296448, 164608, 33024, 0, 0, 90880, 8320, 0, 0, 22912, 36992, 0, 74496, 147712, 0, 296448, 115005],
        "types": ["Conv", "Conv", "C3", "Conv", "C3", "Conv", "C3", "Conv", "C3", "SPPF", "Conv", "Upsample", "Concat", "C3", "Conv", "Upsample", "Concat", "C3", "Conv", "Concat", "C3", "Conv", "Concat", "C3", "Detect"],
        "stride": [8.0, 16.0, 32.0],
        "fused": {"params": 1867405, "gflops": 4.4693504, "gflops_printed": 4.5,
                  "summary_printed": 'YOLOv5n summary: 157 layers, 1867405 parameters, 1867405 gradients, 4.5 GFLOPs'},
    },
    'yolov5s': {
        "yaml": 'yolov5s.yaml',
        "nc": 80,
        "imgsz": 640,
        "params": 7235389,
        "gflops": 16.6252544,
        "gflops_printed": 16.6,
        "summary_printed": 'YOLOv5s summary: 214 layers, 7235389 parameters, 7235389 gradients, 16.6 GFLOPs',
        "per_layer": [3520, 18560, 18816, 73984, 115712, 295424, 625152, 1180672, 1182720, 656896, 131584, 0, 0, 361984, 33024, 0, 0, 90880, 147712, 0, 296448, 590336, 0, 1182720, 229245],
        "types": ["Conv", "Conv", "C3", "Conv", "C3", "Conv", "C3", "Conv", "C3", "SPPF", "Conv", "Upsample", "Concat", "C3", "Conv", "Upsample", "Concat", "C3", "Conv", "Concat", "C3", "Conv", "Concat", "C3", "Detect"],
        "stride": [8.0, 16.0, 32.0],
        "fused": {"params": 7225885, "gflops": 16.436019199999997, "gflops_printed": 16.4,
                  "summary_printed": 'YOLOv5s summary: 157 layers, 7225885 parameters, 7225885 gradients, 16.4 GFLOPs'},
    },
}

# Per-layer table as the repo printed it: (index, from, n after depth gain, params, module, constructor args)
ARGS = {
    'yolov5n': [
        (0, -1, 1, 1760, 'Conv', '[3, 16, 6, 2, 2]'),
        (1, -1, 1, 4672, 'Conv', '[16, 32, 3, 2]'),
        (2, -1, 1, 4800, 'C3', '[32, 32, 1]'),
        (3, -1, 1, 18560, 'Conv', '[32, 64, 3, 2]'),
        (4, -1, 2, 29184, 'C3', '[64, 64, 2]'),
        (5, -1, 1, 73984, 'Conv', '[64, 128, 3, 2]'),
        (6, -1, 3, 156928, 'C3', '[128, 128, 3]'),
        (7, -1, 1, 295424, 'Conv', '[128, 256, 3, 2]'),
        (8, -1, 1, 296448, 'C3', '[256, 256, 1]'),
        (9, -1, 1, 164608, 'SPPF', '[256, 256, 5]'),
        (10, -1, 1, 33024, 'Conv', '[256, 128, 1, 1]'),
        (11, -1, 1, 0, 'Upsample', "[None, 2, 'nearest']"),
        (12, [-1, 6], 1, 0, 'Concat', '[1]'),
        (13, -1, 1, 90880, 'C3', '[256, 128, 1, False]'),
        (14, -1, 1, 8320, 'Conv', '[128, 64, 1, 1]'),
        (15, -1, 1, 0, 'Upsample', "[None, 2, 'nearest']"),
        (16, [-1, 4], 1, 0, 'Concat', '[1]'),
        (17, -1, 1, 22912, 'C3', '[128, 64, 1, False]'),
        (18, -1, 1, 36992, 'Conv', '[64, 64, 3, 2]'),
        (19, [-1, 14], 1, 0, 'Concat', '[1]'),
        (20, -1, 1, 74496, 'C3', '[128, 128, 1, False]'),
        (21, -1, 1, 147712, 'Conv', '[128, 128, 3, 2]'),
        (22, [-1, 10], 1, 0, 'Concat', '[1]'),
        (23, -1, 1, 296448, 'C3', '[256, 256, 1, False]'),
        (24, [17, 20, 23], 1, 115005, 'Detect', '[80, [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]], [64, 128, 256]]'),
    ],
    'yolov5s': [
        (0, -1, 1, 3520, 'Conv', '[3, 32, 6, 2, 2]'),
        (1, -1, 1, 18560, 'Conv', '[32, 64, 3, 2]'),
        (2, -1, 1, 18816, 'C3', '[64, 64, 1]'),
        (3, -1, 1, 73984, 'Conv', '[64, 128, 3, 2]'),
        (4, -1, 2, 115712, 'C3', '[128, 128, 2]'),
        (5, -1, 1, 295424, 'Conv', '[128, 256, 3, 2]'),
        (6, -1, 3, 625152, 'C3', '[256, 256, 3]'),
        (7, -1, 1, 1180672, 'Conv', '[256, 512, 3, 2]'),
        (8, -1, 1, 1182720, 'C3', '[512, 512, 1]'),
        (9, -1, 1, 656896, 'SPPF', '[512, 512, 5]'),
        (10, -1, 1, 131584, 'Conv', '[512, 256, 1, 1]'),
        (11, -1, 1, 0, 'Upsample', "[None, 2, 'nearest']"),
        (12, [-1, 6], 1, 0, 'Concat', '[1]'),
        (13, -1, 1, 361984, 'C3', '[512, 256, 1, False]'),
        (14, -1, 1, 33024, 'Conv', '[256, 128, 1, 1]'),
        (15, -1, 1, 0, 'Upsample', "[None, 2, 'nearest']"),
        (16, [-1, 4], 1, 0, 'Concat', '[1]'),
        (17, -1, 1, 90880, 'C3', '[256, 128, 1, False]'),
        (18, -1, 1, 147712, 'Conv', '[128, 128, 3, 2]'),
        (19, [-1, 14], 1, 0, 'Concat', '[1]'),
        (20, -1, 1, 296448, 'C3', '[256, 256, 1, False]'),
        (21, -1, 1, 590336, 'Conv', '[256, 256, 3, 2]'),
        (22, [-1, 10], 1, 0, 'Concat', '[1]'),
        (23, -1, 1, 1182720, 'C3', '[512, 512, 1, False]'),
        (24, [17, 20, 23], 1, 229245, 'Detect', '[80, [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]], [128, 256, 512]]'),
    ],
}

PUBLISHED = {  # README / pytorch.org hub table (rounded; see header)
    'yolov5n': {'params_M': 1.9, 'gflops': 4.5},
    'yolov5s': {'params_M': 7.2, 'gflops': 16.5},
}

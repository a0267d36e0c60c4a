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

Every official YAML (CONFIGS, TAG_CONFIGS; same script, same venv)
-----------------------------------------------------------------
* CONFIGS: each model YAML of the package (its models/, models/hub/, models/segment/, which are the repository's
  v7.0 files; the v6.1 and v6.2 files parse to the same documents, the script asserts it), built at its own nc
  with ch 3 by the package's Model: total and per-layer parameters (len(per_layer) = the YAML's rows).
* TAG_CONFIGS, keyed "<tag>:<path>": the v6.0 files whose documents differ from v7.0's (8, plus
  hub/yolov5-bifpn.yaml, which at v6.0 is not valid YAML: "unreadable", as it is for that tag's own code) and
  yolov5s/m/l/x.yaml of v2.0, v3.0, v3.1, v4.0 and v5.0, each built by that tag's own models/yolo.py and
  models/common.py (git archive of a clone of github.com/ultralytics/yolov5 at the tag; tags' commits v2.0
  2a149a48d65b, v3.0 1ddf692bf89a, v3.1 c8c5ef36c9a1, v4.0 69be8e738f45, v5.0 f5b8f7d54c9f, v6.0 956be8e642b5).
  "same_with_7.0" is True for every entry: the 7.0 code builds the old files with the same count in every layer.
  The old definitions do differ, but not in parameters: Conv's activation is LeakyReLU(0.1) in v2.0 and v3.0,
  Hardswish in v3.1 and SiLU from v4.0; BottleneckCSP's own activation (after its BN) LeakyReLU(0.1) up to v5.0
  and SiLU in v7.0. v2.0-v3.1 yolov5s/m/l/x use Focus + BottleneckCSP + SPP, v4.0/v5.0 Focus + C3 + SPP; the
  bottleneck is 1x1 then 3x3 in every tag. archscope builds the v7.0 definitions (SiLU) for every file.
* The v4.0 and v5.0 texts are those of PyPI yolov5 4.0.14 and 5.0.10, v6.0's those of 6.0.7 (every YAML of each
  wheel compared once, by hand, as a parsed document with the tag's file: all equal; tests/yolov5_configs.py reads
  them there); v2.0, v3.0 and v3.1 are on no PyPI release (the tests read them from ARCHSCOPE_YOLOV5_GIT, a clone).

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

# Every YAML of the package (models/..., = the repository's v6.1-v7.0 files): the 7.0 code's counts
CONFIGS = {
    'models/hub/yolov3-spp.yaml': {'params': 62998749, 'per_layer': [928, 18560, 20672, 73984, 164608, 295424, 2627584, 1180672, 10498048, 4720640, 20983808, 5245952, 1574912, 4720640, 525312, 4720640, 131584, 0, 0, 1377792, 1312256, 131584, 1180672, 33024, 0, 0, 344832, 656896, 457725]},
    'models/hub/yolov3-tiny.yaml': {'params': 8852366, 'per_layer': [464, 0, 4672, 0, 18560, 0, 73984, 0, 295424, 0, 1180672, 0, 0, 4720640, 262656, 1180672, 33024, 0, 0, 885248, 196350]},
    'models/hub/yolov3.yaml': {'params': 61949149, 'per_layer': [928, 18560, 20672, 73984, 164608, 295424, 2627584, 1180672, 10498048, 4720640, 20983808, 5245952, 525312, 4720640, 525312, 4720640, 131584, 0, 0, 1377792, 1312256, 131584, 1180672, 33024, 0, 0, 344832, 656896, 457725]},
    'models/hub/yolov5-bifpn.yaml': {'params': 46825853, 'per_layer': [7040, 73984, 156928, 295424, 1118208, 1180672, 6433792, 4720640, 9971712, 2624512, 525312, 0, 0, 2757632, 131584, 0, 0, 690688, 590336, 0, 2757632, 2360320, 0, 9971712, 457725]},
    'models/hub/yolov5-fpn.yaml': {'params': 41117565, 'per_layer': [7040, 73984, 156928, 295424, 1118208, 1180672, 6433792, 4720640, 9971712, 2624512, 9971712, 0, 0, 787456, 2495488, 0, 0, 197120, 625152, 457725]},
    'models/hub/yolov5-p2.yaml': {'params': 47493372, 'per_layer': [7040, 73984, 156928, 295424, 1118208, 1180672, 6433792, 4720640, 9971712, 2624512, 525312, 0, 0, 2757632, 131584, 0, 0, 690688, 33024, 0, 0, 90880, 147712, 0, 625152, 590336, 0, 2495488, 2360320, 0, 9971712, 490620]},
    'models/hub/yolov5-p34.yaml': {'params': 5331518, 'per_layer': [3520, 18560, 18816, 73984, 115712, 295424, 625152, 1180672, 1182720, 656896, 131584, 0, 0, 361984, 33024, 0, 0, 90880, 147712, 0, 296448, 98430]},
    'models/hub/yolov5-p6.yaml': {'params': 76770172, 'per_layer': [7040, 73984, 156928, 295424, 1118208, 1180672, 6433792, 3540480, 5611008, 7079936, 9971712, 2624512, 787968, 0, 0, 6200832, 394240, 0, 0, 2757632, 131584, 0, 0, 690688, 590336, 0, 2495488, 2360320, 0, 5807616, 5309952, 0, 10496000, 653820]},
    'models/hub/yolov5-p7.yaml': {'params': 144281723, 'per_layer': [7040, 73984, 156928, 295424, 1118208, 1180672, 6433792, 3540480, 5611008, 7079936, 9971712, 11799040, 15577600, 4099840, 1312768, 0, 0, 11020288, 787968, 0, 0, 6200832, 394240, 0, 0, 2757632, 131584, 0, 0, 690688, 590336, 0, 2495488, 2360320, 0, 5807616, 5309952, 0, 10496000, 9439232, 0, 16560640, 980475]},
    'models/hub/yolov5-panet.yaml': {'params': 46563709, 'per_layer': [7040, 73984, 156928, 295424, 1118208, 1180672, 6433792, 4720640, 9971712, 2624512, 525312, 0, 0, 2757632, 131584, 0, 0, 690688, 590336, 0, 2495488, 2360320, 0, 9971712, 457725]},
    'models/hub/yolov5l6.yaml': {'params': 76770172, 'per_layer': [7040, 73984, 156928, 295424, 1118208, 1180672, 6433792, 3540480, 5611008, 7079936, 9971712, 2624512, 787968, 0, 0, 6200832, 394240, 0, 0, 2757632, 131584, 0, 0, 690688, 590336, 0, 2495488, 2360320, 0, 5807616, 5309952, 0, 10496000, 653820]},
    'models/hub/yolov5m6.yaml': {'params': 35731932, 'per_layer': [5280, 41664, 65280, 166272, 444672, 664320, 2512896, 1991808, 2327040, 3982848, 4134912, 1476864, 443520, 0, 0, 2658816, 221952, 0, 0, 1182720, 74112, 0, 0, 296448, 332160, 0, 1035264, 1327872, 0, 2437632, 2987136, 0, 4429824, 490620]},
    'models/hub/yolov5n6.yaml': {'params': 3246940, 'per_layer': [1760, 4672, 4800, 18560, 29184, 73984, 156928, 221568, 167040, 442880, 296448, 164608, 49536, 0, 0, 203904, 24832, 0, 0, 90880, 8320, 0, 0, 22912, 36992, 0, 74496, 147712, 0, 179328, 332160, 0, 329216, 164220]},
    'models/hub/yolov5s-LeakyReLU.yaml': {'params': 7235389, 'per_layer': [3520, 18560, 18816, 73984, 115712, 295424, 625152, 1180672, 1182720, 656896, 131584, 0, 0, 361984, 33024, 0, 0, 90880, 147712, 0, 296448, 590336, 0, 1182720, 229245]},
    'models/hub/yolov5s-ghost.yaml': {'params': 3897605, 'per_layer': [3520, 10144, 9656, 38720, 40160, 151168, 165024, 597248, 564672, 656896, 69248, 0, 0, 208608, 18240, 0, 0, 53104, 75584, 0, 143072, 298624, 0, 564672, 229245]},
    'models/hub/yolov5s-transformer.yaml': {'params': 7235645, 'per_layer': [3520, 18560, 18816, 73984, 115712, 295424, 625152, 1180672, 1182976, 656896, 131584, 0, 0, 361984, 33024, 0, 0, 90880, 147712, 0, 296448, 590336, 0, 1182720, 229245]},
    'models/hub/yolov5s6.yaml': {'params': 12626620, 'per_layer': [3520, 18560, 18816, 73984, 115712, 295424, 625152, 885504, 665856, 1770496, 1182720, 656896, 197376, 0, 0, 813312, 98816, 0, 0, 361984, 33024, 0, 0, 90880, 147712, 0, 296448, 590336, 0, 715008, 1327872, 0, 1313792, 327420]},
    'models/hub/yolov5x6.yaml': {'params': 140794780, 'per_layer': [8800, 115520, 309120, 461440, 2259200, 1844480, 13125120, 5531520, 11070720, 11061760, 19676160, 4099840, 1230720, 0, 0, 11992320, 615680, 0, 0, 5332480, 205440, 0, 0, 1335040, 922240, 0, 4922880, 3687680, 0, 11377920, 8296320, 0, 20495360, 817020]},
    'models/segment/yolov5l-seg.yaml': {'params': 47924957, 'per_layer': [7040, 73984, 156928, 295424, 1118208, 1180672, 6433792, 4720640, 9971712, 2624512, 525312, 0, 0, 2757632, 131584, 0, 0, 690688, 590336, 0, 2495488, 2360320, 0, 9971712, 1818973]},
    'models/segment/yolov5m-seg.yaml': {'params': 21990397, 'per_layer': [5280, 41664, 65280, 166272, 444672, 664320, 2512896, 2655744, 4134912, 1476864, 295680, 0, 0, 1182720, 74112, 0, 0, 296448, 332160, 0, 1035264, 1327872, 0, 4134912, 1143325]},
    'models/segment/yolov5n-seg.yaml': {'params': 1991549, 'per_layer': [1760, 4672, 4800, 18560, 29184, 73984, 156928, 295424, 296448, 164608, 33024, 0, 0, 90880, 8320, 0, 0, 22912, 36992, 0, 74496, 147712, 0, 296448, 234397]},
    'models/segment/yolov5s-seg.yaml': {'params': 7621277, 'per_layer': [3520, 18560, 18816, 73984, 115712, 295424, 625152, 1180672, 1182720, 656896, 131584, 0, 0, 361984, 33024, 0, 0, 90880, 147712, 0, 296448, 590336, 0, 1182720, 615133]},
    'models/segment/yolov5x-seg.yaml': {'params': 88819517, 'per_layer': [8800, 115520, 309120, 461440, 2259200, 1844480, 13125120, 7375360, 19676160, 4099840, 820480, 0, 0, 5332480, 205440, 0, 0, 1335040, 922240, 0, 4922880, 3687680, 0, 19676160, 2642077]},
    'models/yolov5l.yaml': {'params': 46563709, 'per_layer': [7040, 73984, 156928, 295424, 1118208, 1180672, 6433792, 4720640, 9971712, 2624512, 525312, 0, 0, 2757632, 131584, 0, 0, 690688, 590336, 0, 2495488, 2360320, 0, 9971712, 457725]},
    'models/yolov5m.yaml': {'params': 21190557, 'per_layer': [5280, 41664, 65280, 166272, 444672, 664320, 2512896, 2655744, 4134912, 1476864, 295680, 0, 0, 1182720, 74112, 0, 0, 296448, 332160, 0, 1035264, 1327872, 0, 4134912, 343485]},
    'models/yolov5n.yaml': {'params': 1872157, 'per_layer': [1760, 4672, 4800, 18560, 29184, 73984, 156928, 295424, 296448, 164608, 33024, 0, 0, 90880, 8320, 0, 0, 22912, 36992, 0, 74496, 147712, 0, 296448, 115005]},
    'models/yolov5s.yaml': {'params': 7235389, 'per_layer': [3520, 18560, 18816, 73984, 115712, 295424, 625152, 1180672, 1182720, 656896, 131584, 0, 0, 361984, 33024, 0, 0, 90880, 147712, 0, 296448, 590336, 0, 1182720, 229245]},
    'models/yolov5x.yaml': {'params': 86749405, 'per_layer': [8800, 115520, 309120, 461440, 2259200, 1844480, 13125120, 7375360, 19676160, 4099840, 820480, 0, 0, 5332480, 205440, 0, 0, 1335040, 922240, 0, 4922880, 3687680, 0, 19676160, 571965]},
}

# Older tags' YAMLs, built by that tag's own code (same_with_7.0: every layer equal with the 7.0 code)
TAG_CONFIGS = {
    'v6.0:models/hub/yolov5-bifpn.yaml': {'unreadable': 'while parsing a flow sequence in "<unicode string>", line 15, column 3: [[-1, 1,'},
    'v6.0:models/hub/yolov3.yaml': {'params': 61949149, 'per_layer': [928, 18560, 20672, 73984, 164608, 295424, 2627584, 1180672, 10498048, 4720640, 20983808, 5245952, 525312, 4720640, 525312, 4720640, 131584, 0, 0, 1377792, 1312256, 131584, 1180672, 33024, 0, 0, 344832, 656896, 457725], 'same_with_7.0': True},
    'v6.0:models/hub/yolov5-fpn.yaml': {'params': 50262781, 'per_layer': [7040, 73984, 246912, 295424, 1627904, 1180672, 6499840, 4720640, 2624512, 18105344, 10234880, 0, 0, 787456, 2561536, 0, 0, 197120, 641792, 457725], 'same_with_7.0': True},
    'v6.0:models/hub/yolov5-p2.yaml': {'params': 47986428, 'per_layer': [7040, 73984, 156928, 295424, 1611264, 1180672, 6433792, 4720640, 2624512, 9971712, 525312, 0, 0, 2757632, 131584, 0, 0, 690688, 33024, 0, 0, 90880, 147712, 0, 625152, 590336, 0, 2495488, 2360320, 0, 9971712, 490620], 'same_with_7.0': True},
    'v6.0:models/hub/yolov5-p6.yaml': {'params': 77263228, 'per_layer': [7040, 73984, 156928, 295424, 1611264, 1180672, 6433792, 3540480, 5611008, 7079936, 2624512, 9971712, 787968, 0, 0, 6200832, 394240, 0, 0, 2757632, 131584, 0, 0, 690688, 590336, 0, 2495488, 2360320, 0, 5807616, 5309952, 0, 10496000, 653820], 'same_with_7.0': True},
    'v6.0:models/hub/yolov5-p7.yaml': {'params': 143955579, 'per_layer': [7040, 73984, 156928, 295424, 1611264, 1180672, 6433792, 3540480, 5611008, 7079936, 9971712, 11799040, 3280640, 15577600, 1312768, 0, 0, 11020288, 787968, 0, 0, 6200832, 394240, 0, 0, 2757632, 131584, 0, 0, 690688, 590336, 0, 2495488, 2360320, 0, 5807616, 5309952, 0, 10496000, 9439232, 0, 16560640, 980475], 'same_with_7.0': True},
    'v6.0:models/hub/yolov5-panet.yaml': {'params': 47818749, 'per_layer': [7040, 73984, 161152, 295424, 1627904, 1180672, 6499840, 4720640, 2624512, 10234880, 525312, 0, 0, 2823680, 131584, 0, 0, 707328, 590336, 0, 2561536, 2360320, 0, 10234880, 457725], 'same_with_7.0': True},
    'v6.0:models/hub/yolov5s-ghost.yaml': {'params': 3901045, 'per_layer': [3520, 10144, 9656, 38720, 43600, 151168, 165024, 597248, 656896, 564672, 69248, 0, 0, 208608, 18240, 0, 0, 53104, 75584, 0, 143072, 298624, 0, 564672, 229245], 'same_with_7.0': True},
    'v6.0:models/hub/yolov5s-transformer.yaml': {'params': 7276861, 'per_layer': [3520, 18560, 18816, 73984, 156928, 295424, 625152, 1180672, 656896, 1182976, 131584, 0, 0, 361984, 33024, 0, 0, 90880, 147712, 0, 296448, 590336, 0, 1182720, 229245], 'same_with_7.0': True},
    'v2.0:models/yolov5s.yaml': {'params': 7468157, 'per_layer': [3520, 18560, 19904, 73984, 161152, 295424, 641792, 1180672, 656896, 1248768, 131584, 0, 0, 378624, 33024, 0, 0, 95104, 147712, 0, 313088, 590336, 0, 1248768, 229245], 'same_with_7.0': True},
    'v2.0:models/yolov5m.yaml': {'params': 21805053, 'per_layer': [5280, 41664, 67680, 166272, 639168, 664320, 2550144, 2655744, 1476864, 4283136, 295680, 0, 0, 1219968, 74112, 0, 0, 305856, 332160, 0, 1072512, 1327872, 0, 4283136, 343485], 'same_with_7.0': True},
    'v2.0:models/yolov5l.yaml': {'params': 47818749, 'per_layer': [7040, 73984, 161152, 295424, 1627904, 1180672, 6499840, 4720640, 2624512, 10234880, 525312, 0, 0, 2823680, 131584, 0, 0, 707328, 590336, 0, 2561536, 2360320, 0, 10234880, 457725], 'same_with_7.0': True},
    'v2.0:models/yolov5x.yaml': {'params': 88965245, 'per_layer': [8800, 115520, 315680, 461440, 3311680, 1844480, 13228160, 7375360, 4099840, 20087040, 820480, 0, 0, 5435520, 205440, 0, 0, 1360960, 922240, 0, 5025920, 3687680, 0, 20087040, 571965], 'same_with_7.0': True},
    'v3.0:models/yolov5s.yaml': {'params': 7468157, 'per_layer': [3520, 18560, 19904, 73984, 161152, 295424, 641792, 1180672, 656896, 1248768, 131584, 0, 0, 378624, 33024, 0, 0, 95104, 147712, 0, 313088, 590336, 0, 1248768, 229245], 'same_with_7.0': True},
    'v3.0:models/yolov5m.yaml': {'params': 21805053, 'per_layer': [5280, 41664, 67680, 166272, 639168, 664320, 2550144, 2655744, 1476864, 4283136, 295680, 0, 0, 1219968, 74112, 0, 0, 305856, 332160, 0, 1072512, 1327872, 0, 4283136, 343485], 'same_with_7.0': True},
    'v3.0:models/yolov5l.yaml': {'params': 47818749, 'per_layer': [7040, 73984, 161152, 295424, 1627904, 1180672, 6499840, 4720640, 2624512, 10234880, 525312, 0, 0, 2823680, 131584, 0, 0, 707328, 590336, 0, 2561536, 2360320, 0, 10234880, 457725], 'same_with_7.0': True},
    'v3.0:models/yolov5x.yaml': {'params': 88965245, 'per_layer': [8800, 115520, 315680, 461440, 3311680, 1844480, 13228160, 7375360, 4099840, 20087040, 820480, 0, 0, 5435520, 205440, 0, 0, 1360960, 922240, 0, 5025920, 3687680, 0, 20087040, 571965], 'same_with_7.0': True},
    'v3.1:models/yolov5s.yaml': {'params': 7468157, 'per_layer': [3520, 18560, 19904, 73984, 161152, 295424, 641792, 1180672, 656896, 1248768, 131584, 0, 0, 378624, 33024, 0, 0, 95104, 147712, 0, 313088, 590336, 0, 1248768, 229245], 'same_with_7.0': True},
    'v3.1:models/yolov5m.yaml': {'params': 21805053, 'per_layer': [5280, 41664, 67680, 166272, 639168, 664320, 2550144, 2655744, 1476864, 4283136, 295680, 0, 0, 1219968, 74112, 0, 0, 305856, 332160, 0, 1072512, 1327872, 0, 4283136, 343485], 'same_with_7.0': True},
    'v3.1:models/yolov5l.yaml': {'params': 47818749, 'per_layer': [7040, 73984, 161152, 295424, 1627904, 1180672, 6499840, 4720640, 2624512, 10234880, 525312, 0, 0, 2823680, 131584, 0, 0, 707328, 590336, 0, 2561536, 2360320, 0, 10234880, 457725], 'same_with_7.0': True},
    'v3.1:models/yolov5x.yaml': {'params': 88965245, 'per_layer': [8800, 115520, 315680, 461440, 3311680, 1844480, 13228160, 7375360, 4099840, 20087040, 820480, 0, 0, 5435520, 205440, 0, 0, 1360960, 922240, 0, 5025920, 3687680, 0, 20087040, 571965], 'same_with_7.0': True},
    'v4.0:models/yolov5s.yaml': {'params': 7276605, 'per_layer': [3520, 18560, 18816, 73984, 156928, 295424, 625152, 1180672, 656896, 1182720, 131584, 0, 0, 361984, 33024, 0, 0, 90880, 147712, 0, 296448, 590336, 0, 1182720, 229245], 'same_with_7.0': True},
    'v4.0:models/yolov5m.yaml': {'params': 21375645, 'per_layer': [5280, 41664, 65280, 166272, 629760, 664320, 2512896, 2655744, 1476864, 4134912, 295680, 0, 0, 1182720, 74112, 0, 0, 296448, 332160, 0, 1035264, 1327872, 0, 4134912, 343485], 'same_with_7.0': True},
    'v4.0:models/yolov5l.yaml': {'params': 47056765, 'per_layer': [7040, 73984, 156928, 295424, 1611264, 1180672, 6433792, 4720640, 2624512, 9971712, 525312, 0, 0, 2757632, 131584, 0, 0, 690688, 590336, 0, 2495488, 2360320, 0, 9971712, 457725], 'same_with_7.0': True},
    'v4.0:models/yolov5x.yaml': {'params': 87775965, 'per_layer': [8800, 115520, 309120, 461440, 3285760, 1844480, 13125120, 7375360, 4099840, 19676160, 820480, 0, 0, 5332480, 205440, 0, 0, 1335040, 922240, 0, 4922880, 3687680, 0, 19676160, 571965], 'same_with_7.0': True},
    'v5.0:models/yolov5s.yaml': {'params': 7276605, 'per_layer': [3520, 18560, 18816, 73984, 156928, 295424, 625152, 1180672, 656896, 1182720, 131584, 0, 0, 361984, 33024, 0, 0, 90880, 147712, 0, 296448, 590336, 0, 1182720, 229245], 'same_with_7.0': True},
    'v5.0:models/yolov5m.yaml': {'params': 21375645, 'per_layer': [5280, 41664, 65280, 166272, 629760, 664320, 2512896, 2655744, 1476864, 4134912, 295680, 0, 0, 1182720, 74112, 0, 0, 296448, 332160, 0, 1035264, 1327872, 0, 4134912, 343485], 'same_with_7.0': True},
    'v5.0:models/yolov5l.yaml': {'params': 47056765, 'per_layer': [7040, 73984, 156928, 295424, 1611264, 1180672, 6433792, 4720640, 2624512, 9971712, 525312, 0, 0, 2757632, 131584, 0, 0, 690688, 590336, 0, 2495488, 2360320, 0, 9971712, 457725], 'same_with_7.0': True},
    'v5.0:models/yolov5x.yaml': {'params': 87775965, 'per_layer': [8800, 115520, 309120, 461440, 3285760, 1844480, 13125120, 7375360, 4099840, 19676160, 820480, 0, 0, 5332480, 205440, 0, 0, 1335040, 922240, 0, 4922880, 3687680, 0, 19676160, 571965], 'same_with_7.0': True},
}

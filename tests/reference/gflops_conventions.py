"""Reference GFLOPs for archscope's two Ultralytics conventions, measured with the real packages. Literal data.

Every figure is the unrounded number the named code computes (Ultralytics prints it with one decimal).
Image sizes are (height, width); batch 1; nc = each YAML's default; models not fused.

Provenance (scripts beside this file, in scripts/; run in scratch venvs, never in the project's environment):

* ``ULTRALYTICS_84_OTHER_SIZES``: Ultralytics 8.4.190 with ultralytics-thop 2.2.3 (scratch venv with torch 2.14.1),
  ``ultralytics.utils.torch_utils.get_flops(model, imgsz)`` -- what ``model.info(imgsz=...)`` prints -- on the
  package's own YAMLs at sizes and scales that ultralytics-8.4.190-smallest-scales.json (beside this file) does
  not cover (that file has 640 x 640 at the smallest scales), and RT-DETR. Scripts: scripts/ul84_sizes.py,
  scripts/ul84_rtdetr.py.
* ``LEGACY_UL8220_PRINTED``: Ultralytics 8.2.20 (the last releases that used PyPI ``thop`` 0.1.1; from 8.2.30 on
  Ultralytics requires ultralytics-thop) installed with --no-deps beside ``thop==0.1.1.post2209072238``, its own
  ``get_flops(model, imgsz)`` on its own YAMLs (it has no YOLOv10/11/12). The comment is its printed summary line.
  Script: scripts/legacy_ul8220.py.
* ``LEGACY_THOP011_ON_UL84``: the same recipe (``thop.profile`` of thop 0.1.1 on one ``max(stride, 32)``-pixel
  square proxy image, x2 / 1e9, scaled by area; the full image if that raises) applied to Ultralytics 8.4.190's
  models, for the configs Ultralytics 8.2.20 does not have (YOLOv10, 11, 12). This is the count the YOLOv10
  repository (an Ultralytics 8.1 fork using thop 0.1.1) prints. Script: scripts/legacy_ul84_thop011.py.
  Where both exist they agree exactly with LEGACY_UL8220_PRINTED.
* The YOLOv5 repository's own figures (yolov5 7.0.14 + thop 0.1.1) are in yolov5_repo.py.

P6 models (max stride 64) at 320 x 480 are left out: 480 is not a multiple of 64 and archscope refuses that size.
"""


ULTRALYTICS_84_OTHER_SIZES = {
    ('11/yolo11-cls.yaml', 'n', (320, 480)): 1.23044096,
    ('11/yolo11-obb.yaml', 'n', (320, 480)): 2.5809312,
    ('11/yolo11-pose.yaml', 'n', (320, 480)): 2.9012862,
    ('11/yolo11-seg.yaml', 'n', (320, 480)): 3.7203504,
    ('11/yolo11.yaml', 'n', (320, 480)): 2.4880944,
    ('12/yolo12-cls.yaml', 'n', (320, 480)): 1.50607616,
    ('12/yolo12-obb.yaml', 'n', (320, 480)): 2.7252384,
    ('12/yolo12-pose.yaml', 'n', (320, 480)): 3.0455934,
    ('12/yolo12-seg.yaml', 'n', (320, 480)): 3.8646576,
    ('12/yolo12.yaml', 'n', (320, 480)): 2.6324016,
    ('v10/yolov10b.yaml', 'b', (320, 480)): 37.2717504,
    ('v10/yolov10l.yaml', 'l', (320, 480)): 47.9672256,
    ('v10/yolov10m.yaml', 'm', (320, 480)): 24.1958592,
    ('v10/yolov10n.yaml', 'n', (320, 480)): 3.2853792,
    ('v10/yolov10s.yaml', 's', (320, 480)): 9.4315968,
    ('v10/yolov10x.yaml', 'x', (320, 480)): 64.4601792,
    ('v3/yolov3-spp.yaml', None, (320, 480)): 106.559328,
    ('v3/yolov3-tiny.yaml', None, (320, 480)): 7.1719872,
    ('v3/yolov3.yaml', None, (320, 480)): 106.2441408,
    ('v5/yolov5.yaml', 'n', (320, 480)): 2.9395776,
    ('v6/yolov6.yaml', 'n', (320, 480)): 4.8849216,
    ('v8/yolov8-cls-resnet101.yaml', 'n', (320, 480)): 48.93959936,
    ('v8/yolov8-cls-resnet50.yaml', 'n', (320, 480)): 26.08637696,
    ('v8/yolov8-cls.yaml', 'n', (320, 480)): 1.26215936,
    ('v8/yolov8-ghost-p2.yaml', 'n', (320, 480)): 5.1871296,
    ('v8/yolov8-ghost.yaml', 'n', (320, 480)): 2.1761472,
    ('v8/yolov8-obb.yaml', 'n', (320, 480)): 3.413496,
    ('v8/yolov8-p2.yaml', 'n', (320, 480)): 6.5358144,
    ('v8/yolov8-pose.yaml', 'n', (320, 480)): 3.4850766,
    ('v8/yolov8-seg.yaml', 'n', (320, 480)): 4.5529152,
    ('v8/yolov8.yaml', 'n', (320, 480)): 3.3206592,
    ('v9/yolov9c-seg.yaml', None, (320, 480)): 56.0023488,
    ('v9/yolov9c.yaml', None, (320, 480)): 39.0054336,
    ('v9/yolov9e-seg.yaml', None, (320, 480)): 89.3747136,
    ('v9/yolov9e.yaml', None, (320, 480)): 72.3777984,
    ('v9/yolov9m.yaml', None, (320, 480)): 29.1976416,
    ('v9/yolov9s.yaml', None, (320, 480)): 10.332,
    ('v9/yolov9t.yaml', None, (320, 480)): 3.1804224,
    ('v8/yolov8.yaml', 'x', (640, 640)): 258.5370112,
    ('11/yolo11.yaml', 'x', (640, 640)): 196.3150848,
    ('12/yolo12.yaml', 's', (640, 640)): 23.65312,
    ('v10/yolov10m.yaml', 'm', (384, 640)): 38.73203712,
    ('12/yolo12.yaml', 'n', (1280, 1280)): 42.3330304,
    # RT-DETR (AIFI attention, deformable decoder): scripts/ul84_rtdetr.py
    ('rt-detr/rtdetr-l.yaml', None, (320, 320)): 31.255272,
    ('rt-detr/rtdetr-l.yaml', None, (640, 640)): 110.2435104,
}

LEGACY_UL8220_PRINTED = {
    ('v3/yolov3-spp.yaml', None, (640, 640)): 284.1606656,  # 318 layers, 104803744 parameters, 104803728 gradients, 284.2 GFLOPs
    ('v3/yolov3-spp.yaml', None, (320, 480)): 106.5602496,
    ('v3/yolov3-tiny.yaml', None, (640, 640)): 19.125708799999998,  # 82 layers, 12173248 parameters, 12173232 gradients, 19.1 GFLOPs
    ('v3/yolov3-tiny.yaml', None, (320, 480)): 7.172140799999999,
    ('v3/yolov3.yaml', None, (640, 640)): 283.3201664,  # 310 layers, 103754144 parameters, 103754128 gradients, 283.3 GFLOPs
    ('v3/yolov3.yaml', None, (320, 480)): 106.24506240000001,
    ('v5/yolov5-p6.yaml', 'n', (640, 640)): 7.9536512,  # 344 layers, 4334896 parameters, 4334880 gradients, 8.0 GFLOPs
    ('v5/yolov5.yaml', 'n', (640, 640)): 7.840102399999999,  # 262 layers, 2654816 parameters, 2654800 gradients, 7.8 GFLOPs
    ('v5/yolov5.yaml', 'n', (320, 480)): 2.9400383999999997,
    ('v6/yolov6.yaml', 'n', (640, 640)): 13.1051008,  # 195 layers, 4500080 parameters, 4500064 gradients, 13.1 GFLOPs
    ('v6/yolov6.yaml', 'n', (320, 480)): 4.9144128,
    ('v8/yolov8-cls-resnet101.yaml', 'n', (640, 640)): 131.5237888,  # 436 layers, 46405160 parameters, 46405160 gradients, 131.5 GFLOPs
    ('v8/yolov8-cls-resnet101.yaml', 'n', (320, 480)): 49.3214208,
    ('v8/yolov8-cls-resnet50.yaml', 'n', (640, 640)): 70.58186239999999,  # 232 layers, 27413032 parameters, 27413032 gradients, 70.6 GFLOPs
    ('v8/yolov8-cls-resnet50.yaml', 'n', (320, 480)): 26.4681984,
    ('v8/yolov8-cls.yaml', 'n', (640, 640)): 4.383948800000001,  # 99 layers, 2719288 parameters, 2719288 gradients, 4.4 GFLOPs
    ('v8/yolov8-cls.yaml', 'n', (320, 480)): 1.6439808000000002,
    ('v8/yolov8-ghost-p2.yaml', 'n', (640, 640)): 13.83808,  # 491 layers, 2033944 parameters, 2033928 gradients, 13.8 GFLOPs
    ('v8/yolov8-ghost-p2.yaml', 'n', (320, 480)): 5.18928,
    ('v8/yolov8-ghost-p6.yaml', 'n', (640, 640)): 5.8164864,  # 529 layers, 2901100 parameters, 2901084 gradients, 5.8 GFLOPs
    ('v8/yolov8-ghost.yaml', 'n', (640, 640)): 5.8055168,  # 403 layers, 1865316 parameters, 1865300 gradients, 5.8 GFLOPs
    ('v8/yolov8-ghost.yaml', 'n', (320, 480)): 2.1770688000000002,
    ('v8/yolov8-obb.yaml', 'n', (640, 640)): 9.105113600000001,  # 250 layers, 3228867 parameters, 3228851 gradients, 9.1 GFLOPs
    ('v8/yolov8-obb.yaml', 'n', (320, 480)): 3.4144176,
    ('v8/yolov8-p2.yaml', 'n', (640, 640)): 17.4345728,  # 277 layers, 3354144 parameters, 3354128 gradients, 17.4 GFLOPs
    ('v8/yolov8-p2.yaml', 'n', (320, 480)): 6.5379648,
    ('v8/yolov8-p6.yaml', 'n', (640, 640)): 8.8479104,  # 295 layers, 4984352 parameters, 4984336 gradients, 8.8 GFLOPs
    ('v8/yolov8-pose-p6.yaml', 'n', (640, 640)): 9.2862004,  # 328 layers, 5182152 parameters, 5182136 gradients, 9.3 GFLOPs
    ('v8/yolov8-pose.yaml', 'n', (640, 640)): 9.2959952,  # 250 layers, 3295470 parameters, 3295454 gradients, 9.3 GFLOPs
    ('v8/yolov8-pose.yaml', 'n', (320, 480)): 3.4859982,
    ('v8/yolov8-seg-p6.yaml', 'n', (640, 640)): 12.765171200000001,  # 339 layers, 5302816 parameters, 5302800 gradients, 12.8 GFLOPs
    ('v8/yolov8-seg.yaml', 'n', (640, 640)): 12.772710400000001,  # 261 layers, 3409968 parameters, 3409952 gradients, 12.8 GFLOPs
    ('v8/yolov8-seg.yaml', 'n', (320, 480)): 4.7897664,
    ('v8/yolov8.yaml', 'n', (640, 640)): 8.8575488,  # 225 layers, 3157200 parameters, 3157184 gradients, 8.9 GFLOPs
    ('v8/yolov8.yaml', 'n', (320, 480)): 3.3215807999999996,
    ('v9/yolov9c-seg.yaml', None, (640, 640)): 159.41411839999998,  # 654 layers, 27897120 parameters, 27897104 gradients, 159.4 GFLOPs
    ('v9/yolov9c-seg.yaml', None, (320, 480)): 59.780294399999995,
    ('v9/yolov9c.yaml', None, (640, 640)): 104.02268160000003,  # 618 layers, 25590912 parameters, 25590896 gradients, 104.0 GFLOPs
    ('v9/yolov9c.yaml', None, (320, 480)): 39.00850560000001,
    ('v9/yolov9e-seg.yaml', None, (640, 640)): 248.4070912,  # 1261 layers, 60512800 parameters, 60512784 gradients, 248.4 GFLOPs
    ('v9/yolov9e-seg.yaml', None, (320, 480)): 93.1526592,
    ('v9/yolov9e.yaml', None, (640, 640)): 193.01565439999996,  # 1225 layers, 58206592 parameters, 58206576 gradients, 193.0 GFLOPs
    ('v9/yolov9e.yaml', None, (320, 480)): 72.38087039999999,
    ('v8/yolov8.yaml', 'x', (640, 640)): 258.5472512,  # 365 layers, 68229648 parameters, 68229632 gradients, 258.5 GFLOPs
    ('v8/yolov8.yaml', 'x', (320, 480)): 96.95521919999999,
}

LEGACY_THOP011_ON_UL84 = {
    ('11/yolo11-cls.yaml', 'n', (640, 640)): 4.2763264,
    ('11/yolo11-cls.yaml', 'n', (320, 480)): 1.6036224000000001,
    ('11/yolo11-obb.yaml', 'n', (640, 640)): 6.861900799999999,
    ('11/yolo11-obb.yaml', 'n', (320, 480)): 2.5732128,
    ('11/yolo11-pose.yaml', 'n', (640, 640)): 7.7161808,
    ('11/yolo11-pose.yaml', 'n', (320, 480)): 2.8935678,
    ('11/yolo11-seg.yaml', 'n', (640, 640)): 10.5294976,
    ('11/yolo11-seg.yaml', 'n', (320, 480)): 3.9485615999999997,
    ('11/yolo11.yaml', 'n', (640, 640)): 6.614336,
    ('11/yolo11.yaml', 'n', (320, 480)): 2.4803759999999997,
    ('12/yolo12-cls.yaml', 'n', (640, 640)): 4.6657536,
    ('12/yolo12-cls.yaml', 'n', (320, 480)): 1.7496576,
    ('12/yolo12-obb.yaml', 'n', (640, 640)): 6.90112,
    ('12/yolo12-obb.yaml', 'n', (320, 480)): 2.58792,
    ('12/yolo12-pose.yaml', 'n', (640, 640)): 7.7554,
    ('12/yolo12-pose.yaml', 'n', (320, 480)): 2.908275,
    ('12/yolo12-seg.yaml', 'n', (640, 640)): 10.5687168,
    ('12/yolo12-seg.yaml', 'n', (320, 480)): 3.9632688,
    ('12/yolo12.yaml', 'n', (640, 640)): 6.6535552,
    ('12/yolo12.yaml', 'n', (320, 480)): 2.4950832,
    ('v10/yolov10b.yaml', 'b', (640, 640)): 99.3534464,
    ('v10/yolov10b.yaml', 'b', (320, 480)): 37.2575424,
    ('v10/yolov10l.yaml', 'l', (640, 640)): 127.87471359999999,
    ('v10/yolov10l.yaml', 'l', (320, 480)): 47.953017599999995,
    ('v10/yolov10m.yaml', 'm', (640, 640)): 64.4772096,
    ('v10/yolov10m.yaml', 'm', (320, 480)): 24.1789536,
    ('v10/yolov10n.yaml', 'n', (640, 640)): 8.7404288,
    ('v10/yolov10n.yaml', 'n', (320, 480)): 3.2776608,
    ('v10/yolov10s.yaml', 's', (640, 640)): 25.109759999999998,
    ('v10/yolov10s.yaml', 's', (320, 480)): 9.41616,
    ('v10/yolov10x.yaml', 'x', (640, 640)): 171.8464512,
    ('v10/yolov10x.yaml', 'x', (320, 480)): 64.44241919999999,
}

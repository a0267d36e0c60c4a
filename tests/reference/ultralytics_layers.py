"""Ultralytics 8.4.190 "layers" (the deduplicated leaf-module count ``model.info()`` returns and prints: a module
instance shared by several blocks counts once) and parameters of the RTDETRDecoder configs (literal data).

Provenance: ultralytics==8.4.190, torch==2.14.1+cu130 (CPU), Python 3.11.7, YOLO_OFFLINE=1, no weights. Script:
scripts/ul84_rtdetr_layers.py, run as `YOLO_OFFLINE=1 /work/scratch/ulv/bin/python
tests/reference/scripts/ul84_rtdetr_layers.py` (it printed this dict): for each config,
``d = yaml_model_load(<abs path>)`` (plus ``d["scale"] = <scale>`` where one is given),
``RTDETRDetectionModel(cfg=d, verbose=False).info(verbose=True)[:2]``.
Before archscope's HGBlock had one activation per block (as 8.4's ``act=None`` gives), it counted 465 for rtdetr-l and
583 for rtdetr-x.
"""

RTDETR_LAYERS = {  # (config, scale): (layers, params) as model.info() returns them
    ('rt-detr/rtdetr-l.yaml', None): (470, 32970476),
    ('rt-detr/rtdetr-x.yaml', None): (592, 67467852),
    ('rt-detr/rtdetr-resnet50.yaml', None): (410, 42925132),
    ('rt-detr/rtdetr-resnet101.yaml', None): (546, 61917260),
    ('v8/yolov8-rtdetr.yaml', 'n'): (243, 9643868),
    ('v8/yolov8-rtdetr.yaml', 's'): (243, 16518572),
    ('v8/yolov8-rtdetr.yaml', 'm'): (283, 29645180),
    ('v8/yolov8-rtdetr.yaml', 'l'): (323, 45644364),
    ('v8/yolov8-rtdetr.yaml', 'x'): (323, 67113884),
}

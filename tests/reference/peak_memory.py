"""Peak of live activation storages in a real CPU forward (batch 1, fp32, under torch.inference_mode), measured by
tests/reference/scripts/peak_memory.py's dispatch-level tracker (each op's output storages from the op that makes
them until a weakref.finalize says they were freed; the input counted from the start).

ULTRALYTICS_84: Ultralytics 8.4.190's own DetectionModel / RTDETRDetectionModel (torch 2.14, CPU), built from the
official YAMLs: ``YOLO_OFFLINE=1 /work/scratch/ulv/bin/python tests/reference/scripts/peak_memory.py --ultralytics``.
SAMPLES: archscope's real CPU model of the sample configs (their blocks are not in Ultralytics):
``.venv/bin/python tests/reference/scripts/peak_memory.py --samples``.
The layer-boundary figure of main before report/2 (live layer outputs only) was 11.47, 14.34, 28.26, 11.47 and
8.22 MB for these five.
"""

# name: (official YAML under ultralytics/cfg/models or sample config, imgsz, peak bytes)
ULTRALYTICS_84 = {
    "yolov8n": ("v8/yolov8.yaml:n", 640, 24576000),
    "yolo11n": ("11/yolo11.yaml:n", 640, 31129600),
    "rtdetr-l": ("rt-detr/rtdetr-l.yaml", 640, 86835200),
}
SAMPLES = {
    "yolov8n-mhsa": ("sample_configs/yolov8n-mhsa.yaml", 640, 94208000),
    "yolov10m-C2f_MQA@320": ("sample_configs/yolov10m-C2f_MQA.yaml", 320, 668876800),
}

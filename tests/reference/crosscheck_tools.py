"""ultralytics-thop 2.2.3 figures (MACs); made by tests/reference/scripts/ulthop_crosscheck.py."""

ULTRALYTICS_THOP_VERSION = '2.2.3'
SMALL_MACS = 211968
SMALL_FUNCTIONAL_MACS = 131072
YOLOV10N_640_MACS = 4399705600

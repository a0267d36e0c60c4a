"""Parameter counts printed by the YOLOv7 repository's own code (models/common.py and models/yolo.py at commit
a207844b1ce82d204ab36d87d496728d3d2348e7, torch 2.14.1) for the blocks archscope's community family takes from it,
by scripts/y7_community.py:

    /work/scratch/y5v/bin/python tests/reference/scripts/y7_community.py
"""

#: constructor call -> sum(p.numel() for p in module.parameters())
YOLOV7_BLOCK_PARAMS = {
    ("SPPCSPC", (512, 256)): 1904128,
    ("SPPCSPC", (64, 64)): 111488,
    ("DownC", (64, 128)): 45440,
    ("DownC", (96, 64, 1, 2)): 40256,
    ("MP", ()): 0,
    ("SP", (3, 1)): 0,
    ("ReOrg", ()): 0,
}

#: the script's YAML (YOLOV7_YAML in tests/test_blocks_community.py) built by models.yolo.Model(ch=3, nc=10):
#: per-layer counts of model.model[i] and the total
YOLOV7_YAML_LAYERS = [464, 0, 18496, 0, 11456, 0, 111488, 5850]
YOLOV7_YAML_TOTAL = 147754

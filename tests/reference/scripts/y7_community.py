"""Prints the YOLOv7 repository's own parameter counts for the blocks archscope's community family takes from it
(SPPCSPC, DownC, MP, SP, ReOrg) and for one YAML of those blocks built with its models/yolo.py; the literals in
tests/test_blocks_community.py (marked "YOLOv7 repository") are these figures.

The repository is read from the local mirror (a git archive of HEAD into a temporary folder, never imported from the
mirror itself); it runs with the YOLOv5 scratch venv (torch, PyYAML, OpenCV, pandas, tqdm, seaborn), and scipy, only
imported by the repository's plotting and anchor-fitting helpers, is replaced by an empty module when absent:

    /work/scratch/y5v/bin/python tests/reference/scripts/y7_community.py [/work/.mirror/WongKinYiu+yolov7/repo]
"""

import importlib.machinery
import io
import subprocess
import sys
import tarfile
import tempfile
import types

MIRROR = sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/WongKinYiu+yolov7/repo"
commit = subprocess.run(["git", "-C", MIRROR, "rev-parse", "HEAD"], check=True, capture_output=True,
                        text=True).stdout.strip()
tree = tempfile.mkdtemp(prefix="y7-")
archive = subprocess.run(["git", "-C", MIRROR, "archive", "HEAD", "models", "utils"], check=True,
                         capture_output=True).stdout
tarfile.open(fileobj=io.BytesIO(archive)).extractall(tree)
sys.path.insert(0, tree)

try:
    import scipy.signal  # noqa: F401
except ImportError:
    for name in ("scipy", "scipy.signal", "scipy.cluster", "scipy.cluster.vq"):
        stub = types.ModuleType(name)
        stub.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
        stub.__path__ = []
        stub.butter = stub.filtfilt = stub.kmeans = None
        sys.modules[name] = stub

import torch  # noqa: E402
from models.common import SP, MP, SPPCSPC, DownC, ReOrg  # noqa: E402
from models.yolo import Model  # noqa: E402


def count(m):
    return sum(p.numel() for p in m.parameters())


print(f"# YOLOv7 repository {commit}, torch {torch.__version__}")
for text, module in [
    ("SPPCSPC(512, 256)", SPPCSPC(512, 256)),
    ("SPPCSPC(64, 64)", SPPCSPC(64, 64)),
    ("DownC(64, 128)", DownC(64, 128)),
    ("DownC(96, 64, 1, 2)", DownC(96, 64, 1, 2)),
    ("MP()", MP()), ("SP(3, 1)", SP(3, 1)), ("ReOrg()", ReOrg()),
]:
    print(f"{text}: {count(module)}")

YAML = {
    "nc": 10, "depth_multiple": 1.0, "width_multiple": 0.5,
    "anchors": [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119]],
    "backbone": [
        [-1, 1, "Conv", [32, 3, 2]], [-1, 1, "ReOrg", []], [-1, 1, "Conv", [64, 3, 1]],
        [-1, 1, "MP", []], [-1, 1, "DownC", [128]], [-1, 1, "SP", [3, 1]], [-1, 1, "SPPCSPC", [128]],
    ],
    "head": [[[4, 6], 1, "Detect", ["nc", "anchors"]]],
}
model = Model(YAML, ch=3, nc=10)
print("yaml layers:", [count(m) for m in model.model])
print("yaml total:", count(model))

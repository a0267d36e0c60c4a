"""ultralytics-thop 2.2.3's own figures for the cross-check tests (tests/reference/crosscheck_tools.py).

Run with the ulv scratch Python (ultralytics 8.4.190 brings ultralytics-thop 2.2.3; PyPI thop must never be installed
there, nor ultralytics-thop in the project's .venv: both are the module ``thop``):

    YOLO_OFFLINE=1 /work/scratch/ulv/bin/python tests/reference/scripts/ulthop_crosscheck.py

It prints the module: ``thop.profile`` MACs of the hand-written model of tests/crosscheck_models.py (total, and the part
counted outside every module: ``total - sum`` of its ``ret_layer_info`` tree), and of Ultralytics' own yolov10n
(official 8.4.190 YAML, full 640x640 image, batch 1), which must equal half archscope's ``gflops_ultralytics`` x 1e9.
"""

from __future__ import annotations

import copy
import os
import sys
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/ for official_configs and the small model


def main() -> None:
    import thop
    import torch
    from crosscheck_models import small_model  # the hand-written model (plain torch; no archscope in it)
    from official_configs import official_cfg_dir
    from ultralytics.nn.tasks import DetectionModel

    assert version("ultralytics-thop") == thop.__version__, "the module thop is not ultralytics-thop here"
    model, x = small_model()
    macs, _params, tree = thop.profile(copy.deepcopy(model).eval(), inputs=(x,), verbose=False, ret_layer_info=True)
    in_modules = sum(ops for ops, _p, _sub in tree.values())
    cfg = official_cfg_dir() / "v10" / "yolov10n.yaml"
    yolo = DetectionModel(str(cfg), verbose=False).eval()
    big, _ = thop.profile(copy.deepcopy(yolo), inputs=(torch.zeros(1, 3, 640, 640),), verbose=False)
    made_by = "tests/reference/scripts/ulthop_crosscheck.py"
    print(f'"""ultralytics-thop {thop.__version__} figures (MACs); made by {made_by}."""')
    print()
    print(f"ULTRALYTICS_THOP_VERSION = {thop.__version__!r}")
    print(f"SMALL_MACS = {int(macs)}")
    print(f"SMALL_FUNCTIONAL_MACS = {int(macs - in_modules)}")
    print(f"YOLOV10N_640_MACS = {int(big)}")


if __name__ == "__main__":
    main()

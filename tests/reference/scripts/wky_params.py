"""Reference parameter counts of the YOLOv7 / YOLOv9 repositories' own model code, for
tests/reference/wongkinyiu_repo.py.

Run with a Python that has torch and the YOLOv5 repository's dependencies (e.g. /work/scratch/y5v), from nowhere
in particular:

    python tests/reference/scripts/wky_params.py --repo /path/to/yolov9-checkout models/detect/yolov9-c.yaml ...
    python tests/reference/scripts/wky_params.py --repo /path/to/yolov7-checkout cfg/training/yolov7.yaml ...
    python tests/reference/scripts/wky_params.py --repo ... --yaml-text tests_snippet.yaml   # any YAML file path

It builds each YAML with the repository's ``models/yolo.py`` ``Model(cfg, ch=3, nc=None)`` on CPU and prints, per
file, the total parameter count and the list of per-layer ``m.np`` (the figures the repository's own log prints),
as a Python literal. Modules the repositories import only for plotting, notebooks or anchor fitting
(IPython, scipy.signal, scipy.cluster.vq) are stubbed where missing.
"""

from __future__ import annotations

import argparse
import os
import sys
import types


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", required=True)
    parser.add_argument("yamls", nargs="+")
    args = parser.parse_args()
    for name in ("IPython", "IPython.display"):
        stub = types.ModuleType(name)
        stub.display = lambda *a, **k: None  # type: ignore[attr-defined]
        stub.get_ipython = lambda: None  # type: ignore[attr-defined]
        sys.modules.setdefault(name, stub)
    try:
        import scipy.signal  # noqa: F401  (YOLOv7's utils/plots.py imports it for plotting only)
    except ImportError:
        for name in ("scipy", "scipy.signal", "scipy.cluster", "scipy.cluster.vq"):
            stub = types.ModuleType(name)
            stub.__path__ = []  # type: ignore[attr-defined]
            stub.butter = stub.filtfilt = stub.kmeans = lambda *a, **k: None  # type: ignore[attr-defined]
            sys.modules.setdefault(name, stub)
    yamls = [os.path.abspath(y) if os.path.exists(y) else y for y in args.yamls]
    repo = os.path.abspath(args.repo)
    os.chdir(repo)
    sys.path.insert(0, repo)
    import logging

    logging.disable(logging.CRITICAL)
    from models.yolo import Model

    out = {}
    for y in yamls:
        model = Model(y, ch=3)
        out[os.path.basename(y)] = {"params": sum(p.numel() for p in model.parameters()),
                                    "layers": [int(m.np) for m in model.model]}
    print(repr(out))


if __name__ == "__main__":
    main()

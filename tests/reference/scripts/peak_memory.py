"""Live-activation peaks of real CPU forwards, measured with a dispatch-level tracker of tensor storages
(tests/reference/peak_memory.py).

A ``TorchDispatchMode`` sees every ATen operator of a real forward under ``torch.inference_mode()``; each tensor it
returns is tracked by the identity of its untyped storage (views share one), counted at its ``nbytes`` from the op
that makes it until a ``weakref.finalize`` on the storage says it was freed. The model input counts from the start;
weights and buffers (and views of them) do not.

Two sources of real models:

* ``--ultralytics``: Ultralytics 8.4.190's own ``DetectionModel`` / ``RTDETRDetectionModel`` built from the official
  YAMLs (no weights: the values do not change what is allocated), run with the scratch env:
  ``YOLO_OFFLINE=1 /work/scratch/ulv/bin/python tests/reference/scripts/peak_memory.py --ultralytics``
* ``--samples``: archscope's own real CPU model (seeded weights) of the sample configs, whose blocks Ultralytics does
  not have: ``.venv/bin/python tests/reference/scripts/peak_memory.py --samples``

Both print ``name: bytes`` lines that are pasted into tests/reference/peak_memory.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import weakref
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[3]


def tracker():
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    class LivePeak(TorchDispatchMode):
        def __init__(self, x, model):
            super().__init__()
            self.sizes = {}
            self.current = self.peak = 0
            # weights are not activations: a view of one (a linear's weight.t()) is no new storage
            self.weights = [t.untyped_storage() for t in [*model.parameters(), *model.buffers()]]
            self.sizes.update((id(s), 0) for s in self.weights)
            self._add(x)

        def _add(self, t):
            s = t.untyped_storage()
            if id(s) in self.sizes:
                return
            self.sizes[id(s)] = s.nbytes()
            self.current += s.nbytes()
            self.peak = max(self.peak, self.current)
            weakref.finalize(s, self._free, id(s))

        def _free(self, key):
            self.current -= self.sizes.pop(key)

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in out if isinstance(out, (tuple, list)) else [out]:
                if isinstance(t, torch.Tensor):
                    self._add(t)
            return out

    return LivePeak


def measure(model, forward, x) -> int:
    import torch

    mode = tracker()(x, model)
    with torch.inference_mode(), mode:
        forward(x)
    return mode.peak


ULTRALYTICS = [("yolov8n", "v8/yolov8n.yaml", 640), ("yolo11n", "11/yolo11n.yaml", 640),
               ("rtdetr-l", "rt-detr/rtdetr-l.yaml", 640)]
SAMPLES = [("yolov8n-mhsa", "sample_configs/yolov8n-mhsa.yaml", 640),
           ("yolov10m-C2f_MQA@320", "sample_configs/yolov10m-C2f_MQA.yaml", 320)]


def ultralytics_peaks():
    import torch
    from ultralytics.nn.tasks import DetectionModel, RTDETRDetectionModel
    from ultralytics.utils import LOGGER

    LOGGER.setLevel("ERROR")
    import ultralytics

    cfg = Path(ultralytics.__file__).parent / "cfg" / "models"
    for name, path, size in ULTRALYTICS:
        cls = RTDETRDetectionModel if "rtdetr" in path else DetectionModel
        model = cls(str(cfg / path), verbose=False).eval()
        yield name, measure(model, model, torch.rand(1, 3, size, size))


def sample_peaks():
    import torch

    sys.path.insert(0, str(REPO))
    from archscope.build.builder import BuildOptions, build_model
    from archscope.build.materialize import materialize
    from archscope.spec.model_spec import load_spec

    for name, path, size in SAMPLES:
        built = build_model(load_spec(REPO / path), BuildOptions(imgsz=(size, size)))
        model = materialize(built, device="cpu")
        yield name, measure(model, model.run, torch.rand(1, built.ch, size, size))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ultralytics", action="store_true")
    p.add_argument("--samples", action="store_true")
    a = p.parse_args()
    for name, peak in [*(ultralytics_peaks() if a.ultralytics else []), *(sample_peaks() if a.samples else [])]:
        print(f"{name}: {peak}")

"""Cross-check (no reference file): archscope's YOLOv5-dialect blocks compute what the YOLOv5 repository's do.

For each YAML of PyPI `yolov5==7.0.14` named on the command line (default: one per block family), the repository's
Model gets random weights and BatchNorm statistics; archscope builds the same YAML (real weights, 128x160), takes
those values tensor by tensor in registration order (anchor buffers aside: the repository keeps them in grid units,
archscope in pixels), and both run the same input in eval mode. Prints the largest difference of the decoded
predictions (and Segment's prototypes) relative to their scale; exit status 1 above 1e-4 (float32 rounding: the prototypes reach 4e-5).

    /work/scratch/y5v/bin/python tests/reference/scripts/y5_forward.py [models/segment/yolov5n-seg.yaml ...]

Run from the repository root (it imports archscope from there, and the y5v venv's yolov5).
Measured here (the default six): predictions at most 5.1e-6, yolov5n-seg prototypes 3.9e-5.
"""

import logging
import os
import sys

sys.path.insert(0, os.getcwd())
import torch  # noqa: E402
import yolov5  # noqa: E402
from yolov5.models.yolo import Model  # noqa: E402

from archscope.build.builder import BuildOptions, build_model  # noqa: E402
from archscope.build.materialize import materialize  # noqa: E402
from archscope.spec.model_spec import load_spec  # noqa: E402

logging.getLogger("yolov5").setLevel(logging.ERROR)
torch.manual_seed(0)
MODELS = os.path.join(os.path.dirname(yolov5.__file__), "models")
DEFAULT = ["yolov5s.yaml", "segment/yolov5n-seg.yaml", "hub/yolov5s-transformer.yaml", "hub/yolov3.yaml",
           "hub/yolov5s-ghost.yaml", "hub/yolov5s-LeakyReLU.yaml"]
worst = 0.0
for rel in [a.removeprefix("models/") for a in sys.argv[1:]] or DEFAULT:
    path = os.path.join(MODELS, rel)
    ref = Model(path).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0, 0.05)
        for m in ref.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    ours = materialize(build_model(load_spec(path), BuildOptions(imgsz=(128, 160)))).eval()
    theirs = [v for k, v in ref.state_dict().items() if not k.endswith("anchors")]
    mine = [v for k, v in ours.state_dict().items() if not k.endswith("anchors")]
    assert len(theirs) == len(mine), (rel, len(theirs), len(mine))
    with torch.no_grad():
        for a, b in zip(theirs, mine):
            assert a.shape == b.shape, (rel, a.shape, b.shape)
            b.copy_(a)
        x = torch.randn(1, 3, 128, 160)
        out_ref, out = ref(x), ours(x)
    pairs = [(out_ref[0], out[0]), (out_ref[1], out[1])] if isinstance(out, tuple) else [(out_ref[0], out)]
    rel_diffs = [((a - b).abs().max() / a.abs().max()).item() for a, b in pairs]
    worst = max(worst, *rel_diffs)
    print(f"{rel}: relative max difference {', '.join(f'{d:.1e}' for d in rel_diffs)}")
sys.exit(1 if worst > 1e-4 else 0)

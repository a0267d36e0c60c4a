"""Shared helpers for the reference generators in this folder (no Ultralytics code: they import the installed package).

Run the generators with a scratch Python that has ``ultralytics==8.4.190`` (see ../README.md), never the project's
.venv. Each ``*_module.py``-style generator prints a Python module with the same top-level names and entry layout as
the reference file it regenerates; ``--out FILE`` writes it to FILE instead, ``--check`` compares the freshly measured
entries with the committed reference file and prints every difference (exit status 1 when any), ``--only TEXT`` keeps
the entries whose config path contains TEXT (a quick spot check).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")  # never download anything (no weights are needed for any figure)

HERE = Path(__file__).resolve().parent
REFERENCE_DIR = HERE.parent  # tests/reference
JSON_REFERENCE = REFERENCE_DIR / "ultralytics-8.4.190-smallest-scales.json"


def args(description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", help="write the module to this file (default: print it)")
    p.add_argument("--check", action="store_true", help="compare with the committed reference file instead")
    p.add_argument("--only", help="only configs whose path contains this text")
    return p.parse_args()


def quiet_ultralytics():
    import torch

    torch.set_num_threads(1)
    from ultralytics.utils import LOGGER

    LOGGER.setLevel(logging.ERROR)


def cfg_root() -> Path:
    import ultralytics

    return Path(ultralytics.__file__).resolve().parent / "cfg" / "models"


def yaml_files(dirs) -> list[str]:
    """YAML paths relative to cfg/models, directory by directory in the order given, files sorted in each."""
    root = cfg_root()
    return [f"{d}/{p.name}" for d in dirs for p in sorted((root / d).glob("*.yaml"))]


def load(cfg: str, scale):
    """Ultralytics' own YAML loader, with the scale set explicitly (None: the YAML has no `scales`)."""
    from ultralytics.nn.tasks import yaml_model_load

    d = yaml_model_load(str(cfg_root() / cfg))
    d["scale"] = scale
    return d


def scales_of(d) -> list:
    return list(d["scales"]) if d.get("scales") else [None]


def head_name(d) -> str:
    return d["head"][-1][2]


def model_class(d):
    from ultralytics.nn import tasks

    return {
        "Detect": tasks.DetectionModel, "v10Detect": tasks.DetectionModel, "Segment": tasks.SegmentationModel,
        "Pose": tasks.PoseModel, "OBB": tasks.OBBModel, "Classify": tasks.ClassificationModel,
        "RTDETRDecoder": tasks.RTDETRDetectionModel,
        # YOLO26 heads (Ultralytics 8.4.190, cfg/models/26/)
        "Segment26": tasks.SegmentationModel, "Pose26": tasks.PoseModel, "OBB26": tasks.OBBModel,
        "Depth": tasks.DepthModel, "SemanticSegment": tasks.SemanticSegmentationModel,
    }.get(head_name(d))


def offline_torchvision(d):
    """TorchVision rows ask for weights "DEFAULT": build with weights=None (random init, same counts) offline."""
    for row in d.get("backbone", []) + d.get("head", []):
        if row[2] == "TorchVision":
            row[3] = [None if a == "DEFAULT" else a for a in row[3]]
    return d


def shape_of(x):
    """Nested shapes of a layer output: tensors -> lists of ints, tuples/lists -> lists, dicts -> dicts."""
    import torch

    if isinstance(x, torch.Tensor):
        return list(x.shape)
    if isinstance(x, dict):
        return {k: shape_of(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [shape_of(v) for v in x]
    return repr(x)


def emit(header: str, blocks: list[tuple[str, str, dict, str]], opts) -> None:
    """blocks: (comment line or "", NAME, dict, "line" | "indented"); print or --out the module."""
    lines = [f'"""{header}"""', ""]
    for comment, name, data, style in blocks:
        lines.append("")
        if comment:
            lines.append(f"# {comment}")
        lines.append(f"{name} = {{")
        for k, v in data.items():
            if style == "indented" and isinstance(v, dict):
                lines.append(f"    {k!r}: {{")
                for field, value in v.items():
                    lines.append(f'        "{field}": {value!r},')
                lines.append("    },")
            elif style == "indented" and isinstance(v, list):
                lines.append(f"    {k!r}: [")
                for i, value in enumerate(v):
                    lines.append(f"        {value!r},  # {i}")
                lines.append("    ],")
            else:
                lines.append(f"    {k!r}: {v!r},")
        lines.append("}")
    text = "\n".join(lines) + "\n"
    if opts.out:
        Path(opts.out).write_text(text)
    else:
        sys.stdout.write(text)


def check(reference_file: str, blocks: list[tuple[str, str, dict, str]]) -> None:
    """Compare each measured entry with the committed one; exit 1 on any difference or missing entry."""
    spec = importlib.util.spec_from_file_location("committed_reference", REFERENCE_DIR / reference_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    bad = 0
    for _, name, data, _ in blocks:
        committed, differ = getattr(module, name), 0
        for key, value in data.items():
            if key not in committed:
                print(f"{name}[{key!r}]: not in {reference_file}")
                differ += 1
            elif committed[key] != value:
                print(f"{name}[{key!r}]: measured {value!r} != committed {committed[key]!r}")
                differ += 1
        print(f"{name}: {len(data)} entries measured, {len(data) - differ} equal the committed ones")
        bad += differ
    sys.exit(1 if bad else 0)


def finish(header: str, reference_file: str, blocks, opts) -> None:
    if opts.check:
        check(reference_file, blocks)
    else:
        emit(header, blocks, opts)

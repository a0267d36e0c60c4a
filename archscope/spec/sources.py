"""What a user names on the command line: a model YAML (optionally ``file.yaml:scale``) or a report JSON.

``compare`` and ``check`` take both; a report JSON is read as it is (no torch), a YAML is profiled
(:func:`archscope.api.load_source`).

A YAML name that is no file here (``yolo11n.yaml``) is looked up the way Ultralytics' ``yaml_model_load`` does it,
in an installed ``ultralytics`` package (found with ``importlib.util.find_spec``; neither it nor torch is imported):
:func:`find_model_file`. archscope itself ships no Ultralytics YAML (they are AGPL-3.0).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path

from archscope.errors import ArchscopeError

REPORT_SUFFIXES = (".json",)


@dataclass(frozen=True)
class Source:
    path: str
    scale: str | None = None

    @property
    def is_report(self) -> bool:
        return self.path.lower().endswith(REPORT_SUFFIXES)

    def __str__(self) -> str:
        return self.path + (f":{self.scale}" if self.scale else "")


def parse_source(text: str) -> Source:
    """``"m.yaml:s"`` -> Source("m.yaml", "s"). A path that exists as written wins, so a file name may hold a colon."""
    text = str(text)
    path, sep, scale = text.rpartition(":")
    if not sep or os.path.exists(text) or not path or any(c in scale for c in "/\\"):
        return Source(text)
    if not scale:
        raise ArchscopeError("empty scale after ':' (write file.yaml:s, or leave the ':' out)", file=path)
    return Source(path, scale)


# ----------------------------------------------------------------------------------- Ultralytics model names

_P6_STEMS = {f"yolov{d}{x}6" for x in "nsmlx" for d in (5, 8)}  # yolov8n6 -> yolov8n-p6 (Ultralytics' renaming)
_SCALED = re.compile(r"(\d+)([nslmx])(.+)?$")  # yolov8s-seg.yaml -> yolov8-seg.yaml: drop the scale letter
_SCALE_OF = re.compile(r"yolo(e-)?v?\d+([nslmx])")  # the scale letter in a stem: yolo11n, yolov8s-seg, yoloe-11l


@dataclass(frozen=True)
class ModelFile:
    path: str  # the file to read
    scale: str | None = None  # the scale an Ultralytics name implies (yolo11n.yaml -> "n"), None for a plain file
    name: str | None = None  # the model's name as the user wrote it (yolo11n), when the file is named otherwise


def ultralytics_names(name: str) -> tuple[list[str], str | None]:
    """The file names Ultralytics tries for a model name, in order, and the scale the name implies.

    ``yolo11n.yaml`` -> ``(["yolo11n.yaml", "yolo11.yaml"], "n")``; ``yolov8s-seg.yaml`` -> ``yolov8-seg.yaml``
    with scale ``s``; ``yolov8n6.yaml`` is first renamed ``yolov8n-p6.yaml``; ``rtdetr-l.yaml`` stays as it is, with
    no scale. Only the file name is rewritten, never a folder in front of it.
    """
    folder, base = os.path.split(name)
    stem, suffix = os.path.splitext(base)
    if stem in _P6_STEMS:
        stem = re.sub(r"(\d+)([nslmx])6(.+)?$", r"\1\2-p6\3", stem)
    first = stem + suffix
    unified = _SCALED.sub(r"\1\3", first)
    names = [os.path.join(folder, n) for n in dict.fromkeys((first, unified))]
    match = _SCALE_OF.search(stem)
    return names, (match.group(2) if match else None)


def ultralytics_models_dir() -> Path | None:
    """``cfg/models`` of the installed ``ultralytics`` package (not imported), or None when there is none."""
    try:
        spec = importlib.util.find_spec("ultralytics")
    except (ImportError, ValueError):
        return None
    for root in (spec.submodule_search_locations or []) if spec is not None else []:
        models = Path(root) / "cfg" / "models"
        if models.is_dir():
            return models
    return None


def find_model_file(path: str) -> ModelFile:
    """The model file to read for a name the user gave.

    A file that exists is read as it is. Otherwise, as Ultralytics resolves a model name: each of
    :func:`ultralytics_names` in turn, first as a file here, then searched for under the installed ``ultralytics``
    package's ``cfg/models`` (any sub-folder); the scale comes from the name. Nothing found is one error saying
    where it looked.
    """
    if os.path.exists(path) or os.path.isabs(path):
        return ModelFile(path)
    names, scale = ultralytics_names(path)
    models = ultralytics_models_dir()
    stem = Path(path).stem
    for name in names:
        if os.path.exists(name):
            return ModelFile(name, scale, stem if name != path else None)
        if models is not None:
            found = sorted(glob.glob(os.path.join(glob.escape(str(models)), "**", glob.escape(name)), recursive=True))
            if len(found) > 1:
                raise ArchscopeError(f"several files in {models} are named {name}: {', '.join(found)}; give the path",
                                     file=path)
            if found:
                return ModelFile(found[0], scale, stem)
    tried = " or ".join(names)
    where = (f"looked for {tried} in the working directory and under {models}" if models is not None else
             f"looked for {tried} in the working directory; no ultralytics package is installed to look in")
    raise ArchscopeError(f"no such file ({where}); archscope ships no Ultralytics YAML (they are AGPL-3.0): "
                         "install ultralytics or give the YAML's path", file=path)

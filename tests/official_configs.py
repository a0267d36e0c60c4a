"""The official Ultralytics model YAMLs, read from the released wheel at test time.

The YAMLs ship inside the ``ultralytics`` package (AGPL-3.0). archscope does not vendor them: the tests download the
pinned wheel once with pip (no dependencies, nothing installed), extract ``ultralytics/cfg/models/**.yaml`` into a
cache folder, and read them from there. Set ARCHSCOPE_ULTRALYTICS_CFG to a ``cfg/models`` folder to skip the download.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ULTRALYTICS_VERSION = "8.4.190"


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "archscope-tests" / f"ultralytics-{ULTRALYTICS_VERSION}"


def official_cfg_dir() -> Path:
    """Folder holding ``v8/yolov8.yaml`` etc. Downloads the wheel on first use."""
    override = os.environ.get("ARCHSCOPE_ULTRALYTICS_CFG")
    if override:
        return Path(override)
    root = _cache_root()
    models = root / "models"
    if (root / "complete").exists():
        return models
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               f"ultralytics=={ULTRALYTICS_VERSION}", "-d", tmp]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("ultralytics-*.whl"))
        if done.returncode != 0 or not wheels:
            raise RuntimeError(f"could not download ultralytics=={ULTRALYTICS_VERSION} to read its YAMLs: "
                               f"{done.stderr.strip()[-500:]}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            for name in wheel.namelist():
                if name.startswith("ultralytics/cfg/models/") and name.endswith(".yaml"):
                    target = models / name.removeprefix("ultralytics/cfg/models/")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(wheel.read(name))
    (root / "complete").write_text(ULTRALYTICS_VERSION)
    return models

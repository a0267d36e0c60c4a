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


def wheel_yamls(dist: str, version: str, prefix: str) -> Path:
    """The ``*.yaml`` files under ``prefix`` (e.g. ``ultralytics/cfg/models/``) of PyPI ``dist==version``, extracted
    once into ``$XDG_CACHE_HOME/archscope-tests/<dist>-<version>/models`` (pip download, no deps, nothing installed)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    root = Path(base) / "archscope-tests" / f"{dist}-{version}"
    models = root / "models"
    if (root / "complete").exists():
        return models
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               f"{dist}=={version}", "-d", tmp]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob(f"{dist}-*.whl"))
        if done.returncode != 0 or not wheels:
            raise RuntimeError(f"could not download {dist}=={version} to read its YAMLs: {done.stderr.strip()[-500:]}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            for name in wheel.namelist():
                if name.startswith(prefix) and name.endswith(".yaml"):
                    target = models / name.removeprefix(prefix)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(wheel.read(name))
    (root / "complete").write_text(version)
    return models


def official_cfg_dir() -> Path:
    """Folder holding ``v8/yolov8.yaml`` etc. Downloads the wheel on first use."""
    override = os.environ.get("ARCHSCOPE_ULTRALYTICS_CFG")
    if override:
        return Path(override)
    return wheel_yamls("ultralytics", ULTRALYTICS_VERSION, "ultralytics/cfg/models/")

#!/usr/bin/env bash
# One-command set-up for a fresh machine: a virtual environment in .venv with archscope and its test tools.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
# Pin torch first: this CPU build is what the project is tested with, and with torch already present pip does not
# pull a multi-GB CUDA build to satisfy archscope's plain 'torch>=2.2' requirement. Newer torch works too.
.venv/bin/pip install --quiet torch==2.13.0
# The distribution is archscope-yolo (PyPI's "archscope" is another project); the import and the command are archscope.
# A .venv made before the rename holds this project under the old name: take it out so that one copy is installed.
.venv/bin/pip uninstall --quiet --yes archscope >/dev/null 2>&1 || true
.venv/bin/pip install --quiet -e '.[dev]'
echo "archscope (distribution archscope-yolo) is installed in .venv: try  .venv/bin/archscope profile sample_configs/tiny-detector.yaml"

"""Ultralytics-style model names (archscope/spec/sources.py): ``yolo11n.yaml`` that is no file here is found in an
installed ``ultralytics`` package's cfg/models, with the scale taken from the name, as Ultralytics'
``yaml_model_load`` does. The package here is a fake folder with a small YAML of our own (never the real one)."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

import archscope
from archscope.cli.app import app
from archscope.spec.sources import find_model_file, ultralytics_names

TINY = """\
nc: 5
scales:
  n: [0.5, 0.25, 1024]
  s: [0.5, 0.50, 1024]
backbone:
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, Conv, [128, 3, 2]]
head:
  - [-1, 1, Conv, [64, 1, 1]]
"""


@pytest.fixture
def fake_ultralytics(tmp_path, monkeypatch):
    """A folder named ultralytics with cfg/models/11/yolo11.yaml and v8/yolov8-seg.yaml, first on sys.path."""
    root = tmp_path / "site"
    models = root / "ultralytics" / "cfg" / "models"
    (models / "11").mkdir(parents=True)
    (models / "v8").mkdir()
    (models / "11" / "yolo11.yaml").write_text(TINY)
    (models / "v8" / "yolov8-seg.yaml").write_text(TINY)
    monkeypatch.syspath_prepend(str(root))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return models


@pytest.mark.parametrize("name, names, scale", [
    ("yolo11n.yaml", ["yolo11n.yaml", "yolo11.yaml"], "n"),
    ("yolov8s-seg.yaml", ["yolov8s-seg.yaml", "yolov8-seg.yaml"], "s"),
    ("yolov8n6.yaml", ["yolov8n-p6.yaml", "yolov8-p6.yaml"], "n"),  # Ultralytics' P6 renaming
    ("yoloe-11l-seg.yaml", ["yoloe-11l-seg.yaml", "yoloe-11-seg.yaml"], "l"),
    ("yolo11x-cls-resnet18.yaml", ["yolo11x-cls-resnet18.yaml", "yolo11-cls-resnet18.yaml"], "x"),
    ("rtdetr-l.yaml", ["rtdetr-l.yaml"], None),  # no digit before the letter: the name is the file
    ("yolo11.yaml", ["yolo11.yaml"], None),
    ("cfg/yolo11m.yaml", ["cfg/yolo11m.yaml", "cfg/yolo11.yaml"], "m"),  # only the file name is rewritten
])
def test_names_and_scale_follow_ultralytics(name, names, scale):
    assert ultralytics_names(name) == (names, scale)


def test_name_resolves_in_the_package_with_its_scale(fake_ultralytics):
    found = find_model_file("yolo11n.yaml")
    assert found.path == str(fake_ultralytics / "11" / "yolo11.yaml") and found.scale == "n"
    report = archscope.profile("yolo11n.yaml", imgsz=64, analyse=False)
    assert report.model.scale == "n" and report.model.name == "yolo11n"
    assert report.model.path == str(fake_ultralytics / "11" / "yolo11.yaml")
    # scale n: width 0.25 -> Conv(3, 16, 3) and Conv(16, 32, 3) + Conv(32, 16, 1): 432+32 + 4608+64 + 512+32 params
    assert report.totals.params == 5680
    report = archscope.profile("yolov8s-seg.yaml", imgsz=64, analyse=False)
    # scale s: width 0.5 -> Conv(3, 32, 3) + Conv(32, 64, 3) + Conv(64, 32, 1), each with its BatchNorm
    assert report.model.scale == "s" and report.totals.params == (864 + 64) + (18432 + 128) + (2048 + 64)


def test_explicit_scale_wins_and_the_cli_takes_the_name(fake_ultralytics):
    assert archscope.profile("yolo11n.yaml", scale="s", imgsz=64, analyse=False).model.scale == "s"
    result = CliRunner().invoke(app, ["profile", "yolo11n.yaml", "--imgsz", "64"])
    assert result.exit_code == 0, result.output
    assert "yolo11" in result.output


def test_a_local_file_comes_first(fake_ultralytics):
    (fake_ultralytics.parents[3] / "work" / "yolo11.yaml").write_text(TINY.replace("nc: 5", "nc: 7"))
    found = find_model_file("yolo11n.yaml")
    assert (found.path, found.scale, found.name) == ("yolo11.yaml", "n", "yolo11n")


def test_unknown_name_says_where_it_looked(fake_ultralytics):
    result = CliRunner().invoke(app, ["profile", "yolo99n.yaml"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"archscope: error: yolo99n.yaml: no such file (looked for yolo99n.yaml or yolo99.yaml in the working "
        f"directory and under {fake_ultralytics}); archscope ships no Ultralytics YAML (they are AGPL-3.0): install "
        "ultralytics or give the YAML's path")


def test_without_ultralytics_the_message_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("archscope.spec.sources.ultralytics_models_dir", lambda: None)
    result = CliRunner().invoke(app, ["profile", "yolo11n.yaml"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "archscope: error: yolo11n.yaml: no such file (looked for yolo11n.yaml or yolo11.yaml in the working "
        "directory; no ultralytics package is installed to look in); archscope ships no Ultralytics YAML (they are "
        "AGPL-3.0): install ultralytics or give the YAML's path")


def test_lookup_imports_neither_ultralytics_nor_torch(fake_ultralytics):
    import subprocess

    code = ("import sys; from archscope.spec.sources import find_model_file; f = find_model_file('yolo11n.yaml'); "
            "print(f.scale, 'ultralytics' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": ":".join(sys.path)}).stdout.split()
    assert out == ["n", "False", "False"]

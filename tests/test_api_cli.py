"""The Python API, the JSON schema scripts rely on, output files, and CLI start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archscope
from archscope.api import parse_imgsz
from archscope.cli.app import app
from archscope.errors import ArchscopeError
from archscope.reports.profile import ModelReport

SAMPLE = str(Path(__file__).resolve().parents[1] / "sample_configs" / "tiny-detector.yaml")
runner = CliRunner()


def test_profile_api_returns_the_documented_structure():
    report = archscope.profile(SAMPLE, imgsz="640x384")
    data = report.to_dict()
    assert data["schema"] == "archscope.report/2"
    assert set(data) >= {"schema", "model", "totals", "layers"}
    assert {"path", "name", "scale", "imgsz", "batch", "ch", "nc"} <= set(data["model"])
    assert data["model"]["scale"] == "n"  # the first scale, said explicitly
    assert data["model"]["imgsz"] == [640, 384]
    assert {"params", "layers"} <= set(data["totals"])
    first = data["layers"][0]
    assert list(first)[:2] == ["index", "from"]
    assert {"index", "from", "n", "module", "args", "params", "output_shape"} <= set(first)
    assert first["output_shape"] == [1, 16, 320, 192]  # Conv 64*0.25=16 channels, stride 2, H x W = 640 x 384
    assert data["totals"]["params"] == sum(layer["params"] for layer in data["layers"])
    assert data["layers"][-1]["output_shape"] == [1, 24, 80 * 48 + 40 * 24 + 20 * 12]  # 4 box + 20 classes


def test_profile_accepts_a_dict_and_options():
    spec = {"nc": 5, "backbone": [[-1, 1, "Conv", [8, 3, 2]]], "head": []}
    report = archscope.profile(spec, imgsz=(32, 64), batch=2, ch=1)
    assert report.layers[0].args == [1, 8, 3, 2]
    assert report.layers[0].output_shape == [2, 8, 16, 32]
    assert report.layers[0].params == 1 * 8 * 9 + 2 * 8  # conv weight + BN weight and bias


def test_report_round_trips_through_json():
    report = archscope.profile(SAMPLE, scale="s")
    again = ModelReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again.to_dict() == report.to_dict()


def test_nc_option_changes_the_head():
    small = archscope.profile(SAMPLE, nc=1)
    assert small.layers[-1].output_shape[1] == 5
    assert small.model.nc == 1


@pytest.mark.parametrize("value, expected", [(640, (640, 640)), ("640", (640, 640)), ("640x384", (640, 384)),
                                             ("384X640", (384, 640)), ((320, 256), (320, 256))])
def test_parse_imgsz(value, expected):
    assert parse_imgsz(value) == expected


@pytest.mark.parametrize("value", ["0", "-64", "64x", "a", "1x2x3", True])
def test_parse_imgsz_rejects(value):
    with pytest.raises(ArchscopeError):
        parse_imgsz(value)


def test_cli_json_to_stdout_is_valid_json():
    result = runner.invoke(app, ["profile", SAMPLE, "--format", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["model"]["name"] == "tiny-detector"


@pytest.mark.parametrize("suffix, probe", [(".json", '"schema"'), (".csv", "index,from,n,module"),
                                           (".md", "| # | from |"), (".html", "<html"), (".txt", "module")])
def test_cli_output_file_format_follows_suffix(tmp_path, suffix, probe):
    out = tmp_path / f"report{suffix}"
    result = runner.invoke(app, ["profile", SAMPLE, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert probe in out.read_text()
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left beside it


def test_cli_table_shows_scale_and_summary():
    result = runner.invoke(app, ["profile", SAMPLE, "--scale", "s", "--imgsz", "320"])
    assert result.exit_code == 0
    assert "tiny-detector (scale s)" in result.stdout
    assert "imgsz 320x320 (HxW), batch 1" in result.stdout
    assert "[None, 2, 'nearest']" in result.stdout  # arguments printed as Ultralytics prints them


def test_blocks_lists_rules():
    result = runner.invoke(app, ["blocks"], env={"COLUMNS": "220"})
    assert result.exit_code == 0
    for name in ("C2f", "C3k2", "Detect", "nn.Upsample", "SPPF"):
        assert name in result.stdout
    assert "inner (n -> arg 2)" in result.stdout and "outer (n copies)" in result.stdout


def test_help_does_not_import_torch():
    """A user's first command must not pay for `import torch` (seconds)."""
    code = "import sys; from archscope.cli.app import app; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
    done = subprocess.run([sys.executable, "-m", "archscope", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "profile" in done.stdout


def test_output_files_get_the_umask_mode_not_mkstemps_0600(tmp_path):
    import os

    from archscope.util.files import write_atomic

    old = os.umask(0o022)
    try:
        write_atomic(str(tmp_path / "report.md"), "x")
        write_atomic(str(tmp_path / "plot.png"), b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "report.md").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "plot.png").stat().st_mode & 0o777 == 0o644

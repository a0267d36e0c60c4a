"""`archscope bench` on the command line: output formats, files, and the error contract (one line, exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from archscope.measure import runner as benchmarking
from archscope.cli.app import app

SAMPLE = str(Path(__file__).resolve().parents[1] / "sample_configs" / "tiny-detector.yaml")
QUICK = ["--imgsz", "64", "--runs", "3", "--warmup", "1", "--device", "cpu"]
runner = CliRunner()


@pytest.fixture(autouse=True)
def no_saved_device(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHSCOPE_DEVICE_FILE", str(tmp_path / "no-such-device.yaml"))


def bench(*args):
    result = runner.invoke(app, ["bench", *args])
    return result.exit_code, result.stdout, result.stderr


def assert_input_error(args, *fragments, folder=None):
    before = set(os.listdir(folder)) if folder else None
    code, out, err = bench(*args)
    assert code == 2, (out, err)
    assert "Traceback" not in out + err and out == ""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("archscope: error: "), err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    if folder:
        assert set(os.listdir(folder)) == before  # nothing written, not even half
    return err


def test_table_with_per_layer_and_two_batches():
    code, out, err = bench(SAMPLE, *QUICK, "--batch", "1,2", "--per-layer")
    assert code == 0, err
    assert "tiny-detector (scale n)" in out and "fp32 on cpu" in out
    assert "median ms" in out and "p90 ms" in out and "img/s" in out
    assert "per layer, batch 1" in out and "per layer, batch 2" in out
    assert out.count("per-layer overhead") == 2 and "sum of layers" in out
    assert "C2PSA" in out and "Detect" in out
    assert "generic 'cpu' preset" in out  # says where pred ms comes from
    assert err == ""  # no progress bar when stderr is not a terminal


def test_json_to_stdout():
    code, out, _ = bench(SAMPLE, *QUICK, "--batch", "1,2", "-f", "json")
    assert code == 0
    data = json.loads(out)
    assert data["schema"] == "archscope.bench/1"
    assert [b["batch"] for b in data["batches"]] == [1, 2]
    assert all(b["runs"] == 3 and b["median_ms"] > 0 and b["layers"] is None for b in data["batches"])
    assert data["settings"]["runs"] == 3 and data["settings"]["min_time"] == 0.0


@pytest.mark.parametrize("suffix, probe", [(".json", '"archscope.bench/1"'), (".csv", "batch,index,from,module"),
                                           (".md", "| batch | runs |"), (".html", "<html"), (".txt", "median ms")])
def test_output_file_follows_suffix(tmp_path, suffix, probe):
    out = tmp_path / f"bench{suffix}"
    code, stdout, err = bench(SAMPLE, *QUICK, "--per-layer", "-o", str(out))
    assert code == 0, err
    assert probe in out.read_text() and stdout == ""
    assert f"wrote {suffix.lstrip('.').replace('txt', 'table').replace('markdown', 'md')}" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary file beside it


def test_csv_without_per_layer_has_one_row_per_batch():
    code, out, _ = bench(SAMPLE, *QUICK, "--batch", "1,2", "-f", "csv")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith("batch,runs,outliers,median_ms") and len(lines) == 3


@pytest.mark.parametrize("device, fragment", [("cuda", "no CUDA GPU"), ("cuda:1", "no CUDA GPU"),
                                              ("mps", "no MPS"), ("tpu", "auto, cpu, cuda")])
def test_missing_device_is_one_line_and_writes_nothing(tmp_path, device, fragment):
    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("MPS is present")
    assert_input_error([SAMPLE, "--device", device, "-o", str(tmp_path / "out.json")], fragment, folder=tmp_path)


def test_memory_refusal_is_one_line_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(benchmarking, "host_available_bytes", lambda: 10_000)
    err = assert_input_error([SAMPLE, *QUICK, "--batch", "1,64", "-o", str(tmp_path / "out.json")],
                             "batch 1 at 64x64 fp32 needs about", "GiB is free", "smaller --batch",
                             folder=tmp_path)
    assert "weights" in err and "peak activations" in err


@pytest.mark.parametrize("args, fragment", [
    (["--batch", "0"], "--batch must be a positive integer"),
    (["--batch", "a,b"], "--batch must be a positive integer"),
    (["--runs", "0"], "--runs must be a positive integer"),
    (["--min-time", "-1"], "--min-time must be a positive number"),
    (["--dtype", "fp64"], "--dtype must be one of fp32, fp16, bf16"),
    (["--dtype", "int8"], "--dtype must be one of fp32, fp16, bf16"),
    (["--threads", "0"], "--threads must be an integer >= 1"),
    (["--warmup", "-1"], "--warmup must be an integer >= 0"),
    (["--imgsz", "65"], "not divisible by the model's max stride 32"),
    (["--device-spec", "nope"], "unknown device 'nope'"),
])
def test_bad_options(args, fragment):
    assert_input_error([SAMPLE, *args], fragment)


def test_missing_yaml(tmp_path):
    assert_input_error([str(tmp_path / "missing.yaml"), "--device", "cpu"], "missing.yaml", "no such file")


def test_unwritable_output_fails_before_timing(tmp_path, monkeypatch):
    monkeypatch.setattr(benchmarking, "run_bench", lambda *a, **k: pytest.fail("timed before checking -o"))
    assert_input_error([SAMPLE, "-o", str(tmp_path / "no-dir" / "x.json")], "cannot write output")


def test_calibrate_save_default_writes_where_bench_reads(tmp_path, monkeypatch):
    target = tmp_path / "cfg" / "archscope" / "device.yaml"
    monkeypatch.setenv("ARCHSCOPE_DEVICE_FILE", str(target))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["calibrate", "--save-default", "--seconds", "0.3", "--dtypes", "fp32",
                                 "--name", "this-box", "--class-seconds", "0.5", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert target.is_file() and not (tmp_path / "device.yaml").exists()
    assert "op classes (fp32)" in result.output and "op_classes:" in target.read_text()
    code, out, _ = bench(SAMPLE, *QUICK, "--per-layer", "-f", "json")
    settings = json.loads(out)["settings"]
    assert settings["device_spec"] == "this-box" and settings["device_spec_origin"] == f"saved default ({target})"
    error = json.loads(out)["batches"][0]["prediction_error"]  # the calibrated prediction against the measurement
    assert error["layers"] > 0 and error["median_factor"] >= 1.0 and -1.0 <= error["rank_correlation"] <= 1.0


def test_bench_help_lists_the_options_without_importing_torch():
    code = ("import sys; from archscope.cli.app import app; from typer.testing import CliRunner; "
            "r = CliRunner().invoke(app, ['bench', '--help']); assert r.exit_code == 0, r.output; "
            "assert 'torch' not in sys.modules, 'torch imported'; print(r.output)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    for option in ("--device", "--batch", "--dtype", "--channels-last", "--fuse", "--compile", "--threads",
                   "--warmup", "--runs", "--min-time", "--seed", "--per-layer", "--device-spec"):
        assert option in done.stdout

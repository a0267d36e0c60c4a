"""One vocabulary across commands: --device-spec is the roofline device, --device the torch device (the old
spelling still works, with a one-line note), file.yaml:scale wherever a model is named, and each command offers only
the formats it writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archscope
import archscope.api as api
from archscope.cli.app import app
from archscope.cli.options import format_choices, is_torch_device
from archscope.vocab import COMMAND_FORMATS

SAMPLE = str(Path(__file__).resolve().parents[1] / "sample_configs" / "tiny-detector.yaml")
runner = CliRunner()
SMALL = ["--imgsz", "32"]


def run(*args, env=None):
    result = runner.invoke(app, [str(a) for a in args], env=env)
    return result.exit_code, result.stdout, result.stderr


def lines(text):
    return [line for line in text.splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------- --device


@pytest.mark.parametrize("text, torch", [("cpu", True), ("cuda", True), ("cuda:1", True), ("CUDA:0", True),
                                         ("mps", True), ("auto", True), ("a100", False), ("cuda:x", False),
                                         ("dev.yaml", False)])
def test_torch_device_spellings(text, torch):
    assert is_torch_device(text) is torch


def test_profile_device_cuda_is_the_torch_device_and_profile_times_nothing():
    code, out, err = run("profile", SAMPLE, *SMALL, "--device", "cuda", "-f", "json")
    assert code == 0, err
    assert lines(err) == ["archscope: note: profile times nothing, so --device cuda (the torch device to time on) "
                          "changes nothing; the roofline device is --device-spec (e.g. --device-spec a100)"]
    assert json.loads(out)["model"]["device_spec"] is None  # no roofline: cuda is no preset


def test_profile_device_preset_is_the_old_spelling_of_device_spec():
    code, out, err = run("profile", SAMPLE, *SMALL, "--device", "a100", "-f", "json")
    assert code == 0, err
    assert lines(err) == ["archscope: note: --device a100 for the roofline device is deprecated: write --device-spec "
                          "a100 (--device is the torch device to time on)"]
    code, new, err = run("profile", SAMPLE, *SMALL, "--device-spec", "a100", "-f", "json")
    assert code == 0 and err == ""
    assert json.loads(out)["totals"] == json.loads(new)["totals"]
    assert json.loads(out)["model"]["device_spec"] == "a100"


def test_profile_device_file_is_the_old_spelling_too(tmp_path):
    spec = tmp_path / "box.yaml"
    spec.write_text("name: box\npeak_flops: {fp32: 1.0e12}\nbandwidth: 1.0e10\n")
    code, out, err = run("profile", SAMPLE, *SMALL, "--device", spec, "-f", "json")
    assert code == 0, err
    assert "deprecated: write --device-spec" in err and len(lines(err)) == 1
    assert json.loads(out)["model"]["device_spec"] == "box"


def test_device_that_is_neither_is_one_error_naming_both_meanings():
    code, out, err = run("profile", SAMPLE, "--device", "cdua")
    assert code == 2 and out == ""
    (line,) = lines(err)
    assert line.startswith("archscope: error: --device cdua: not a torch device (auto, cpu, cuda, cuda:N or mps), "
                           "and as the old spelling of --device-spec: unknown device 'cdua'")


def test_two_roofline_devices_are_refused():
    code, _, err = run("profile", SAMPLE, "--device", "a100", "--device-spec", "t4")
    assert code == 2 and "two roofline devices: --device-spec t4 and --device a100" in err


def test_device_is_hidden_where_nothing_is_timed():
    for command in ("profile", "snapshot", "check"):
        code, out, _ = run(command, "--help", env={"COLUMNS": "200"})
        assert code == 0 and "--device-spec" in out
        assert "--device " not in out.replace("--device-spec", ""), command


def test_snapshot_and_check_take_the_old_spelling_with_the_note(tmp_path):
    baseline = tmp_path / "base.json"
    code, _, err = run("snapshot", SAMPLE, *SMALL, "--device", "orin-nano", "-o", baseline)
    assert code == 0, err
    assert "--device orin-nano for the roofline device is deprecated" in err
    assert json.loads(baseline.read_text())["settings"]["device_spec"] == "orin-nano"
    code, out, err = run("check", SAMPLE, *SMALL, "--max-predicted-ms", "1000", "--device", "orin-nano")
    assert code == 0, out + err
    assert lines(err) == ["archscope: note: --device orin-nano for the roofline device is deprecated: write "
                          "--device-spec orin-nano (--device is the torch device to time on)"]
    code, out, err = run("check", SAMPLE, *SMALL, "--max-params", "5M", "--device", "cpu")
    assert code == 0 and "check times nothing, so --device cpu" in err


def test_compare_device_is_the_bench_device(monkeypatch):
    seen = []

    class Result:
        batches = [type("T", (), {"median_ms": 2.0, "layers": []})()]
        environment = type("E", (), {"device": "cpu"})()

    monkeypatch.setattr(api, "bench", lambda path, **kw: seen.append(kw) or Result())
    code, out, err = run("compare", SAMPLE, SAMPLE + ":s", *SMALL, "--bench", "--device", "cpu")
    assert code == 0, err
    assert [k["device"] for k in seen] == ["cpu", "cpu"] and err == ""
    code, out, err = run("compare", SAMPLE, SAMPLE + ":s", *SMALL, "--bench", "--bench-device", "cpu")
    assert code == 0 and lines(err) == ["archscope: note: --bench-device is deprecated: write --device cpu"]
    code, out, err = run("compare", SAMPLE, SAMPLE + ":s", *SMALL, "--device", "cpu")
    assert code == 0 and "compare times nothing without --bench, so --device cpu" in err


def test_compare_device_preset_is_the_old_roofline_spelling():
    code, out, err = run("compare", SAMPLE, SAMPLE + ":s", *SMALL, "--device", "t4", "-f", "json")
    assert code == 0, err
    assert "--device t4 for the roofline device is deprecated" in err
    assert json.loads(out)["device"]["name"] == "t4"


def test_bench_and_calibrate_name_the_roofline_option_for_a_preset():
    code, out, err = run("bench", SAMPLE, "--device", "a100")
    assert code == 2 and len(lines(err)) == 1
    assert "'a100' is a roofline device: --device is the torch device to time on, the roofline device is " \
           "--device-spec a100" in err
    code, out, err = run("calibrate", "--device", "rpi5", "-o", "unused.yaml")
    assert code == 2 and "'rpi5' is a roofline preset" in err


# ------------------------------------------------------------------------------------------ file.yaml:scale


def test_profile_file_colon_scale_is_the_scale_option():
    code, colon, err = run("profile", f"{SAMPLE}:s", *SMALL, "-f", "json")
    assert code == 0, err
    code, option, _ = run("profile", SAMPLE, *SMALL, "--scale", "s", "-f", "json")
    assert json.loads(colon)["totals"] == json.loads(option)["totals"]
    assert json.loads(colon)["model"]["scale"] == "s"
    code, _, err = run("profile", f"{SAMPLE}:s", "--scale", "n")
    assert code == 2 and "two scales given: ':s' and --scale n" in err


def test_api_profile_and_bench_take_file_colon_scale():
    assert archscope.profile(f"{SAMPLE}:s", imgsz=32, analyse=False).totals.params == \
        archscope.profile(SAMPLE, scale="s", imgsz=32, analyse=False).totals.params
    assert api.split_scale(f"{SAMPLE}:s", "s") == (SAMPLE, "s")
    assert api.split_scale(SAMPLE, None) == (SAMPLE, None)


def test_bench_file_colon_scale(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHSCOPE_DEVICE_FILE", str(tmp_path / "none.yaml"))
    code, out, err = run("bench", f"{SAMPLE}:s", *SMALL, "--runs", "1", "--warmup", "0", "--device", "cpu",
                         "-f", "json")
    assert code == 0, err
    assert json.loads(out)["model"]["scale"] == "s"


def test_check_and_snapshot_file_colon_scale(tmp_path):
    code, out, err = run("check", f"{SAMPLE}:s", *SMALL, "--max-params", "5M")
    assert code == 1 and "tiny-detector.yaml:s" in out  # scale s has 9.4 M parameters: over the budget
    code, _, err = run("snapshot", f"{SAMPLE}:s", *SMALL, "-o", tmp_path / "b.json")
    assert code == 0 and json.loads((tmp_path / "b.json").read_text())["model"]["scale"] == "s"


# ------------------------------------------------------------------------------------------------ formats


def test_each_command_offers_the_formats_it_writes():
    assert [f.value for f in format_choices("check")] == ["table", "json", "md", "markdown"]
    assert [f.value for f in format_choices("devices")] == ["table", "json"]
    assert [f.value for f in format_choices("profile")] == ["table", "json", "csv", "md", "markdown", "html"]
    assert set(COMMAND_FORMATS) == {"profile", "compare", "bench", "check", "devices", "explain", "sweep"}


@pytest.mark.parametrize("args", [["check", SAMPLE, "--max-params", "5M", "-f", "csv"],
                                  ["check", SAMPLE, "--max-params", "5M", "-f", "html"],
                                  ["devices", "-f", "csv"], ["devices", "-f", "md"]])
def test_a_format_a_command_does_not_write_is_refused_by_the_option(args):
    code, out, err = run(*args)
    assert code == 2 and out == ""
    assert "Invalid value for '--format'" in err


def test_the_help_lists_only_those_formats():
    _, out, _ = run("check", "--help", env={"COLUMNS": "200"})
    assert "table|json|md|markdown" in out and "csv" not in out
    _, out, _ = run("devices", "--help", env={"COLUMNS": "200"})
    assert "table|json" in out and "csv" not in out


def test_check_markdown_and_devices_json_still_work():
    code, out, _ = run("check", SAMPLE, *SMALL, "--max-params", "5M", "-f", "markdown")
    assert code == 0 and "|" in out
    code, out, _ = run("devices", "-f", "json")
    assert code == 0 and json.loads(out)[0]["name"] == "cpu"


def test_pyproject_path_may_name_its_scale(tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tiny.yaml").write_text(Path(SAMPLE).read_text())
    (tmp_path / "pyproject.toml").write_text('[tool.archscope]\nimgsz = 32\n[[tool.archscope.models]]\n'
                                             'path = "models/tiny.yaml:s"\nmax-params = "5M"\n')
    monkeypatch.chdir(tmp_path)
    code, out, err = run("check")
    assert code == 1 and "models/tiny.yaml:s" in out  # scale s: 9,435,532 parameters, over 5M
    (tmp_path / "pyproject.toml").write_text('[[tool.archscope.models]]\npath = "models/tiny.yaml:s"\nscale = "n"\n'
                                             'max-params = "5M"\n')
    code, out, err = run("check")
    assert code == 2 and "two scales given: ':s' and scale = 'n'" in err

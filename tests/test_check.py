"""archscope check and snapshot: budgets from options and from [tool.archscope] in a throwaway git repository,
baselines with a tolerance, report schema versions, exit codes 0/1/2 and GITHUB_STEP_SUMMARY."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archscope.cli.app import app
from archscope.errors import ArchscopeError
from archscope.check.gate import parse_quantity, parse_tolerance

runner = CliRunner()
SAMPLE = str(Path(__file__).resolve().parents[1] / "sample_configs" / "tiny-detector.yaml")

MODEL = """\
nc: 3
backbone:
  - [-1, 1, Conv, [16, 3, 2]]
  - [-1, 1, Conv, [{c}, 3, 2]]
head:
"""
# Hand-derived at 64x64 (c = 32). params: Conv(c1, c2, 3) = 9*c1*c2 weights + 2*c2 BN.
PARAMS = (9 * 3 * 16 + 32) + (9 * 16 * 32 + 64)  # 5,136
# FLOPs: conv multiply-adds x2, plus BN (2 per element) and SiLU (5 per element) on each output.
MAC = 2 * 16 * 32 * 32 * 3 * 9 + 2 * 32 * 16 * 16 * 16 * 9  # 3,244,032
FLOPS = MAC + 7 * (16 * 32 * 32 + 32 * 16 * 16)  # 3,416,064
ULTRALYTICS = MAC + 8 * (16 * 32 * 32 + 32 * 16 * 16)  # thop's BN charge: 8 per input element -> 3,440,640


def run(*args, env=None):
    result = runner.invoke(app, [str(a) for a in args], env=env)
    return result.exit_code, result.output


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A throwaway git repository with a model, as a user's project would be."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "net.yaml").write_text(MODEL.format(c=32))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def pyproject(repo, text):
    (repo / "pyproject.toml").write_text("[project]\nname = 'demo'\n\n" + textwrap.dedent(text))


@pytest.mark.parametrize("text, expected", [
    ("5M", 5e6), ("5.2M", 5.2e6), ("1.5G", 1.5e9), ("300k", 3e5), ("2500000", 2.5e6), (12, 12.0), ("7.5", 7.5),
])
def test_parse_quantity(text, expected):
    assert parse_quantity(text, what="x") == pytest.approx(expected)


@pytest.mark.parametrize("text", ["5x", "M", "", "-3", "1e400", True])
def test_parse_quantity_rejects(text):
    with pytest.raises(ArchscopeError):
        parse_quantity(text, what="x")


def test_parse_quantity_units():
    assert parse_quantity("400MB", what="x", byte_unit=True) == 4e8
    with pytest.raises(ArchscopeError, match="plain number"):
        parse_quantity("12G", what="--max-gflops", suffixes=False)


@pytest.mark.parametrize("text, expected", [("1%", 0.01), ("0.01", 0.01), ("0", 0.0), ("2.5%", 0.025), (0.1, 0.1)])
def test_parse_tolerance(text, expected):
    assert parse_tolerance(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["1 percent", "150%", "-1%", "1.5"])
def test_parse_tolerance_rejects(text):
    with pytest.raises(ArchscopeError):
        parse_tolerance(text)


def test_budgets_from_options_pass_and_fail_at_the_exact_figures(repo):
    args = ["check", "models/net.yaml", "--imgsz", "64"]
    assert run(*args, "--max-params", PARAMS)[0] == 0
    code, out = run(*args, "--max-params", PARAMS - 1)
    assert code == 1 and "FAIL" in out and f"{PARAMS:,}" in out
    assert run(*args, "--max-gflops", FLOPS / 1e9 + 1e-9)[0] == 0
    assert run(*args, "--max-gflops", FLOPS / 1e9 - 1e-9)[0] == 1
    # the Ultralytics convention counts more for BN here, so the same budget fails there
    budget = (FLOPS + ULTRALYTICS) / 2 / 1e9
    assert run(*args, "--max-gflops", budget)[0] == 0
    assert run(*args, "--max-gflops", budget, "--gflops-convention", "ultralytics")[0] == 1


def test_yolov8n_parameter_budget(cfg_dir):
    """Ultralytics' published yolov8n summary: 3,157,200 parameters."""
    model = str(cfg_dir / "v8" / "yolov8.yaml") + ":n"
    assert run("check", model, "--imgsz", "64", "--max-params", "3157200")[0] == 0
    assert run("check", model, "--imgsz", "64", "--max-params", "3.15M")[0] == 1


def test_max_predicted_ms_needs_a_real_device(repo):
    code, out = run("check", "models/net.yaml", "--imgsz", "64", "--max-predicted-ms", "3")
    assert code == 2 and "needs a roofline device" in out
    code, out = run("check", "models/net.yaml", "--imgsz", "64", "--max-predicted-ms", "3", "--device-spec",
                    "pixel6-cpu", "--dtype", "int8")
    assert code == 2 and "relative units" in out
    assert run("check", "models/net.yaml", "--imgsz", "64", "--max-predicted-ms", "1000", "--device-spec",
               "orin-nano")[0] == 0
    assert run("check", "models/net.yaml", "--imgsz", "64", "--max-predicted-ms", "1e-6", "--device-spec",
               "orin-nano")[0] == 1


def test_pyproject_budgets_pass_fail_and_summary(repo):
    pyproject(repo, f"""\
        [tool.archscope]
        imgsz = 64

        [[tool.archscope.models]]
        path = "models/net.yaml"
        max-params = "{PARAMS / 1e3}k"
        max-gflops = 0.01

        [[tool.archscope.models]]
        path = "models/net.yaml"
        max-bytes = "100MB"
        """)
    summary = repo / "summary.md"
    summary.write_text("# earlier step\n")
    code, out = run("check", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert code == 0, out
    assert "check passed: 3 gates on 1 model" in out
    text = summary.read_text()
    assert text.startswith("# earlier step\n")  # appended, not overwritten
    assert "### archscope check: ✅ passed" in text and "| models/net.yaml | params |" in text
    assert text.count("✅ pass |") == 3

    pyproject(repo, """\
        [tool.archscope]
        imgsz = 64
        [[tool.archscope.models]]
        path = "models/net.yaml"
        max-params = "5k"
        """)
    code, out = run("check", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert code == 1 and "check FAILED: 1 of 1 gate on 1 model" in out
    assert summary.read_text().count("### archscope check") == 2
    assert "❌ **FAIL**" in summary.read_text()


def test_pyproject_is_found_from_a_subfolder_and_selects_named_models(repo, monkeypatch):
    pyproject(repo, f"""\
        [tool.archscope]
        imgsz = 64
        [[tool.archscope.models]]
        path = "models/net.yaml"
        max-params = {PARAMS}
        """)
    monkeypatch.chdir(repo / "models")
    assert run("check")[0] == 0
    assert run("check", "net.yaml")[0] == 0
    code, out = run("check", "../sample.yaml")
    assert code == 2 and "no entry for ../sample.yaml" in out and "pyproject.toml" in out


@pytest.mark.parametrize("body, fragments", [
    ("[[tool.archscope.models]]\npath = 'models/net.yaml'\nmax-param = '5M'\n", ["unknown key 'max-param'",
                                                                                 "did you mean 'max-params'"]),
    ("[[tool.archscope.models]]\npath = 'models/net.yaml'\nmax-params = 'lots'\n", ["'max-params' must be"]),
    ("[[tool.archscope.models]]\nmax-params = '5M'\n", ["'path'"]),
    ("[[tool.archscope.models]]\npath = 'models/net.yaml'\n", ["nothing to check"]),
    ("[[tool.archscope.models]]\npath = 'models/net.yaml'\nmax-params = '5M'\nimgsz = true\n", ["'imgsz'"]),
    ("[tool.archscope]\ndevice = 'cpu'\n", ["unknown key 'device'", "device-spec"]),
    ("[[tool.archscope.models]\npath = 1\n", ["invalid TOML"]),
    ("[tool.other]\nx = 1\n", ["no [tool.archscope] table"]),
    ("[[tool.archscope.models]]\npath = 'models/net.yaml'\nmax-params = '5M'\ntolerance = '5 percent'\n",
     ["'tolerance'"]),
])
def test_malformed_config_is_exit_2_naming_file_and_key(repo, body, fragments):
    pyproject(repo, body)
    code, out = run("check")
    assert code == 2, out
    assert len(out.strip().splitlines()) == 1 and "Traceback" not in out
    assert "pyproject.toml" in out
    for fragment in fragments:
        assert fragment in out


def test_no_budgets_anywhere_is_exit_2(repo):
    code, out = run("check", "models/net.yaml")
    assert code == 2 and "nothing to check" in out


def test_snapshot_then_baseline_pass_fail_and_refresh(repo):
    code, out = run("snapshot", "models/net.yaml", "--imgsz", "64", "-o", "base.json")
    assert code == 0, out
    assert sorted(p.name for p in repo.iterdir()) == [".git", "base.json", "models"]  # no temporary file left
    data = json.loads((repo / "base.json").read_text())
    assert data["schema"] == "archscope.report/2" and data["settings"]["imgsz"] == [64, 64]
    assert data["totals"]["params"] == PARAMS

    # same model: rebuilt at the baseline's 64x64 without saying so
    code, out = run("check", "models/net.yaml", "--baseline", "base.json", "--tolerance", "1%")
    assert code == 0, out
    assert "check passed" in out and "refresh" not in out

    # grown (64 channels): fails beyond the tolerance, passes within a generous one
    (repo / "models" / "net.yaml").write_text(MODEL.format(c=64))
    code, out = run("check", "models/net.yaml", "--baseline", "base.json", "--tolerance", "1%")
    grown = (9 * 3 * 16 + 32) + (9 * 16 * 64 + 128)
    assert code == 1 and "FAIL" in out and f"{(grown - PARAMS) / PARAMS:+.2%}" in out
    assert run("check", "models/net.yaml", "--baseline", "base.json", "--tolerance", "99%")[0] == 0

    # shrunk (16 channels): passes, and says the baseline should be refreshed
    (repo / "models" / "net.yaml").write_text(MODEL.format(c=16))
    code, out = run("check", "models/net.yaml", "--baseline", "base.json", "--tolerance", "1%", "--format", "md")
    assert code == 0, out
    assert "🔄 pass, refresh baseline" in out and "refresh the baseline" in out


def test_baseline_from_pyproject(repo):
    assert run("snapshot", "models/net.yaml", "--imgsz", "64", "-o", "base.json")[0] == 0
    pyproject(repo, """\
        [[tool.archscope.models]]
        path = "models/net.yaml"
        baseline = "base.json"
        tolerance = "1%"
        """)
    code, out = run("check", "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    assert data["schema"] == "archscope.check/1" and data["passed"] is True
    assert {r["figure"] for r in data["results"]} >= {"params", "gflops", "bytes", "peak_activation_bytes"}
    assert next(r for r in data["results"] if r["figure"] == "params")["baseline"] == PARAMS


def test_an_older_report_without_newer_keys_loads_as_a_baseline(repo):
    assert run("profile", "models/net.yaml", "--imgsz", "64", "-o", "old.json")[0] == 0
    data = json.loads((repo / "old.json").read_text())
    for section in (data["totals"], *data["layers"]):
        section.pop("attention_flops")  # keys added after the first reports were written
    data["model"].pop("predicted_unit")
    (repo / "old.json").write_text(json.dumps(data))
    code, out = run("check", "models/net.yaml", "--baseline", "old.json")
    assert code == 0, out  # settings come from the report's model section (imgsz 64)


@pytest.mark.parametrize("content, fragment", [
    ('{"schema": "archscope.report/3", "model": {}}', "newer archscope wrote it"),
    ('{"schema": "archscope.compare/1"}', "not a model report"),
    ('{"schema": "something/else"}', "not an archscope report"),
    ('[1, 2]', "not an archscope report"),
    ('{"schema": "archscope.report/1", "model": {}}', "malformed archscope report"),
    ("{not json", "invalid JSON"),
])
def test_bad_baseline_is_exit_2_naming_the_file(repo, content, fragment):
    (repo / "base.json").write_text(content)
    code, out = run("check", "models/net.yaml", "--baseline", "base.json")
    assert code == 2, out
    assert "base.json" in out and fragment in out and len(out.strip().splitlines()) == 1


def test_check_as_a_ci_step_in_a_subprocess(repo):
    """The real entry point: exit codes and the step summary, as GitHub Actions sees them."""
    pyproject(repo, f"""\
        [tool.archscope]
        imgsz = 64
        [[tool.archscope.models]]
        path = "models/net.yaml"
        max-params = {PARAMS - 1}
        """)
    summary = repo / "summary.md"
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary)}
    done = subprocess.run([sys.executable, "-m", "archscope", "check"], cwd=repo, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 1, done.stderr
    assert "FAIL" in done.stdout and "❌" in summary.read_text()

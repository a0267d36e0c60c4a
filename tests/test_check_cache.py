"""archscope check's content-addressed cache (archscope/check/cache.py) and the pre-commit fast path
(archscope/cli/fastpath.py): what changes the key and what does not, hits that give the same report and exit code,
corrupt entries recomputed, the size bound, --no-cache, and a cached check in a real process that never imports
torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archscope import api
from archscope.check import cache
from archscope.check.gate import Budgets, CheckReport, GateResult
from archscope.check.targets import CheckTarget
from archscope.cli.app import app

runner = CliRunner()

MODEL = """\
nc: 3
backbone:
  - [-1, 1, Conv, [16, 3, 2]]
  - [-1, 1, Conv, [{c}, 3, 2]]
head:
"""
# Hand-derived (as in test_check.py): Conv(c1, c2, 3) = 9*c1*c2 weights + 2*c2 BN; c = 32.
PARAMS = (9 * 3 * 16 + 32) + (9 * 16 * 32 + 64)  # 5,136

BLOCKS = "# a user's --blocks file: the key tests only hash it, never import it\nWIDTH = 2\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "net.yaml").write_text(MODEL.format(c=32))
    (tmp_path / "blocks.py").write_text(BLOCKS)
    (tmp_path / "dev.yaml").write_text("name: mydev\npeak_flops: {fp32: 1.0e12}\nbandwidth: 1.0e11\n")
    (tmp_path / "base.json").write_text('{"not": "read by the key"}')
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""\
        [project]
        name = "demo"
        [tool.archscope]
        imgsz = 64
        [[tool.archscope.models]]
        path = "net.yaml"
        max-params = "6k"
        """))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def target(**changes) -> CheckTarget:
    settings = {"path": "net.yaml", "imgsz": 64, "budgets": Budgets(params=6000.0), "baseline": "base.json",
                "device_spec": "dev.yaml"}
    settings.update(changes)
    return CheckTarget(**settings)


def key(targets=None, **kwargs) -> str:
    kwargs.setdefault("blocks", ["blocks.py"])
    kwargs.setdefault("config", "pyproject.toml")
    found = cache.cache_key(targets or [target()], **kwargs)
    assert found is not None and len(found) == 64
    return found


@pytest.mark.parametrize("name, edit", [
    ("net.yaml", lambda text: text.replace("16", "24")),
    ("blocks.py", lambda text: text + "\n# a comment still changes the bytes\n"),
    ("dev.yaml", lambda text: text.replace("1.0e11", "2.0e11")),
    ("base.json", lambda text: text.replace("read", "used")),
    ("pyproject.toml", lambda text: text.replace('"6k"', '"7k"')),
])
def test_key_changes_with_every_input_file(project, name, edit):
    before = key()
    path = project / name
    path.write_text(edit(path.read_text()))
    assert key() != before


def test_key_ignores_what_the_check_does_not_read(project):
    before = key()
    assert key() == before  # deterministic
    os.utime(project / "net.yaml", (1, 1))  # a touch is no change of content
    (project / "unrelated.yaml").write_text(MODEL.format(c=64))
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('name = "demo"', 'name = "demo2"'))  # outside the table
    assert key() == before


@pytest.mark.parametrize("changes", [
    {"imgsz": 128}, {"batch": 2}, {"dtype": "fp16"}, {"scale": "n"}, {"fuse": True}, {"tolerance": 0.01},
    {"budgets": Budgets(params=6001.0)}, {"budgets": Budgets(params=6000.0, convention="ultralytics")},
    {"device_spec": "orin-nano"}, {"baseline": None}, {"nc": 5},
])
def test_key_changes_with_every_option(project, changes):
    assert key([target(**changes)]) != key()


def test_key_changes_with_the_version_the_blocks_and_the_config(project):
    before = key()
    assert key(version="0.0.0-other") != before
    assert key(blocks=[]) != before
    assert key(config=None) != before


def test_a_blocks_module_is_never_cached(project):
    assert cache.cache_key([target()], blocks=["some_installed_pkg.blocks"]) is None


def report(status="pass", actual=5136) -> CheckReport:
    return CheckReport(results=[GateResult("net.yaml", "params", actual, 6000.0, status)])


def test_store_and_load_round_trip_the_report(tmp_path):
    for outcome in (report(), report("fail", 7000), CheckReport()):
        key_text = "a" * 63 + str(len(outcome.results))
        assert cache.store(key_text, outcome, tmp_path)
        again = cache.load(key_text, tmp_path)
        assert again is not None and again.to_dict() == outcome.to_dict() and again.passed == outcome.passed


@pytest.mark.parametrize("text", [
    "", "{", "[]", "null", '{"cache_key": "k", "report": {}}',
    '{"cache_key": "OTHER", "report": {"schema": "archscope.check/1", "passed": true, "results": []}}',
    '{"cache_key": "k", "report": {"schema": "archscope.check/9", "passed": true, "results": []}}',
    '{"cache_key": "k", "report": {"schema": "archscope.check/1", "passed": false, "results": []}}',
    '{"cache_key": "k", "report": {"schema": "archscope.check/1", "passed": true, "results": [{"model": "m"}]}}',
    '{"cache_key": "k", "report": {"schema": "archscope.check/1", "passed": true, "results": [{"model": "m", '
    '"figure": "params", "actual": NaN, "limit": 1, "status": "pass", "baseline": null, "note": ""}]}}',
    '{"cache_key": "k", "report": {"schema": "archscope.check/1", "passed": true, "results": [{"model": "m", '
    '"figure": "params", "actual": 1, "limit": 1, "status": "maybe", "baseline": null, "note": ""}]}}',
])
def test_a_corrupt_entry_is_ignored(tmp_path, text):
    (tmp_path / "k.json").write_text(text)
    assert cache.load("k", tmp_path) is None


def test_the_cache_keeps_the_newest_entries(tmp_path):
    for i in range(7):
        assert cache.store(f"{i:064d}", report(), tmp_path, keep=4)
        os.utime(tmp_path / f"{i:064d}.json", ns=(i * 10**9, i * 10**9))  # distinct, ordered times
    cache.prune(tmp_path, keep=4)
    assert sorted(p.name for p in tmp_path.glob("*.json")) == [f"{i:064d}.json" for i in range(3, 7)]
    assert cache.load(f"{3:064d}", tmp_path) is not None  # a hit makes it the newest ...
    cache.store("f" * 64, report(), tmp_path, keep=4)
    assert (tmp_path / f"{3:064d}.json").exists() and not (tmp_path / f"{4:064d}.json").exists()  # ... so 4 goes


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.output


def entries() -> list[Path]:
    return sorted(cache.cache_dir().glob("*.json"))


@pytest.mark.parametrize("budget, code", [("6k", 0), ("5k", 1)])
def test_a_cache_hit_gives_the_same_report_and_exit_code(project, budget, code, monkeypatch):
    args = ["check", "net.yaml", "--max-params", budget, "--imgsz", "64", "-f", "json"]
    first = run(*args)
    assert first[0] == code and "(cached)" not in first[2]
    assert json.loads(first[1])["results"][0]["actual"] == PARAMS
    assert len(entries()) == 1

    def no_profiling(*_args, **_kwargs):
        raise AssertionError("a cached check profiled the model")

    monkeypatch.setattr(api, "profile", no_profiling)
    second = run(*args)
    assert second[0] == code and second[1] == first[1] and "(cached)" in second[2]
    table = run(*args[:-2])  # the same check printed as a table: the cached verdict, rendered
    assert table[0] == code and "(cached)" in table[2] and f"{PARAMS:,}" in table[1]


def test_an_edit_misses_and_a_corrupt_entry_is_recomputed(project):
    args = ["check", "net.yaml", "--max-params", "6k", "--imgsz", "64", "-f", "json"]
    assert run(*args)[0] == 0
    (project / "net.yaml").write_text(MODEL.format(c=64))  # 9*16*64 + 128 more: past 6k
    code, out, both = run(*args)
    assert code == 1 and "(cached)" not in both and json.loads(out)["results"][0]["actual"] > 6000
    for entry in entries():
        entry.write_text("{ truncated")
    code, out, both = run(*args)
    assert code == 1 and "(cached)" not in both and json.loads(out)["results"][0]["status"] == "fail"
    code, _, both = run(*args)
    assert code == 1 and "(cached)" in both  # the recomputed verdict replaced the broken entry


def test_no_cache_neither_reads_nor_writes(project):
    args = ["check", "net.yaml", "--max-params", "6k", "--imgsz", "64"]
    assert run(*args, "--no-cache")[0] == 0
    assert entries() == []
    assert run(*args)[0] == 0 and len(entries()) == 1
    code, _, both = run(*args, "--no-cache")
    assert code == 0 and "(cached)" not in both


def test_errors_are_never_cached(project):
    assert run("check", "missing.yaml", "--max-params", "6k")[0] == 2
    assert entries() == []


def test_the_config_table_is_part_of_the_key(project):
    assert run("check")[0] == 0
    assert "(cached)" in run("check")[2]
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"6k"', '"5k"'))
    code, _, both = run("check")
    assert code == 1 and "(cached)" not in both


def cli(project, *args, env=None):
    """The real entry point, in a fresh process: the pre-commit hook's view."""
    return subprocess.run([sys.executable, "-m", "archscope", *args], cwd=project, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


NO_TORCH = """\
import runpy, sys
sys.argv = ["archscope", *sys.argv[1:]]
try:
    runpy.run_module("archscope", run_name="__main__")
finally:
    print("TORCH-IMPORTED" if "torch" in sys.modules else "NO-TORCH", "TYPER-IMPORTED" if "typer" in sys.modules
          else "NO-TYPER", file=sys.stderr)
"""


def test_a_cached_check_in_a_subprocess_never_imports_torch(project):
    """The pre-commit case: the second run of the same command answers from the cache without torch (or typer)."""
    summary = project / "summary.md"
    args = ["check", "--max-params", "5k", "net.yaml", "--imgsz", "64"]
    first = subprocess.run([sys.executable, "-c", NO_TORCH, *args], cwd=project, capture_output=True, text=True,
                           env={**os.environ, "GITHUB_STEP_SUMMARY": str(summary)})
    assert first.returncode == 1, first.stderr
    assert "TORCH-IMPORTED" in first.stderr and "(cached)" not in first.stderr
    second = subprocess.run([sys.executable, "-c", NO_TORCH, *args], cwd=project, capture_output=True, text=True,
                            env={**os.environ, "GITHUB_STEP_SUMMARY": str(summary)})
    assert second.returncode == 1, second.stderr
    assert "(cached)" in second.stderr and "NO-TORCH" in second.stderr and "NO-TYPER" in second.stderr
    assert second.stdout == first.stdout and "FAIL" in second.stdout
    assert summary.read_text().count("### archscope check: ❌ failed") == 2  # the step summary is written on a cached answer too
    (project / "net.yaml").write_text(MODEL.format(c=16))  # now within 5k: the edit must be seen
    third = cli(project, *args)
    assert third.returncode == 0 and "(cached)" not in third.stderr


def test_the_fast_path_sees_a_new_pyproject_nearer_the_working_directory(project):
    (project / "sub").mkdir()
    (project / "sub" / "net.yaml").write_text(MODEL.format(c=32))
    assert cli(project / "sub", "check").returncode == 0
    assert "(cached)" in cli(project / "sub", "check").stderr
    (project / "sub" / "pyproject.toml").write_text(
        '[tool.archscope]\nimgsz = 64\n[[tool.archscope.models]]\npath = "net.yaml"\nmax-params = "5k"\n')
    done = cli(project / "sub", "check")
    assert done.returncode == 1 and "(cached)" not in done.stderr

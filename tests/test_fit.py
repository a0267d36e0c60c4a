"""Does it fit: device memory sizes (presets and device files), the report's fit section and largest batches,
check --max-peak-memory / --max-train-memory, and bench refusing by the same estimate."""

from __future__ import annotations

import subprocess
import textwrap

import pytest
from typer.testing import CliRunner

import archscope
from archscope.analysis.fit import inference_memory_at, largest_batch, training_memory_at, weight_bytes
from archscope.build.builder import BuildOptions, build_model
from archscope.cli.app import app
from archscope.devices.presets import PRESETS, get_preset
from archscope.devices.spec import load_device_file
from archscope.errors import ArchscopeError
from archscope.spec.model_spec import load_spec
from archscope.util.units import parse_size

runner = CliRunner()

NET = {
    "nc": 4,
    "backbone": [[-1, 1, "Conv", [16, 3, 2]], [-1, 1, "Conv", [32, 3, 2]], [-1, 1, "C2f", [32, True]]],
    "head": [[-1, 1, "Classify", [4]]],
}
NET_YAML = """\
nc: 4
backbone:
  - [-1, 1, Conv, [16, 3, 2]]
  - [-1, 1, Conv, [32, 3, 2]]
  - [-1, 1, C2f, [32, True]]
head:
  - [-1, 1, Classify, [4]]
"""


def device_file(tmp_path, memory, name="small"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\npeak_flops: {{fp32: 1.0e+12}}\nbandwidth: 1.0e+10\nmemory: {memory}\n")
    return str(path)


# ------------------------------------------------------------------------------------------ sizes


@pytest.mark.parametrize("text, expected", [
    ("16GiB", 16 * 2**30), ("16GB", 16 * 10**9), ("16G", 16 * 10**9), ("1.6e10", 16 * 10**9), (17, 17),
    ("512MiB", 512 * 2**20), ("8 gib", 8 * 2**30), ("1_000", 1000),
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "x", "-1", "0", "16 parsecs", True, None, "nan"])
def test_parse_size_refuses(text):
    assert parse_size(text) is None


def test_presets_have_memory_with_a_source():
    sizes = {name: spec.memory_bytes for name, spec in PRESETS.items()}
    assert sizes["a100"] == sizes["h100"] == 80 * 10**9  # the preset is the 80GB SXM part
    assert sizes["t4"] == 16 * 10**9 and sizes["orin-agx"] == 64 * 10**9 and sizes["orin-nano"] == 8 * 10**9
    assert sizes["m1"] == sizes["m2"] == sizes["rpi5"] == 8 * 10**9
    assert sizes["cpu"] is None  # a generic stand-in has no memory size of its own
    assert all(PRESETS[n].memory_source for n, size in sizes.items() if size)
    assert get_preset("a100-80gb").memory_bytes == 80 * 10**9


def test_device_files_give_memory(tmp_path):
    spec = load_device_file(device_file(tmp_path, "16GiB"))
    assert spec.memory_bytes == 16 * 2**30 and "small.yaml" in spec.memory_source
    assert load_device_file(device_file(tmp_path, "1.6e10")).memory_bytes == 16 * 10**9
    assert spec.to_dict()["memory"] == 16 * 2**30


def test_a_bad_memory_size_is_one_line_with_its_line(tmp_path):
    path = device_file(tmp_path, "lots")
    with pytest.raises(ArchscopeError) as info:
        load_device_file(path)
    assert "'memory' must be a size such as 16GiB" in str(info.value) and info.value.line == 4


# ------------------------------------------------------------------------------------------ largest batch


def test_largest_batch_solves_a_linear_need():
    # fixed 1000, 300 per sample: 1000 + 300 b <= 10_000 -> b = 30
    assert largest_batch(10_000, lambda b: 1000 + 300 * b) == (1000, 300, 30)
    assert largest_batch(1200, lambda b: 1000 + 300 * b) == (1000, 300, 0)  # not even batch 1
    # a need that grows faster than the two-point line: the check at the answer lowers it
    fixed, per, batch = largest_batch(10_000, lambda b: 1000 + 300 * b + (b * b if b > 2 else 0))
    assert 1000 + 300 * batch + batch * batch <= 10_000 < 1000 + 300 * (batch + 1) + (batch + 1) ** 2


def test_the_fit_section_of_a_small_device(tmp_path):
    built = build_model(load_spec(NET), BuildOptions(imgsz=(64, 64), batch=2))
    one, two = inference_memory_at(built, 1, "fp32"), inference_memory_at(built, 2, "fp32")
    per = two - one
    fixed = one - per
    assert fixed >= weight_bytes(built, 4)  # the weights do not grow with the batch
    memory = fixed + 7 * per + per // 2  # room for 7.5 samples: the largest batch is 7
    report = archscope.profile(NET, imgsz=64, batch=2, device_spec=device_file(tmp_path, memory), train=True)
    fit = report.fit
    assert fit is not None and fit.memory_bytes == memory
    assert fit.inference_fits and fit.max_inference_batch == 7
    assert fit.inference_bytes == two
    assert fit.inference_per_sample_bytes == per and fit.inference_fixed_bytes == fixed
    # training needs more than inference, and its largest batch is what its own two-point line says
    t1, t2 = training_memory_at(built, 1, "adamw", False), training_memory_at(built, 2, "adamw", False)
    assert fit.train_bytes == report.training.peak_bytes == t2
    expected = max(0, (memory - (t1 - (t2 - t1))) // (t2 - t1))
    assert fit.max_train_batch == expected < fit.max_inference_batch
    if expected:
        assert training_memory_at(built, expected, "adamw", False) <= memory
    assert training_memory_at(built, expected + 1, "adamw", False) > memory
    text = str(report)
    assert "largest batch 7" in text and "batch 1 and 2" in text


def test_an_inference_that_does_not_fit_says_so(tmp_path):
    report = archscope.profile(NET, imgsz=64, batch=4, device_spec=device_file(tmp_path, "10kB"))
    assert report.fit is not None and not report.fit.inference_fits and report.fit.max_inference_batch == 0
    assert "does NOT fit" in str(report)
    assert report.fit.to_dict()["schema"] == "archscope.fit/1"


def test_no_memory_no_fit_section():
    assert archscope.profile(NET, imgsz=64, device_spec="cpu").fit is None


# ------------------------------------------------------------------------------------------ check


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture
def model(tmp_path, monkeypatch):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "net.yaml").write_text(NET_YAML)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "net.yaml"


def test_check_max_peak_memory(model):
    report = archscope.profile(str(model), imgsz=64)
    need = inference_memory_at(build_model(load_spec(str(model)), BuildOptions(imgsz=(64, 64))), 1, "fp32")
    assert need == (report.totals.params + report.totals.buffers) * 4 + report.totals.peak_activation_bytes
    code, out = run("check", model, "--imgsz", 64, "--max-peak-memory", f"{need}", "--no-cache")
    assert code == 0, out
    code, out = run("check", model, "--imgsz", 64, "--max-peak-memory", f"{need - 1}", "--no-cache")
    assert code == 1 and "FAIL" in out


def test_check_max_train_memory(model):
    built = build_model(load_spec(str(model)), BuildOptions(imgsz=(64, 64)))
    need = training_memory_at(built, 1, "adamw", False)
    assert run("check", model, "--imgsz", 64, "--max-train-memory", f"{need}", "--no-cache")[0] == 0
    code, out = run("check", model, "--imgsz", 64, "--max-train-memory", "1kB", "--no-cache")
    assert code == 1 and "FAIL" in out


def test_check_memory_keys_in_pyproject(model):
    (model.parent / "pyproject.toml").write_text(textwrap.dedent("""\
        [tool.archscope]
        imgsz = 64

        [[tool.archscope.models]]
        path = "net.yaml"
        max-peak-memory = "1GiB"
        max-train-memory = "1kB"
        """))
    code, out = run("check", "--no-cache")
    assert code == 1 and "pass" in out and "FAIL" in out


def test_check_a_bad_memory_budget_is_one_line(model):
    code, out = run("check", model, "--max-peak-memory", "lots")
    assert code == 2 and "--max-peak-memory must be a memory size" in out and len(out.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------------ bench


def test_bench_refuses_by_the_shared_estimate(monkeypatch):
    from archscope.measure import runner as B

    built = build_model(load_spec(NET), BuildOptions(imgsz=(64, 64), batch=3))
    need = inference_memory_at(built, 3, "fp32")
    analysed = B.analyse_batches(built, B.BenchOptions(batches=(3,)))[0]
    assert analysed.need.total == need
    gib = 2**30
    monkeypatch.setattr(B, "host_available_bytes", lambda: int(need / B.MEMORY_HEADROOM) - 1)
    monkeypatch.setattr(B, "prepare_model", lambda *a, **k: pytest.fail("the model was materialised"))
    with pytest.raises(ArchscopeError, match=f"needs about {need / gib:.2f} GiB on cpu"):
        archscope.bench(NET, imgsz=64, batch=3, device="cpu", runs=1)


def test_a_calibrated_cpu_gets_this_machines_memtotal():
    from pathlib import Path

    from archscope.devices.calibrate import _host_memory

    assert _host_memory("cuda:0") == {}
    meminfo = Path("/proc/meminfo")
    if not meminfo.is_file():
        pytest.skip("no /proc/meminfo here")
    kib = next(int(line.split()[1]) for line in meminfo.read_text().splitlines() if line.startswith("MemTotal:"))
    assert _host_memory("cpu")["memory_bytes"] == kib * 1024

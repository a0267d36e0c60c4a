"""Device presets, device spec files, save/load, and calibrate's logic (with a fake device and a fake clock)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import pytest

from archscope.devices import calibrate as cal
from archscope.devices import presets
from archscope.devices import spec as hw
from archscope.errors import ArchscopeError
from archscope.vocab import DEVICE_DTYPES
from archscope.devices.spec import DeviceSpec, save_device
from archscope.devices.calibrate import calibrate
from archscope.devices.presets import load_device

REQUIRED = (
    "cpu", "a100", "h100", "t4", "orin-agx", "orin-nano", "m1", "m2", "rpi5",
    "pixel6-cpu", "s23-cpu", "pixel4-dsp", "pixel8-edgetpu",
)

# Ridge points fitted to measured Int8 latencies in Qin et al., "MobileNetV4: Universal Models for the Mobile
# Ecosystem", arXiv:2404.10518 (ECCV 2024), Appendix F "Additional Roofline Analysis", Table 16, in MACs per byte.
MNV4_TABLE16_MACS_PER_BYTE = {
    "pixel6-cpu": 31.2,  # Pixel 6 CPU (Int8)
    "s23-cpu": 39.7,  # Samsung Galaxy S23 CPU (Int8)
    "pixel4-dsp": 347.3,  # Pixel 4 DSP (Int8)
    "pixel8-edgetpu": 433.8,  # Pixel 8 EdgeTPU (Int8)
}


# ---------------------------------------------------------------------------------------------------- preset table
def test_every_required_preset_is_present_with_positive_figures_and_a_source():
    for name in REQUIRED:
        spec = load_device(name)
        assert spec.name == name == name.lower()
        assert spec.peak_flops, name
        for dtype, value in spec.peak_flops.items():
            assert dtype in DEVICE_DTYPES, (name, dtype)
            assert value > 0 and math.isfinite(value), (name, dtype)
        assert spec.bandwidth > 0 and math.isfinite(spec.bandwidth)
        assert len(spec.source) > 20, name


def test_aliases_are_unique_and_never_shadow_a_preset_name():
    seen: dict[str, str] = {}
    for spec in presets.PRESETS.values():
        for key in (spec.name, *spec.aliases):
            key = key.lower()
            assert key not in seen, f"{key} is claimed by {seen.get(key)} and {spec.name}"
            seen[key] = spec.name


def test_aliases_and_spelling_variants_resolve():
    assert load_device("jetson-orin-nano").name == "orin-nano"
    assert load_device("a100-sxm").name == "a100"
    assert load_device("A100_SXM").name == "a100"
    assert load_device("Jetson AGX Orin").name == "orin-agx"
    assert load_device("raspberry-pi-5").name == "rpi5"


def test_a100_matches_the_datasheet():
    a100 = load_device("a100")
    assert a100.peak("fp32") == 19.5e12
    assert a100.peak("fp16") == a100.peak("bf16") == 312e12
    assert a100.peak("int8") == 624e12
    assert a100.bandwidth == 2039e9


def test_dense_figures_are_below_the_sparse_marketing_numbers():
    h100 = load_device("h100")
    assert h100.peak("bf16") == pytest.approx(1979e12 / 2, rel=1e-3)  # datasheet: 1,979 TFLOPS with sparsity
    assert load_device("orin-nano").peak("int8") == 20e12  # datasheet: 40 TOPS with sparsity


def test_mobilenetv4_presets_reproduce_the_papers_ridge_points():
    for name, macs_per_byte in MNV4_TABLE16_MACS_PER_BYTE.items():
        spec = load_device(name)
        assert spec.relative_only
        assert list(spec.peak_flops) == ["int8"]
        # archscope counts a multiply-add as 2 FLOPs: R MACs/byte is 2R FLOP/byte
        assert spec.ridge_point("int8") == pytest.approx(2 * macs_per_byte, rel=1e-12)
        assert "2404.10518" in spec.source
        assert "relative" in spec.notes


def test_preset_copies_cannot_alter_the_table():
    spec = load_device("t4")
    spec.peak_flops["fp32"] = 1.0
    assert load_device("t4").peak("fp32") == 8.1e12


def test_unknown_preset_suggests_a_close_name():
    with pytest.raises(ArchscopeError) as e:
        load_device("a10")
    assert "did you mean 'a100'" in str(e.value).lower()
    with pytest.raises(ArchscopeError, match="orin-agx"):
        load_device("orin")


def test_missing_dtype_names_the_devices_dtypes():
    with pytest.raises(ArchscopeError) as e:
        load_device("t4").peak("bf16")
    msg = str(e.value)
    assert "'t4'" in msg and "bf16" in msg and "fp32, fp16, int8" in msg
    with pytest.raises(ArchscopeError, match=r"it has: int8"):
        load_device("pixel8-edgetpu").peak("fp32")


def test_dtype_spellings_are_normalised():
    a100 = load_device("a100")
    assert a100.peak("float16") == a100.peak("half") == a100.peak("fp16")
    assert a100.peak("torch.bfloat16") == a100.peak("bf16")
    assert a100.ridge_point("float32") == pytest.approx(19.5e12 / 2039e9)


def test_importing_hardware_does_not_import_torch():
    code = "import sys, archscope.devices.spec, archscope.devices.presets, archscope.devices.calibrate, archscope.devices.roofline; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------------- spec files
GOOD_YAML = """\
name: mydev
peak_flops: {fp32: 1.0e12, fp16: 2.0e+12}
bandwidth: 5.0e10
"""


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_good_yaml_file_loads_including_unsigned_exponents(tmp_path):
    # PyYAML reads 1.0e12 (no exponent sign) as a string; the loader must still take it as a number
    spec = load_device(str(_write(tmp_path, "dev.yaml", GOOD_YAML)))
    assert spec.name == "mydev"
    assert spec.peak_flops == {"fp32": 1.0e12, "fp16": 2.0e12}
    assert spec.bandwidth == 5.0e10
    assert spec.ridge_point("fp32") == pytest.approx(20.0)
    assert "dev.yaml" in spec.source and not spec.relative_only


def test_good_json_file_and_pathlike(tmp_path):
    data = {"name": "j", "peak_flops": {"float32": 3e12, "int8": 12e12}, "bandwidth": 1e11,
            "source": "my lab", "aliases": ["jj"], "notes": "n", "relative_only": True}
    p = _write(tmp_path, "dev.json", json.dumps(data))
    spec = load_device(p)  # a Path works as well as a str
    assert spec.peak_flops == {"fp32": 3e12, "int8": 12e12}
    assert (spec.source, spec.aliases, spec.notes, spec.relative_only) == ("my lab", ("jj",), "n", True)


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("name: x\npeak_flops: {fp32: 1e12}\n", 1, "missing 'bandwidth'"),
        ("name: x\npeak_flops:\n  fp32: -1.0\nbandwidth: 1.0e+9\n", 3, "peak_flops.fp32 must be a positive number"),
        ("name: x\npeak_flops:\n  fp32: fast\nbandwidth: 1.0e+9\n", 3, "got 'fast'"),
        ("name: x\npeak_flops: {fp32: true}\nbandwidth: 1.0e+9\n", 2, "positive number"),
        ("name: x\npeak_flops: {fp32: 1.0e+12}\nbandwidth: 0\n", 3, "'bandwidth' must be a positive number"),
        ("name: x\npeak_flops: {fp32: 1.0e+12}\nbandwith: 1.0e+9\n", 3, "did you mean 'bandwidth'"),
        ("name: ''\npeak_flops: {fp32: 1.0e+12}\nbandwidth: 1.0e+9\n", 1, "'name' must be a non-empty string"),
        ("name: x\npeak_flops: []\nbandwidth: 1.0e+9\n", 2, "non-empty mapping of dtype"),
        ("name: x\npeak_flops: {fp32: 1.0e+12, float32: 2.0e+12}\nbandwidth: 1.0e+9\n", 2, "twice"),
        ("- just\n- a list\n", 1, "must be a mapping"),
        ("", 1, "empty file"),
        ("name: x\npeak_flops: {fp32: 1.0e+12\nbandwidth: 1.0e+9\n", 3, "invalid YAML"),
    ],
)
def test_bad_yaml_files_name_the_file_and_line(tmp_path, text, line, words):
    p = _write(tmp_path, "bad.yaml", text)
    with pytest.raises(ArchscopeError) as e:
        load_device(str(p))
    err = e.value
    assert err.file == str(p)
    assert err.line == line, str(err)
    assert words in str(err)
    assert str(err).startswith(f"{p}:{line}: ")


def test_yaml_python_tags_are_refused_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    text = (
        f"name: !!python/object/apply:os.system ['touch {marker}']\n"
        "peak_flops: {fp32: 1.0e+12}\nbandwidth: 1.0e+9\n"
    )
    with pytest.raises(ArchscopeError, match="invalid YAML"):
        load_device(str(_write(tmp_path, "evil.yaml", text)))
    assert not marker.exists()


def test_bad_json_reports_its_line(tmp_path):
    p = _write(tmp_path, "bad.json", '{\n  "name": "x",\n  "bandwidth": ,\n}')
    with pytest.raises(ArchscopeError) as e:
        load_device(str(p))
    assert e.value.line == 3 and "invalid JSON" in str(e.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ArchscopeError, match="not found"):
        load_device(str(tmp_path / "nope.yaml"))


def test_a_bare_word_is_a_preset_before_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "cpu", GOOD_YAML)
    assert load_device("cpu").name == "cpu"  # the preset, not the file named "cpu"
    _write(tmp_path, "mydevfile", GOOD_YAML)
    assert load_device("mydevfile").name == "mydev"  # no such preset: the file


def test_save_and_load_round_trip(tmp_path):
    spec = DeviceSpec("rt", {"fp32": 1.25e12, "bf16": 2.5e12}, 3.5e10, "unit test", ("r",), "a note", False)
    path = save_device(spec, tmp_path / "rt.yaml")
    assert load_device(str(path)) == spec
    assert [p.name for p in tmp_path.iterdir()] == ["rt.yaml"]  # no temporary file left behind
    for preset in presets.PRESETS.values():  # every preset survives the trip (floats written exactly)
        assert load_device(str(save_device(preset, tmp_path / "p.yaml"))) == preset


def test_save_is_atomic_when_the_rename_fails(tmp_path, monkeypatch):
    target = tmp_path / "dev.yaml"
    target.write_text("old contents\n")

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(hw.os, "replace", boom)
    with pytest.raises(ArchscopeError, match="No space left"):
        save_device(load_device("m2"), target)
    assert target.read_text() == "old contents\n"
    assert [p.name for p in tmp_path.iterdir()] == ["dev.yaml"]


# ---------------------------------------------------------------------------------------------------- calibrate
def test_time_best_synchronises_before_reading_the_clock_and_keeps_the_best():
    log: list[str] = []
    times = iter([0.0, 3.0, 10.0, 12.0, 20.0, 26.0])

    def clock():
        log.append("clock")
        return next(times)

    best = cal.time_best(lambda: log.append("fn"), synchronize=lambda: log.append("sync"), clock=clock,
                        iters=2, trials=3)
    assert best == pytest.approx(1.0)  # trials took 3, 2, 6 s for 2 calls each: best 2/2 = 1 s per call
    assert log[:6] == ["sync", "clock", "fn", "fn", "sync", "clock"]
    assert log.count("fn") == 6


def test_plan_fits_the_budget():
    assert cal._plan(0.01, 1.0, 3) == (33, 3)
    assert cal._plan(2.0, 1.0, 3) == (1, 1)  # slower than the budget: still one timed call
    assert cal._plan(1e-9, 1.0, 3) == (1000, 3)  # capped


class FakeAsyncDevice:
    """A device whose kernels are queued: time advances only when someone synchronises (like CUDA or MPS)."""

    def __init__(self, flops_per_s: float, bytes_per_s: float):
        self.flops_per_s, self.bytes_per_s = flops_per_s, bytes_per_s
        self.now = 0.0
        self.pending = 0.0
        self.syncs = 0

    def clock(self) -> float:
        return self.now

    def synchronize(self) -> None:
        self.syncs += 1
        self.now += self.pending
        self.pending = 0.0

    def install(self, monkeypatch):
        """Replace the kernels calibrate runs by ones that only queue their cost (no arithmetic is done)."""
        import torch

        def mm(a, b):
            self.pending += 2 * a.shape[0] * a.shape[1] * b.shape[1] / self.flops_per_s
            return a

        def int_mm(a, b):
            self.pending += 2 * a.shape[0] * a.shape[1] * b.shape[1] / (4 * self.flops_per_s)
            return a

        def copy_(dst, src, *args, **kwargs):
            self.pending += (src.numel() * src.element_size() + dst.numel() * dst.element_size()) / self.bytes_per_s
            return dst

        monkeypatch.setattr(torch, "mm", mm)
        monkeypatch.setattr(torch, "_int_mm", int_mm)
        monkeypatch.setattr(torch.Tensor, "copy_", copy_)


def test_calibrate_measures_the_fake_rates_exactly(monkeypatch):
    dev = FakeAsyncDevice(flops_per_s=2.0e11, bytes_per_s=4.0e10)
    dev.install(monkeypatch)
    spec = calibrate(
        "cpu", dtypes=("fp32", "float16", "int8"), seconds=3.0, matmul_size=64, stream_bytes=1 << 16,
        backend=cal.Backend("cpu", dev.synchronize), clock=dev.clock, name="fake",
    )
    assert spec.name == "fake"
    assert spec.peak_flops == pytest.approx({"fp32": 2.0e11, "fp16": 2.0e11, "int8": 8.0e11}, rel=1e-9)
    assert spec.bandwidth == pytest.approx(4.0e10, rel=1e-9)
    assert dev.syncs > 0
    assert dev.now <= 3.0 * 1.05  # the whole run stays inside its budget
    assert "64x64 matmul" in spec.source and "measured by archscope calibrate" in spec.source


def test_calibrate_grows_the_matrix_but_stays_in_budget(monkeypatch):
    dev = FakeAsyncDevice(flops_per_s=1.0e12, bytes_per_s=1.0e11)
    dev.install(monkeypatch)
    spec = calibrate("cpu", dtypes=("fp32",), seconds=2.0, stream_bytes=1 << 20,
                     backend=cal.Backend("cpu", dev.synchronize), clock=dev.clock)
    assert spec.peak("fp32") == pytest.approx(1.0e12, rel=1e-9)
    size = int(spec.source.split("fp32: ")[1].split("x")[0])
    assert 512 <= size <= 2048  # grew past the floor (a 128x128 call is far under 10 ms here)
    assert dev.now <= 2.0 * 1.05


def test_calibrate_slow_dtype_stays_small(monkeypatch):
    dev = FakeAsyncDevice(flops_per_s=1.0e8, bytes_per_s=1.0e10)  # 128^3 x 2 = 42 ms a call: no room to grow
    dev.install(monkeypatch)
    spec = calibrate("cpu", dtypes=("bf16",), seconds=1.0, stream_bytes=1 << 16,
                     backend=cal.Backend("cpu", dev.synchronize), clock=dev.clock)
    assert spec.peak("bf16") == pytest.approx(1.0e8, rel=1e-9)
    assert "bf16: 128x128" in spec.source


def test_calibrate_rejects_bad_arguments():
    with pytest.raises(ArchscopeError, match="cannot calibrate dtype 'fp4'"):
        calibrate(dtypes=("fp4",))
    with pytest.raises(ArchscopeError, match="positive time budget"):
        calibrate(seconds=0)
    with pytest.raises(ArchscopeError, match="use cpu, cuda"):
        calibrate(device="tpu")


def test_calibrate_names_a_missing_gpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    with pytest.raises(ArchscopeError, match="not available"):
        calibrate(device="cuda")


def test_real_quick_calibrate_smoke():
    t0 = time.perf_counter()
    spec = calibrate("cpu", dtypes=("fp32",), seconds=0.5, stream_bytes=16 << 20)
    assert time.perf_counter() - t0 < 5.0
    assert spec.peak("fp32") > 0 and spec.bandwidth > 0
    assert spec.name == "calibrated-cpu"


def test_saved_device_file_gets_the_umask_mode_not_0600(tmp_path):
    """`archscope calibrate -o x.yaml` once wrote mode 0600 (mkstemp's); a device file is shared like any other."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = save_device(load_device("m2"), tmp_path / "dev.yaml")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644

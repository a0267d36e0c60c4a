"""bench's measured peak (archscope.measure.peak): the CPU live-storage tracker against a tracker written here, the
CUDA and MPS readings with the device modules replaced by fakes, and the figure in the BenchReport and its text."""

from __future__ import annotations

import weakref
from pathlib import Path

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import archscope
from archscope.analysis.analyze import analyze
from archscope.build.builder import BuildOptions, build_model
from archscope.build.materialize import materialize
from archscope.measure import peak
from archscope.reports.bench import BenchReport
from archscope.spec.model_spec import load_spec

REPO = Path(__file__).resolve().parents[1]
SAMPLE = str(REPO / "sample_configs" / "tiny-detector.yaml")


class Reference(TorchDispatchMode):
    """Live storage bytes of op outputs (weights excluded, the input included): written apart from archscope's."""

    def __init__(self, x, model):
        super().__init__()
        self.weights = [t.untyped_storage() for t in [*model.parameters(), *model.buffers()]]
        self.sizes = {id(s): 0 for s in self.weights}
        self.current = self.peak = 0
        self.add(x)

    def add(self, t):
        s = t.untyped_storage()
        if id(s) not in self.sizes:
            self.sizes[id(s)] = s.nbytes()
            self.current += s.nbytes()
            self.peak = max(self.peak, self.current)
            weakref.finalize(s, self.free, id(s))

    def free(self, key):
        self.current -= self.sizes.pop(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor):
                self.add(t)
        return out


@pytest.fixture(scope="module")
def tiny():
    built = build_model(load_spec(SAMPLE), BuildOptions(imgsz=(96, 128), batch=2))
    return built, materialize(built, device="cpu")


def test_cpu_tracker_measures_what_an_independent_tracker_does(tiny):
    built, model = tiny
    x = torch.rand(2, 3, 96, 128)
    with torch.inference_mode():
        measured = peak.measure_peak("cpu", lambda: model(x), x, model)
        ref = Reference(x, model)
        with ref:
            model(x)
    assert measured.bytes == ref.peak and measured.method == "a live-storage tracker"
    assert analyze(built, legacy=False).peak_activation_bytes == pytest.approx(measured.bytes, rel=0.10)


class FakeCuda:
    """torch.cuda's allocator counters: 3 MB allocated before the forward, the forward peaks at 10 MB."""

    def __init__(self):
        self.log: list[str] = []
        self.allocated, self.peak = 3_000_000, 50_000_000  # a stale peak from before: must be reset

    def synchronize(self, device=None):
        self.log.append(f"sync {device}")

    def memory_allocated(self, device=None):
        return self.allocated

    def reset_peak_memory_stats(self, device=None):
        self.log.append("reset")
        self.peak = self.allocated

    def max_memory_allocated(self, device=None):
        return self.peak

    def forward(self):
        self.log.append("forward")
        self.peak = max(self.peak, 10_000_000)


def test_cuda_peak_is_the_allocator_peak_over_the_forward_less_what_was_there():
    cuda = FakeCuda()
    x = torch.empty(1, 3, 10, 10)  # 1200 bytes
    measured = peak.cuda_peak(cuda.forward, x, "cuda:1", cuda=cuda)
    assert measured.bytes == 10_000_000 - 3_000_000 + 1200
    assert measured.method == "torch.cuda.max_memory_allocated"
    assert cuda.log == ["sync cuda:1", "reset", "forward", "sync cuda:1"]


class FakeMps:
    def __init__(self, readings):
        self.readings = iter(readings)
        self.calls = 0
        self.syncs = 0

    def synchronize(self):
        self.syncs += 1

    def current_allocated_memory(self):
        self.calls += 1
        return next(self.readings)


def test_mps_peak_is_the_largest_reading_at_any_op():
    mps = FakeMps([1000, 1500, 9000, 4000, 2000])  # before, after each of the 3 ops, after the forward

    def forward():
        a = torch.ones(4)
        b = a + 1
        return b * 2

    x = torch.empty(10)  # 40 bytes
    measured = peak.mps_peak(forward, x, mps=mps)
    assert measured is not None and measured.bytes == 9000 - 1000 + 40
    assert mps.calls == 5 and mps.syncs == 2


def test_mps_without_the_counter_measures_nothing():
    class Old:
        def synchronize(self):
            raise AssertionError("not reached")

    assert peak.mps_peak(lambda: None, torch.empty(1), mps=Old()) is None


def test_measure_peak_picks_the_device_method(monkeypatch):
    calls = []
    monkeypatch.setattr(peak, "cuda_peak", lambda f, x, device: calls.append(("cuda", device)))
    monkeypatch.setattr(peak, "mps_peak", lambda f, x: calls.append(("mps",)))
    peak.measure_peak("cuda:0", lambda: None, torch.empty(1), torch.nn.Identity())
    peak.measure_peak("mps", lambda: None, torch.empty(1), torch.nn.Identity())
    assert calls == [("cuda", "cuda:0"), ("mps",)]


def test_bench_records_the_measured_peak_beside_the_estimate(tmp_path, monkeypatch):
    from archscope.render.bench import peak_line, render_bench

    monkeypatch.setenv("ARCHSCOPE_DEVICE_FILE", str(tmp_path / "device.yaml"))
    report = archscope.bench(SAMPLE, imgsz=64, batch="1,2", device="cpu", runs=1, warmup=0)
    for stats in report.batches:
        assert stats.peak_method == "a live-storage tracker"
        assert stats.peak_estimate_bytes == pytest.approx(stats.peak_measured_bytes, rel=0.10)
    one = report.batch(1)
    built = build_model(load_spec(SAMPLE), BuildOptions(imgsz=(64, 64)))
    assert one.peak_estimate_bytes == analyze(built, legacy=False).peak_activation_bytes
    again = BenchReport.from_dict(report.to_dict())
    assert again.batch(2).peak_measured_bytes == report.batch(2).peak_measured_bytes
    line = peak_line(one, batches=2)
    assert line.startswith(f"peak memory, batch 1: measured {one.peak_measured_bytes / 1e6:.1f} MB, estimated ")
    assert f"({100 * one.peak_error:+.1f}%)" in line
    for fmt in ("table", "md", "html"):
        assert "peak memory, batch 2: measured" in render_bench(report, fmt, width=80)
    assert "peak_measured_bytes" in render_bench(report, "csv").splitlines()[0]


def test_peak_line_says_the_sign_of_the_error():
    from archscope.render.bench import peak_line
    from archscope.reports.bench import BatchStats

    stats = BatchStats(1, *[1.0] * 7, 1, 0, 1.0, 1, 1, 1.0, 1.0, 1, peak_measured_bytes=24_600_000,
                       peak_method="torch.cuda.max_memory_allocated", peak_estimate_bytes=24_108_000)
    assert peak_line(stats) == ("peak memory: measured 24.6 MB, estimated 24.1 MB (-2.0%); activations and input, "
                                "by torch.cuda.max_memory_allocated")
    stats.peak_measured_bytes = None
    assert peak_line(stats) is None

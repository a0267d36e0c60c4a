"""archscope bench: the timing rules with a fake clock and a fake synchronize, device and memory checks, and a few
real (tiny, CPU) runs for the report's structure. No assertion here is about speed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

import archscope
from archscope.build.fuse import deploy
from archscope.measure import runner as B
from archscope.measure import timing
from archscope.api import parse_batches, timing_plan
from archscope.reports.bench import SCHEMA, BenchReport
from archscope.build.builder import BuildOptions, build_model
from archscope.errors import ArchscopeError
from archscope.spec.model_spec import load_spec

SAMPLE = str(Path(__file__).resolve().parents[1] / "sample_configs" / "tiny-detector.yaml")

# Small enough for a real CPU run in a fraction of a second; has a Conv+BN, a Concat and a Detect head.
TINY = {
    "nc": 2,
    "backbone": [[-1, 1, "Conv", [8, 3, 2]], [-1, 1, "Conv", [16, 3, 2]], [-1, 1, "C2f", [16, True]]],
    "head": [[-1, 1, "nn.Upsample", [None, 2, "nearest"]], [[-1, 0], 1, "Concat", [1]],
             [-1, 1, "Conv", [8, 3, 2]], [[-1, 2], 1, "Concat", [1]], [[5, 2], 1, "Detect", ["nc"]]],
}


# ---------------------------------------------------------------------------------------------- fakes


class Log(list):
    def clock_from(self, times):
        it = iter(times)

        def clock():
            self.append("clock")
            return next(it)

        return clock

    def sync(self):
        self.append("sync")

    def fn(self):
        self.append("fn")
        return "out"


class FixedStopwatch:
    """Every timed call takes ``seconds`` (no clock, no device)."""

    def __init__(self, seconds):
        self.seconds, self.calls = seconds, 0
        self.synchronize = lambda: None

    def time(self, fn):
        self.calls += 1
        return self.seconds, fn()


# ----------------------------------------------------------------------------------------- call order


def test_sync_stopwatch_synchronises_before_start_and_before_stop():
    log = Log()
    watch = timing.SyncStopwatch(log.sync, log.clock_from([1.0, 1.25]))
    seconds, out = watch.time(log.fn)
    assert log == ["sync", "clock", "fn", "sync", "clock"]
    assert seconds == 0.25 and out == "out"


def test_warm_up_then_sample_exact_call_order():
    log = Log()
    watch = timing.SyncStopwatch(log.sync, log.clock_from([0.0, 1.0, 5.0, 7.0]))
    timing.warm_up(log.fn, log.sync, 2)
    samples = timing.sample(log.fn, watch, runs=2)
    assert log == ["fn", "fn", "sync",  # warm-up is untimed; the device is drained before timing starts
                   "sync", "clock", "fn", "sync", "clock",
                   "sync", "clock", "fn", "sync", "clock"]
    assert samples == [1.0, 2.0]


def test_event_stopwatch_brackets_the_call_with_device_events():
    log = Log()

    class Event:
        def __init__(self, name):
            self.name = name

        def record(self):
            log.append(f"record {self.name}")

        def elapsed_time(self, end):
            log.append("elapsed")
            return 12.5  # milliseconds, as torch.cuda.Event reports

    names = iter(["start", "end"])
    watch = timing.EventStopwatch(log.sync, lambda: Event(next(names)))
    seconds, out = watch.time(log.fn)
    assert log == ["sync", "record start", "fn", "record end", "sync", "elapsed"]
    assert seconds == pytest.approx(0.0125) and out == "out"


def test_sample_layers_times_each_layer_with_its_own_synchronisation():
    log = Log()
    watch = timing.SyncStopwatch(log.sync, log.clock_from([0.0, 0.1, 0.1, 0.4, 1.0, 1.2, 1.2, 1.3]))

    def forward(wrap):
        assert wrap(0, lambda: log.fn()) == "out"  # the layer's output flows on to the next layer
        wrap(1, lambda: log.fn())

    forwards = timing.sample_layers(forward, watch, runs=2)
    assert log.count("sync") == 8 and log[:5] == ["sync", "clock", "fn", "sync", "clock"]
    assert [sorted(f) for f in forwards] == [[0, 1], [0, 1]]
    assert forwards[0][0] == pytest.approx(0.1) and forwards[0][1] == pytest.approx(0.3)
    assert forwards[1][0] == pytest.approx(0.2) and forwards[1][1] == pytest.approx(0.1)


# ----------------------------------------------------------------------------------------- statistics


def test_statistics_on_known_timings_with_one_outlier():
    # Q1 = 12.25, Q3 = 16.75 (linear interpolation), IQR 4.5: upper fence 16.75 + 13.5 = 30.25, so 100 is out.
    # The 9 kept runs 10..18: median 14, mean 14, p10 = 10 + 0.8 = 10.8, p90 = 17 + 0.2 = 17.2,
    # sample variance = 2 * (16 + 9 + 4 + 1) / 8 = 7.5.
    samples = [12, 10, 11, 13, 14, 100, 15, 16, 17, 18]
    s = timing.summarize(samples)
    assert (s.runs, s.outliers) == (10, 1)
    assert s.median == 14 and s.mean == 14 and s.min == 10 and s.max == 18
    assert s.p10 == pytest.approx(10.8) and s.p90 == pytest.approx(17.2)
    assert s.std == pytest.approx(math.sqrt(7.5))


def test_statistics_without_outliers():
    s = timing.summarize([4.0, 1.0, 3.0, 2.0])
    assert (s.runs, s.outliers) == (4, 0)
    assert s.median == 2.5 and s.mean == 2.5
    assert s.p10 == pytest.approx(1.3) and s.p90 == pytest.approx(3.7)
    assert s.std == pytest.approx(math.sqrt(5 / 3))
    one = timing.summarize([0.5])
    assert (one.median, one.p10, one.p90, one.std, one.runs) == (0.5, 0.5, 0.5, 0.0, 1)


def test_outliers_both_sides_and_none_when_all_equal():
    kept, out = timing.split_outliers([10, 10, 10, 10, 0.1, 10])
    assert out == [0.1] and kept == [10] * 5
    assert timing.split_outliers([3.0] * 5) == ([3.0] * 5, [])
    assert timing.summarize([12, 100, 10], drop_outliers=False).outliers == 0


@pytest.mark.parametrize("runs, min_time, max_runs, expected", [
    (3, 1.0, 100, 4),  # 3 runs are 0.75 s: one more to reach 1 s
    (6, 1.0, 100, 6),  # 6 runs already pass 1 s
    (1, 0.0, 100, 1),
    (3, 100.0, 5, 5),  # never past max_runs
])
def test_runs_and_min_time(runs, min_time, max_runs, expected):
    watch = FixedStopwatch(0.25)
    seen = []
    samples = timing.sample(lambda: None, watch, runs=runs, min_time=min_time, max_runs=max_runs,
                            on_run=lambda done, total: seen.append((done, total)))
    assert len(samples) == expected == watch.calls
    assert seen[-1] == (expected, pytest.approx(0.25 * expected))


@pytest.mark.parametrize("runs, min_time, expected", [(None, None, (10, 1.0)), (5, None, (5, 0.0)),
                                                      (None, 2.0, (3, 2.0)), (7, 0.5, (7, 0.5))])
def test_timing_plan(runs, min_time, expected):
    assert timing_plan(runs, min_time) == expected


@pytest.mark.parametrize("runs, min_time", [(0, None), (-1, None), (None, 0), (None, -2.0), (None, float("inf"))])
def test_timing_plan_rejects(runs, min_time):
    with pytest.raises(ArchscopeError):
        timing_plan(runs, min_time)


@pytest.mark.parametrize("value, expected", [(1, (1,)), ("8", (8,)), ("1,8,32", (1, 8, 32)), ([2, 1], (2, 1)),
                                             ("4, 4", (4,))])
def test_parse_batches(value, expected):
    assert parse_batches(value) == expected


@pytest.mark.parametrize("value", [0, "0", "a,b", "1,,2", "-1", "1.5", True, ""])
def test_parse_batches_rejects(value):
    with pytest.raises(ArchscopeError, match="--batch"):
        parse_batches(value)


# ---------------------------------------------------------------------------------------------- devices


def test_resolve_device_with_probes():
    two_gpus, no_gpu = (lambda: 2), (lambda: 0)
    yes, no = (lambda: True), (lambda: False)
    assert B.resolve_device("auto", cuda_count=two_gpus, mps_available=yes) == "cuda:0"
    assert B.resolve_device("auto", cuda_count=no_gpu, mps_available=yes) == "mps"
    assert B.resolve_device("auto", cuda_count=no_gpu, mps_available=no) == "cpu"
    assert B.resolve_device("CUDA:1", cuda_count=two_gpus, mps_available=no) == "cuda:1"
    with pytest.raises(ArchscopeError, match="has 2 CUDA GPU"):
        B.resolve_device("cuda:2", cuda_count=two_gpus, mps_available=no)
    with pytest.raises(ArchscopeError, match="no CUDA GPU"):
        B.resolve_device("cuda", cuda_count=no_gpu, mps_available=no)
    with pytest.raises(ArchscopeError, match="no MPS"):
        B.resolve_device("mps", cuda_count=no_gpu, mps_available=no)
    with pytest.raises(ArchscopeError, match="auto, cpu, cuda"):
        B.resolve_device("tpu", cuda_count=no_gpu, mps_available=no)


def test_cuda_target_times_with_events_and_synchronises(monkeypatch):
    """The CUDA path without a GPU: torch.cuda's functions replaced by fakes that log what is called."""
    log = []

    class Event:
        def __init__(self, enable_timing=False):
            assert enable_timing
            self.name = f"event{sum(1 for e in log if e == 'new event')}"
            log.append("new event")

        def record(self):
            log.append(f"record {self.name}")

        def elapsed_time(self, end):
            return 4.0

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: log.append(f"sync {device}"))
    monkeypatch.setattr(torch.cuda, "Event", Event)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Fake GPU 80GB")
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (5 << 30, 80 << 30))
    target = B.target_for("cuda:0")
    assert (target.device, target.name, target.available_bytes()) == ("cuda:0", "Fake GPU 80GB", 5 << 30)
    seconds, _ = target.stopwatch.time(lambda: log.append("forward"))
    assert seconds == 0.004
    assert log == ["new event", "new event", "sync cuda:0", "record event0", "forward", "record event1",
                   "sync cuda:0"]


def test_mps_target_synchronises_the_mps_device(monkeypatch):
    log = []
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.mps, "synchronize", lambda: log.append("mps sync"))
    target = B.target_for("mps")
    clock = iter([1.0, 1.5])
    target.stopwatch.clock = lambda: next(clock)
    seconds, _ = target.stopwatch.time(lambda: log.append("forward"))
    assert seconds == 0.5 and log == ["mps sync", "forward", "mps sync"]


def test_cpu_target_uses_the_wall_clock_stopwatch():
    target = B.target_for("cpu")
    assert isinstance(target.stopwatch, timing.SyncStopwatch)
    assert target.name and (target.available_bytes() or 0) > 0


# ----------------------------------------------------------------------------------------------- memory


def test_memory_check_refuses_with_the_figures():
    need = B.MemoryNeed(weights=2 << 30, activations=2 << 30)
    B.check_memory(need, 8 << 30, device="cpu", batch=4, imgsz=(640, 640), dtype="fp32")  # fits
    B.check_memory(need, None, device="cpu", batch=4, imgsz=(640, 640), dtype="fp32")  # unknown: run
    with pytest.raises(ArchscopeError, match=r"needs about 4\.00 GiB on cpu .* only 4\.00 GiB is free"):
        B.check_memory(need, 4 << 30, device="cpu", batch=4, imgsz=(640, 640), dtype="fp32")


def test_bench_refuses_before_allocating(monkeypatch):
    monkeypatch.setattr(B, "host_available_bytes", lambda: 1000)
    monkeypatch.setattr(B, "prepare_model", lambda *a, **k: pytest.fail("the model was materialised"))
    with pytest.raises(ArchscopeError, match="needs about .* GiB on cpu"):
        archscope.bench(TINY, imgsz=64, device="cpu", runs=1)


# ----------------------------------------------------------------------------------------- real runs


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHSCOPE_DEVICE_FILE", str(tmp_path_factory.mktemp("cfg") / "device.yaml"))  # none saved
        return archscope.bench(SAMPLE, imgsz=64, batch="1,2", device="cpu", runs=3, warmup=1, per_layer=True)


def test_report_has_one_block_per_batch_with_the_statistics(report):
    assert [s.batch for s in report.batches] == [1, 2]
    for stats in report.batches:
        assert stats.runs == 3 and len(stats.samples_ms) == 3
        assert stats.p10_ms <= stats.median_ms <= stats.p90_ms
        assert stats.images_per_s == pytest.approx(stats.batch / (stats.median_ms / 1e3))
        assert stats.achieved_flops_per_s == pytest.approx(stats.flops / (stats.median_ms / 1e3))
        assert stats.memory_estimate_bytes > 0 and stats.predicted_ms > 0
    # the analysis' figures, counted per batch (Detect's anchor grid is the same for any batch: hence approx)
    assert report.batch(2).flops == pytest.approx(2 * report.batch(1).flops, rel=1e-6)
    assert report.batch(2).flops != report.batch(1).flops


def test_per_layer_rows(report):
    stats = report.batch(1)
    assert [row.index for row in stats.layers] == list(range(report.model.yaml_layers)) == list(range(24))
    assert sum(row.share for row in stats.layers) == pytest.approx(1.0)
    assert stats.layers_sum_ms == pytest.approx(sum(row.median_ms for row in stats.layers))
    assert stats.layer_overhead == pytest.approx(stats.layers_sum_ms / stats.median_ms - 1)
    assert stats.layer_runs == 3
    assert stats.layers[23].module == "Detect" and stats.layers[23].from_ == [16, 19, 22]
    for row in stats.layers:
        assert row.predicted_ms > 0 and row.vs_predicted == pytest.approx(row.median_ms / row.predicted_ms)
        assert row.bound in ("compute", "memory")
    conv = stats.layers[0]
    assert conv.achieved_flops_per_s == pytest.approx(conv.flops / (conv.median_ms / 1e3))
    assert report.settings.device_spec == "cpu" and report.settings.device_spec_origin == "generic preset"


def test_json_schema_and_round_trip(report):
    data = json.loads(json.dumps(report.to_dict()))
    assert data["schema"] == SCHEMA == "archscope.bench/1"
    assert set(data) == {"schema", "model", "environment", "settings", "batches", "notes"}
    assert {"torch", "device", "device_name", "threads", "dtype", "cpu_model"} <= set(data["environment"])
    assert data["environment"]["torch"] == torch.__version__
    assert {"device", "dtype", "batches", "imgsz", "channels_last", "fuse", "compile", "threads", "warmup", "runs",
            "min_time", "seed", "per_layer", "device_spec", "outlier_rule"} <= set(data["settings"])
    block = data["batches"][0]
    assert {"batch", "median_ms", "mean_ms", "p10_ms", "p90_ms", "std_ms", "runs", "images_per_s", "layers",
            "layers_sum_ms", "layer_overhead"} <= set(block)
    assert list(block["layers"][0])[:3] == ["index", "from", "module"]
    assert {"median_ms", "share", "predicted_ms", "achieved_flops_per_s", "achieved_bytes_per_s"} <= set(
        block["layers"][0])
    again = BenchReport.from_dict(data)
    assert again.to_dict() == report.to_dict()
    with pytest.raises(ValueError, match="not an archscope bench report"):
        BenchReport.from_dict({**data, "schema": "archscope.report/1"})


def test_shortcuts_that_compare_reads(report):
    # archscope compare --bench reads: stats[0].median_ms, layers[i].index / .median_ms, and device
    assert report.stats[0] is report.batch(1) and report.stats[0].median_ms > 0
    assert [row.index for row in report.layers] == list(range(24)) and report.layers is report.batch(1).layers
    assert report.device == "cpu"


def _built(source=TINY, imgsz=(64, 64)):
    return build_model(load_spec(source), BuildOptions(imgsz=imgsz))


def _output(built, options):
    model = B.prepare_model(built, options, "cpu").eager
    with torch.inference_mode():
        return model(B.make_input(built, 2, options, "cpu"))


def test_same_seed_same_output_other_seed_other_output():
    a = _output(_built(), B.BenchOptions(seed=3))
    b = _output(_built(), B.BenchOptions(seed=3))
    c = _output(_built(), B.BenchOptions(seed=4))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_fuse_keeps_outputs_and_removes_the_batch_norms():
    built = _built()
    plain = B.prepare_model(built, B.BenchOptions(), "cpu").eager
    # make the BN statistics non-trivial, so folding them is really exercised
    with torch.no_grad():
        for m in plain.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
    x = B.make_input(built, 2, B.BenchOptions(), "cpu")
    with torch.inference_mode():
        before = plain(x)
    modules_before = len(list(plain.modules()))
    bns = sum(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    assert deploy(plain).conv_bn == bns > 0  # every BN of this model sits in a Conv
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    assert len(list(plain.modules())) == modules_before - bns
    with torch.inference_mode():
        after = plain(x)
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)


def test_fuse_leaves_conv_bn_pairs_of_other_blocks_as_ultralytics_does():
    seq = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU()).eval()
    assert deploy(seq).changed == 0
    assert [type(m).__name__ for m in seq] == ["Conv2d", "BatchNorm2d", "ReLU"]


def test_channels_last_fuse_and_bf16_run():
    report = archscope.bench(TINY, imgsz=64, device="cpu", runs=1, warmup=1, channels_last=True, fuse=True,
                             dtype="bf16", seed=1)
    assert report.settings.channels_last and report.settings.fuse and report.environment.dtype == "bf16"
    # Conv 0, 1, 5 (3) + C2f's cv1, cv2, m.0.cv1, m.0.cv2 (4) + Detect: 2 Convs in each of cv2 and cv3, 2 levels (8)
    assert report.notes[-1].endswith("model.fuse() leaves it: 15 Conv+BN folded")
    assert report.batches[0].runs == 1 and report.batches[0].median_ms > 0


def test_progress_is_reported():
    seen = []
    archscope.bench(TINY, imgsz=64, device="cpu", runs=2, warmup=1, progress=lambda *a: seen.append(a))
    assert ("batch 1: warm-up", 0, 1) in seen and seen[-2] == ("batch 1: timing", 2, 2)
    assert seen[-1] == ("batch 1: measuring peak memory", 0, None)  # the untimed forward, after the timed runs


def test_a_failing_forward_is_one_clear_error():
    target = B.target_for("cpu")
    with pytest.raises(ArchscopeError, match="out of memory on cpu in layer 3 at batch 8"):
        with B._forward_errors(B.BenchOptions(), target, 8):
            from archscope.build.graph import LayerFailure

            raise LayerFailure(3, RuntimeError("DefaultCPUAllocator: can't allocate memory: out of memory"))
    with pytest.raises(ArchscopeError, match="the fp16 forward failed on cpu at batch 1: .*try --dtype fp32"):
        with B._forward_errors(B.BenchOptions(dtype="fp16"), target, 1):
            raise RuntimeError('"slow_conv2d_cpu" not implemented for \'Half\'')


def test_compile_unavailable_is_a_clear_error(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("Windows not yet supported for torch.compile")

    monkeypatch.setattr(torch, "compile", broken)
    with pytest.raises(ArchscopeError, match="--compile: torch.compile is not usable here"):
        archscope.bench(TINY, imgsz=64, device="cpu", runs=1, compile=True)


# --------------------------------------------------------------------------- the saved device spec


def test_saved_default_device_is_used(tmp_path, monkeypatch):
    from archscope.devices.spec import DeviceSpec, default_device_file, save_device

    monkeypatch.setenv("ARCHSCOPE_DEVICE_FILE", str(tmp_path / "mine.yaml"))
    assert default_device_file() == tmp_path / "mine.yaml"
    save_device(DeviceSpec("my-box", {"fp32": 1e11}, 1e10, "test"), tmp_path / "mine.yaml")
    report = archscope.bench(TINY, imgsz=64, device="cpu", runs=1, warmup=0, per_layer=True)
    assert report.settings.device_spec == "my-box"
    assert report.settings.device_spec_origin == f"saved default ({tmp_path / 'mine.yaml'})"
    assert report.notes == []


def test_default_device_file_location(monkeypatch, tmp_path):
    from archscope.devices.spec import default_device_file

    monkeypatch.delenv("ARCHSCOPE_DEVICE_FILE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_device_file() == tmp_path / "archscope" / "device.yaml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert default_device_file() == Path.home() / ".config" / "archscope" / "device.yaml"


def test_explicit_device_spec_is_checked_before_timing(monkeypatch):
    monkeypatch.setattr(B, "run_bench", lambda *a, **k: pytest.fail("timing started"))
    with pytest.raises(ArchscopeError, match="relative units"):
        archscope.bench(TINY, imgsz=64, device="cpu", device_spec="pixel6-cpu")
    with pytest.raises(ArchscopeError, match="no peak figure for dtype 'bf16'"):
        archscope.bench(TINY, imgsz=64, device="cpu", dtype="bf16", device_spec="cpu")


def test_default_spec_without_the_dtype_gives_a_note(monkeypatch, tmp_path):
    monkeypatch.setenv("ARCHSCOPE_DEVICE_FILE", str(tmp_path / "none.yaml"))
    report = archscope.bench(TINY, imgsz=64, device="cpu", dtype="fp16", runs=1, warmup=0)
    assert report.batches[0].predicted_ms is None and report.settings.device_spec is None
    assert "no fp16 peak" in report.notes[0]

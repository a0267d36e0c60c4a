"""When bench's numbers are not to be trusted (archscope.measure.trust), the live progress bar, and calibrate's
repeats: every rule driven with fakes (a scripted stopwatch, a fake load average, fake cpufreq files, a fake clock
and console, a fake device whose speed changes), never with this machine's real noise."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import archscope.api as api
from archscope.build.builder import BuildOptions, build_model
from archscope.cli.app import app
from archscope.devices import calibrate as cal
from archscope.measure import runner as R
from archscope.measure import timing, trust
from archscope.measure.trust import assess as real_assess
from archscope.render.progress import progress_bar
from archscope.reports.bench import BatchStats
from archscope.spec.model_spec import load_spec
from archscope.util import machine

SAMPLE = str(Path(__file__).resolve().parents[1] / "sample_configs" / "tiny-detector.yaml")
TINY = {
    "nc": 2,
    "backbone": [[-1, 1, "Conv", [8, 3, 2]], [-1, 1, "Conv", [16, 3, 2]]],
    "head": [[-1, 1, "Conv", [8, 1, 1]]],
}
runner = CliRunner()


def stats(samples_ms, batch=1):
    s = timing.summarize([ms / 1e3 for ms in samples_ms])
    return BatchStats(batch=batch, median_ms=s.median * 1e3, mean_ms=s.mean * 1e3, p10_ms=s.p10 * 1e3,
                      p90_ms=s.p90 * 1e3, std_ms=s.std * 1e3, min_ms=s.min * 1e3, max_ms=s.max * 1e3, runs=s.runs,
                      outliers=s.outliers, images_per_s=0.0, flops=0, bytes=0, achieved_flops_per_s=0.0,
                      achieved_bytes_per_s=0.0, memory_estimate_bytes=0)


def cpu_tree(root: Path, *, current, hardware_max=3_000_000, allowed_max=None, base=None, throttles=None):
    """A fake /sys/devices/system/cpu: one folder per CPU, the files cpufreq and thermal_throttle have."""
    for i, cur in enumerate(current):
        freq = root / f"cpu{i}" / "cpufreq"
        freq.mkdir(parents=True, exist_ok=True)
        files = {"scaling_cur_freq": cur, "cpuinfo_max_freq": hardware_max,
                 "scaling_max_freq": allowed_max or hardware_max, "base_frequency": base}
        for name, value in files.items():
            if value is not None:
                (freq / name).write_text(f"{value}\n")
        if throttles is not None:
            tt = root / f"cpu{i}" / "thermal_throttle"
            tt.mkdir(exist_ok=True)
            (tt / "core_throttle_count").write_text(f"{throttles[i]}\n")
    (root / "cpufreq").mkdir(exist_ok=True)  # sysfs has non-CPU entries too; they are not CPUs
    return root


# ------------------------------------------------------------------------------------------------- the rules


def test_a_steady_run_gives_no_warning():
    assert real_assess([stats([10.0, 10.2, 9.9, 10.1, 10.0, 10.3])], device="cpu", load=(0.5, 0.4, 0.3), cores=8,
                       before=machine.CpuState(), after=machine.CpuState()) == []


def test_the_reported_run_median_460_mean_955_is_flagged():
    # like the issue's run (median 460 ms, mean 955, std 1051): median 460, mean 1087, std 978, no run dropped
    warnings = real_assess([stats([300, 350, 400, 460, 460, 1500, 1800, 2600, 2700, 300])], device="cpu", load=None,
                           cores=None)
    assert len(warnings) == 2 and all(w.startswith(trust.PREFIX) for w in warnings)
    assert "batch 1: the runs spread widely" in warnings[0] and "limits 1.5 and 0.25" in warnings[0]
    assert "(p90/p10 8.70, std/median 2.13;" in warnings[0]
    assert "mean 1087 ms and median 460 ms are 136% apart (limit 10%)" in warnings[1]
    assert "much slower" in warnings[1]


@pytest.mark.parametrize("samples, spread, gap", [
    ([10, 10, 10, 16, 16, 16], True, False),  # p90/p10 1.6 > 1.5; mean 13 vs median 13: no gap
    ([10, 10.5, 11, 11.5, 12, 14], False, False),  # p90/p10 1.3, std/median 0.15, gap 2 %
    ([10, 10, 10, 10, 12.5, 12.5, 12.5], False, True),  # p90/p10 1.25, std/median 0.13; mean 11.07 vs 10: 11 %
])
def test_spread_and_gap_thresholds(samples, spread, gap):
    warnings = trust.spread_warnings(stats(samples), "batch 1")
    assert any("spread widely" in w for w in warnings) == spread
    assert any("apart" in w for w in warnings) == gap


def test_load_above_the_core_count():
    assert trust.load_warning((2.0, 1.0, 1.0), 2) == []  # equal: not above
    (line,) = trust.load_warning((5.66, 4.7, 3.4), 2)
    assert line == ("unreliable timing: the load average was 5.66 before the runs, above the 2 cores this process "
                    "may use: other programs were competing for the CPUs")
    assert trust.load_warning(None, 2) == [] and trust.load_warning((9.0,), None) == []


def test_load_average_probe_with_a_fake_and_without_one():
    assert machine.load_average(lambda: (1.5, 1.0, 0.5)) == (1.5, 1.0, 0.5)

    def missing():
        raise OSError("no load average here")

    assert machine.load_average(missing) is None


def test_cpufreq_files_are_read(tmp_path):
    root = cpu_tree(tmp_path, current=[2_400_000, 3_100_000], base=2_000_000, throttles=[4, 1])
    state = machine.cpu_state(root)
    assert [c.cpu for c in state.clocks] == ["cpu0", "cpu1"]
    assert state.clocks[1] == machine.CpuClock("cpu1", 3_100_000, 3_000_000, 3_000_000, 2_000_000)
    assert state.throttle_events == 5
    assert machine.cpu_state(tmp_path / "absent") == machine.CpuState()


def test_no_throttling_at_full_clock(tmp_path):
    after = machine.cpu_state(cpu_tree(tmp_path, current=[800_000, 2_900_000]))  # one idle, one working CPU
    assert trust.throttle_warnings(after, after) == []


def test_clock_below_base_is_throttling(tmp_path):
    after = machine.cpu_state(cpu_tree(tmp_path, current=[1_200_000, 1_500_000], base=2_000_000))
    (line,) = trust.throttle_warnings(None, after)
    assert "below its base" in line and "cpu1" in line and "1.50 GHz, base 2.00 GHz" in line


def test_clock_low_against_the_maximum_without_a_base(tmp_path):
    after = machine.cpu_state(cpu_tree(tmp_path, current=[1_000_000, 2_000_000]))
    (line,) = trust.throttle_warnings(None, after)
    assert "67% of its 3.00 GHz (limit 70%)" in line


def test_capped_clock_and_throttle_events(tmp_path):
    before = machine.cpu_state(cpu_tree(tmp_path / "a", current=[3_000_000], throttles=[7]))
    after = machine.cpu_state(cpu_tree(tmp_path / "b", current=[2_500_000], allowed_max=2_500_000, throttles=[9]))
    lines = trust.throttle_warnings(before, after)
    assert "thermally throttled during the runs (2 throttle events" in lines[0]
    assert "may run at 2.50 GHz of its 3.00 GHz (scaling_max_freq)" in lines[1]
    assert len(lines) == 2  # 2.5 of 3.0 GHz is 83 %: not "low" as well


def test_cpu_clocks_are_not_checked_for_a_gpu_run(tmp_path):
    after = machine.cpu_state(cpu_tree(tmp_path, current=[500_000]))
    assert real_assess([], device="cuda:0", load=None, cores=None, after=after) == []
    assert len(real_assess([], device="cpu", load=None, cores=None, after=after)) == 1


# ----------------------------------------------------------------------------------- bench, end to end (fakes)


class ScriptedStopwatch:
    """Each timed call takes the next of ``seconds`` (the forward really runs; its time is scripted)."""

    def __init__(self, seconds):
        self.seconds = iter(seconds)
        self.synchronize = lambda: None

    def time(self, fn):
        return next(self.seconds), fn()


@pytest.fixture
def built():
    return build_model(load_spec(TINY), BuildOptions(imgsz=(32, 32)))


def fake_target(seconds):
    return R.Target("cpu", "fake CPU", ScriptedStopwatch(seconds), lambda: None)


def test_bench_notes_end_with_the_warnings(built, tmp_path, monkeypatch):
    monkeypatch.setattr(trust, "assess", real_assess)  # the real checks (conftest turns them off elsewhere)
    base = cpu_tree(tmp_path / "before", current=[3_000_000, 3_000_000], throttles=[0, 0])
    low = cpu_tree(tmp_path / "after", current=[1_000_000, 1_200_000], throttles=[0, 3])
    states = iter([machine.cpu_state(base), machine.cpu_state(low)])
    probe = trust.Probe(load_average=lambda: (6.5, 3.0, 2.0), cores=lambda: 4, cpu_state=lambda: next(states))
    options = R.BenchOptions(device="cpu", warmup=1, runs=6, min_time=0.0)
    report = R.run_bench(built, options, target=fake_target([0.010, 0.010, 0.010, 0.010, 0.030, 0.030]),
                         notes=["an earlier note"], probe=probe)
    assert report.environment.load_average == [6.5, 3.0, 2.0]
    notes = report.notes
    assert notes[0] == "an earlier note"
    warned = [n for n in notes if trust.is_warning(n)]
    assert notes[1:] == warned  # the warnings end the notes
    assert "batch 1: the runs spread widely (p90/p10 3.00" in warned[0]
    assert "mean 16.67 ms and median 10 ms are 67% apart" in warned[1]
    assert "load average was 6.50 before the runs, above the 4 cores" in warned[2]
    assert "thermally throttled during the runs (3 throttle events" in warned[3]
    assert "the fastest CPU (cpu1) ran at 1.20 GHz, 40% of its 3.00 GHz" in warned[4]
    assert len(warned) == 5


def test_bench_steady_on_a_quiet_machine_has_no_warning(built, tmp_path, monkeypatch):
    monkeypatch.setattr(trust, "assess", real_assess)
    state = machine.cpu_state(cpu_tree(tmp_path, current=[3_000_000]))
    probe = trust.Probe(load_average=lambda: (0.2, 0.1, 0.1), cores=lambda: 4, cpu_state=lambda: state)
    options = R.BenchOptions(device="cpu", warmup=0, runs=5, min_time=0.0)
    report = R.run_bench(built, options, target=fake_target([0.010, 0.0101, 0.0099, 0.010, 0.0102]), probe=probe)
    assert report.notes == []


def test_bench_cli_prints_the_warnings_on_stderr_and_keeps_them_in_the_notes(monkeypatch, tmp_path):
    monkeypatch.setenv("ARCHSCOPE_DEVICE_FILE", str(tmp_path / "none.yaml"))
    line = trust.PREFIX + "batch 1: the runs spread widely (fake)"
    monkeypatch.setattr(trust, "assess", lambda *a, **k: [line])
    result = runner.invoke(app, ["bench", SAMPLE, "--imgsz", "32", "--runs", "2", "--warmup", "0", "--device", "cpu",
                                 "-f", "json"])
    assert result.exit_code == 0, result.output
    assert result.stderr == f"archscope: warning: {line}\n"
    assert json.loads(result.stdout)["notes"][-1] == line


# ---------------------------------------------------------------------------------------------- progress


def test_progress_callbacks_follow_every_warm_up_call_and_every_run():
    seen = []
    options = R.BenchOptions(warmup=3, runs=4, min_time=0.0)
    calls = []
    stopwatch = ScriptedStopwatch([0.01] * 4)
    samples = R.time_forward(lambda: calls.append("forward"), stopwatch, options,
                             progress=lambda *a: seen.append(a), label="batch 1")
    assert len(samples) == 4 and len(calls) == 7
    assert seen == [("batch 1: warm-up", 0, 3), ("batch 1: warm-up", 1, 3), ("batch 1: warm-up", 2, 3),
                    ("batch 1: warm-up", 3, 3), ("batch 1: timing", 1, 4), ("batch 1: timing", 2, 4),
                    ("batch 1: timing", 3, 4), ("batch 1: timing", 4, 4)]


def test_warm_up_reports_after_each_call_and_synchronises_once_at_the_end():
    log = []
    timing.warm_up(lambda: log.append("fn"), lambda: log.append("sync"), 3, on_call=lambda d: log.append(d))
    assert log == ["fn", 1, "fn", 2, "fn", "sync", 3]
    log.clear()
    timing.warm_up(lambda: log.append("fn"), lambda: log.append("sync"), 0, on_call=lambda d: log.append(d))
    assert log == ["sync"]


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def draws(buffer: io.StringIO) -> list[str]:
    """The frames the bar drew: each redraw ends by hiding/moving the cursor; split the text at carriage returns."""
    return [frame for frame in buffer.getvalue().replace("\x1b[2K", "\n").split("\n") if "/" in frame]


def test_the_bar_redraws_during_warm_up_and_sampling():
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100, color_system=None)
    clock = FakeClock()
    with progress_bar(enabled=True, console=console, clock=clock) as update:
        assert update is not None
        for phase, done, total in [("batch 1: warm-up", 0, 3), ("batch 1: warm-up", 1, 3), ("batch 1: warm-up", 2, 3),
                                   ("batch 1: warm-up", 3, 3), ("batch 1: timing", 1, 4), ("batch 1: timing", 2, 4)]:
            clock.now += 2.0  # each call takes two seconds: every update is past the 0.1 s throttle
            update(phase, done, total)
    frames = draws(buffer)
    for expected in ("warm-up", "1/3", "2/3", "3/3", "timing", "1/4", "2/4"):
        assert any(expected in f for f in frames), (expected, frames)
    assert not any("0/3" in f and "1/3" in f for f in frames)  # one line, redrawn in place


def test_the_bar_throttles_redraws_but_never_misses_a_phase_or_an_end():
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100, color_system=None)
    clock = FakeClock()  # never advances: only phase changes and ends may draw
    with progress_bar(enabled=True, console=console, clock=clock) as update:
        assert update is not None
        update("batch 1: timing", 1, 50)
        for done in range(2, 50):
            update("batch 1: timing", done, 50)
        middle = buffer.getvalue()
        update("batch 1: timing", 50, 50)
        end = buffer.getvalue()
    assert "1/50" in middle and "25/50" not in middle
    assert "50/50" in end[len(middle):]


def test_a_phase_of_unknown_length_shows_no_stale_total():
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100, color_system=None)
    with progress_bar(enabled=True, console=console, clock=FakeClock()) as update:
        assert update is not None
        update("batch 1: timing", 3, 3)
        start = len(buffer.getvalue())
        update("making the weights", 0, None)
        frame = buffer.getvalue()[start:]
    assert "making the weights" in frame and "0/?" in frame and "0/3" not in frame


def test_no_bar_off_a_terminal():
    console = Console(file=io.StringIO(), force_terminal=False)
    with progress_bar(console=console) as update:
        assert update is None


# --------------------------------------------------------------------------------------------- compare --bench


def test_compare_bench_takes_the_bench_options_and_reports_progress_and_warnings(monkeypatch, tmp_path):
    seen = []

    class Timed:
        median_ms, layers = 3.0, []

    class Result:
        batches = [Timed()]
        environment = type("E", (), {"device": "cpu"})()
        notes = ["pred ms is for the generic preset", trust.PREFIX + "batch 1: the runs spread widely (fake)"]

    def bench(path, **kwargs):
        seen.append(kwargs)
        if "progress" in kwargs:  # only where a bar is shown (never off a terminal)
            kwargs["progress"]("batch 1: warm-up", 1, 2)
        return Result()

    monkeypatch.setattr(api, "bench", bench)
    phases = []
    c = api.compare([SAMPLE, SAMPLE + ":s"], imgsz=32, bench=True, bench_device="cpu", threads=1, warmup=2, runs=5,
                    min_time=0.5, progress=lambda *a: phases.append(a))
    assert [(k["threads"], k["warmup"], k["runs"], k["min_time"], k["device"]) for k in seen] == \
        [(1, 2, 5, 0.5, "cpu")] * 2
    assert phases == [("tiny-detector.yaml: batch 1: warm-up", 1, 2), ("tiny-detector.yaml:s: batch 1: warm-up", 1, 2)]
    assert c.notes[-2:] == [f"{SAMPLE}: {Result.notes[1]}", f"{SAMPLE}:s: {Result.notes[1]}"]

    seen.clear()
    result = runner.invoke(app, ["compare", SAMPLE, SAMPLE + ":s", "--imgsz", "32", "--bench", "--device", "cpu",
                                 "--threads", "2", "--runs", "4", "--warmup", "1", "--min-time", "0.25"])
    assert result.exit_code == 0, result.output
    assert [(k["threads"], k["warmup"], k["runs"], k["min_time"], k["device"]) for k in seen] == \
        [(2, 1, 4, 0.25, "cpu")] * 2
    assert result.stderr.count("archscope: warning: ") == 2 and "unreliable timing" in result.stderr
    assert "progress" not in seen[0]  # off a terminal: no bar


# --------------------------------------------------------------------------------------------- calibrate


def test_calibrate_spread_warning_on_the_issues_three_runs():
    (line,) = cal.spread_warnings({"fp32": [12.3e9, 11.5e9, 40.5e9], "bandwidth": [10e9, 10.5e9, 9.8e9]})
    assert line.startswith("calibrate's 3 fp32 measurements disagree: 12.3 / 11.5 / 40.5 GFLOP/s (spread 236% of "
                           "the median, limit 20%)")


class ChangingDevice:
    """A queued device (time moves on synchronize) that slows to a third of its speed after ``fast`` matmuls:
    throttling. At 64x64 in a 1 s share, calibrate makes one warm-up call, then 3 repeats of 3 trials x 1000 calls
    (``_plan``'s cap): the first repeat runs fast, the other two slow."""

    def __init__(self, fast=1 + 3 * 1000):
        self.now, self.pending, self.calls, self.fast = 0.0, 0.0, 0, fast

    def rate(self):
        return 3.0e11 if self.calls <= self.fast else 1.0e11

    def clock(self):
        return self.now

    def synchronize(self):
        self.now, self.pending = self.now + self.pending, 0.0

    def install(self, monkeypatch):
        import torch

        def mm(a, b):
            self.calls += 1
            self.pending += 2 * a.shape[0] ** 3 / self.rate()
            return a

        def copy_(dst, src, *args, **kwargs):
            self.pending += 2 * src.numel() * 4 / 4.0e10
            return dst

        monkeypatch.setattr(torch, "mm", mm)
        monkeypatch.setattr(torch.Tensor, "copy_", copy_)


def test_calibrate_repeats_and_warns_when_the_repeats_disagree(monkeypatch):
    dev = ChangingDevice()
    dev.install(monkeypatch)
    result = cal.measure("cpu", dtypes=("fp32",), seconds=2.0, matmul_size=64, stream_bytes=1 << 16,
                         backend=cal.Backend("cpu", dev.synchronize), clock=dev.clock)
    fp32 = result.repeats["fp32"]
    assert fp32 == pytest.approx([3.0e11, 1.0e11, 1.0e11])
    assert result.spec.peak_flops["fp32"] == pytest.approx(1.0e11)  # the median
    assert result.repeats["bandwidth"] == pytest.approx([4.0e10] * 3)
    (line,) = result.warnings
    assert "3 fp32 measurements disagree" in line and "bandwidth" not in line
    assert "median of 3" in result.spec.source and "Warning: calibrate's 3 fp32" in result.spec.notes


def test_calibrate_steady_device_has_no_warning(monkeypatch):
    dev = ChangingDevice()
    dev.rate = lambda: 2.0e11  # type: ignore[method-assign]
    dev.install(monkeypatch)
    result = cal.measure("cpu", dtypes=("fp32",), seconds=2.0, matmul_size=64, stream_bytes=1 << 16,
                         backend=cal.Backend("cpu", dev.synchronize), clock=dev.clock, repeats=4)
    assert result.repeats["fp32"] == pytest.approx([2.0e11] * 4) and result.warnings == []
    assert result.spread("fp32") == pytest.approx(0.0, abs=1e-9)

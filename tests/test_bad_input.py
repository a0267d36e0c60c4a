"""The regression corpus of issue 16 ("Bad input, fuzzed"): every case a mutation fuzzer and hand cases found, each
exit 2 with one line in archscope's own words (or, for Ctrl-C, "archscope: interrupted" and exit 130); limits that
refuse before time or memory runs out; regular files only, in and out; strict JSON; NaN baselines refused; user
block files that exit or raise reported as theirs."""

from __future__ import annotations

import json
import math
import os
import signal
import stat
import subprocess
import sys
import time

import pytest
from fuzz_support import SEED_DETECT, assert_clean, finite_json, invoke

from archscope.errors import ArchscopeError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write(tmp_path, text, name="model.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _refused(args, *fragments, seconds=30.0, own_words=True):
    start = time.perf_counter()
    result = invoke(args)
    took = time.perf_counter() - start
    assert result.exit_code == 2, result.output
    assert_clean(result, args, own_words=own_words)
    for fragment in fragments:
        assert fragment in result.output, (fragment, result.output)
    assert took < seconds, f"refused only after {took:.1f} s"
    return result.output


def _with(old, new, text=SEED_DETECT):
    assert old in text
    return text.replace(old, new, 1)


# (case, model text, fragments the one line must hold)
YAML_CASES = [
    ("recursive alias", "a: &a [1, *a]\nbackbone: *a\n", ["recursive YAML alias"]),
    ("recursive mapping alias", "a: &m {b: *m}\nbackbone: [[-1, 1, Conv, [8]]]\n", ["recursive YAML alias"]),
    ("alias bomb", "a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,"
     "*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
     "f: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\nbackbone: []\n",
     ["more than 200000 nodes"]),
    ("nesting 500 deep", "backbone: " + "[" * 500 + "]" * 500 + "\n", ["nests"]),
    ("nesting 60 deep in args", _with("[32, 3, 2]", "[32, " + "[" * 60 + "]" * 60 + "]"), ["nests more than 50"]),
    ("5,000-digit int", _with("nc: 4", "nc: " + "7" * 5000), ["integer of 5000 digits", ":1"]),
    ("400-digit repeat count", _with("[-1, 2, C2f", "[-1, " + "9" * 400 + ", C2f"), ["integer of 400 digits", ":7"]),
    ("25-digit channel count", _with("[32, 3, 2]", "[" + "1" * 25 + ", 3, 2]"), ["integer of 25 digits"]),
    (".inf in scales", _with("[0.5, 0.25, 256]", "[.inf, 0.25, 256]"), ["scale 'n'", "finite"]),
    (".inf max_channels", _with("[0.5, 0.25, 256]", "[0.5, 0.25, .inf]"), ["scale 'n'", "finite"]),
    (".nan width", _with("[0.5, 0.25, 256]", "[0.5, .nan, 256]"), ["scale 'n'"]),
    ("huge width", _with("[0.5, 0.25, 256]", "[0.5, 1.0e+9, 256]"), ["over archscope's limits"]),
    ("mapping as the scale name", "scale: {a: 1}\n" + SEED_DETECT, ["'scale' must be a scale name"]),
    ("mapping as a scale key", _with("  n: [0.5", "  ? {a: 1}\n  : [0.5"), ["mapping keys must be plain scalars"]),
    ("list as the scale name", "scale: [n]\n" + SEED_DETECT, ["'scale' must be a scale name"]),
    ("tagged float 'abc'", _with("[32, 3, 2]", '[!!float "abc", 3, 2]'), ["'abc' is not a valid YAML float", ":6"]),
    ("tagged int 'x'", _with("nc: 4", 'nc: !!int "x"'), ["not a valid YAML int"]),
    ("python tag", _with("nc: 4", "nc: !!python/object/apply:os.system ['echo hi']"), ["is not allowed"]),
    ("nn.PReLU(-1)", "activation: nn.PReLU(-1)\n" + SEED_DETECT, ["activation 'nn.PReLU(-1)'"]),
    ("nn.PReLU(num_parameters=6e8)", "activation: nn.PReLU(num_parameters=6e8)\n" + SEED_DETECT, ["activation"]),
    ("nn.PReLU(num_parameters=100000)", "activation: nn.PReLU(num_parameters=100000)\n" + SEED_DETECT,
     ["100000 parameters"]),
    ("nn.PReLU(num_parameters=600000000)", "activation: nn.PReLU(num_parameters=600000000)\n" + SEED_DETECT,
     ["plain finite numbers"]),
    ("nn.LeakyReLU('x')", "activation: nn.LeakyReLU('x')\n" + SEED_DETECT, ["plain finite numbers"]),
    ("repeats: 1e30", _with("[-1, 2, C2f", "[-1, 1e30, C2f"), ["repeats must be a positive integer"]),
    ("repeats: 1.0e+30", _with("[-1, 2, C2f", "[-1, 1.0e+30, C2f"), ["repeats must be a positive integer"]),
    ("repeats: 100000", _with("[-1, 2, C2f", "[-1, 100000, C2f"), ["over archscope's limit of 1000"]),
    ("n: 100000 after depth", _with("[0.5, 0.25, 256]", "[100, 0.25, 256]").replace("[-1, 2, C2f", "[-1, 1000, C2f"),
     ["make 100000", "limit of 1000"]),
    ("n: 100000 as an argument", _with("[-1, 1, SPPF, [64, 5]]", "[-1, 1, RepNCSPELAN4, [64, 64, 32, 100000]]"),
     ["limit of 40000 modules"]),
    ("channels 10^7", "backbone:\n  - [-1, 1, Conv, [10000000, 3, 2]]\n", ["output channels is over"]),
    ("6,000 layers", "backbone:\n" + "  - [-1, 1, Conv, [8, 3, 1]]\n" * 6000, ["more than 5000 layers"]),
    ("nc 10^9", _with("nc: 4", "nc: 1000000000"), ["'nc' 1000000000 is over"]),
    ("a 100,000-element list echoed", _with("[-1, 1, Conv, [64, 3, 2]]",
                                            "[-1, 1, Conv, [" + ", ".join(["1"] * 100_000) + "]]"), ["Conv"]),
    ("a huge row echoed", _with("  - [-1, 1, Conv, [32, 3, 2]]", "  - [" + ", ".join(["1"] * 50_000) + "]"),
     ["each backbone row must be"]),
    ("conv2d on a list", _with("[-1, 1, SPPF, [64, 5]]", "[-1, 1, SPPF, [64, [5, 5]]]"), ["SPPF"]),
    ("too many positional args", _with("[[-1, 1], 1, Concat, [1]]", "[[-1, 1], 1, Concat, [1, 2, 3]]"), ["Concat"]),
    ("from out of range", _with("[[-1, 1], 1, Concat, [1]]", "[[-1, 99], 1, Concat, [1]]"), ["'from' 99"]),
    ("kpt_shape junk", "kpt_shape: [0, 'x']\n" + SEED_DETECT, ["'kpt_shape'"]),
]


@pytest.mark.parametrize("text, fragments", [c[1:] for c in YAML_CASES], ids=[c[0] for c in YAML_CASES])
def test_bad_yaml_is_one_clear_line(tmp_path, text, fragments):
    _refused(["profile", _write(tmp_path, text), "--imgsz", "64"], *fragments)


OPTION_CASES = [
    ("--batch 9223372036854775807", ["--batch", "9223372036854775807"], ["--batch", "limit of 65536"]),
    ("--batch 0", ["--batch", "0"], ["--batch must be a positive integer"]),
    ("--batch abc", ["--batch", "abc"], ["--batch", "profile --help"]),
    ("--imgsz 99999999", ["--imgsz", "99999999"], ["limit of 16384"]),
    ("--nc 10^9", ["--nc", "1000000000"], ["--nc 1000000000 is over"]),
    ("--ch 10^6", ["--ch", "1000000"], ["--ch 1000000 is over"]),
    ("unknown option", ["--nope"], ["No such option: --nope"]),
    ("--scale mapping", ["--scale", "{a: 1}"], ["unknown scale"]),
    ("--scale 500 chars", ["--scale", "n" * 500], ["unknown scale"]),
]


@pytest.mark.parametrize("options, fragments", [c[1:] for c in OPTION_CASES], ids=[c[0] for c in OPTION_CASES])
def test_bad_options_are_one_clear_line(tmp_path, options, fragments):
    _refused(["profile", _write(tmp_path, SEED_DETECT), "--imgsz", "64", *options], *fragments)


def test_the_seed_itself_profiles(tmp_path):
    """The corpus mutates a model that works: exit 0, and its JSON is strict."""
    result = invoke(["profile", _write(tmp_path, SEED_DETECT), "--imgsz", "64", "-f", "json"])
    assert result.exit_code == 0, result.output
    assert finite_json(result.output)["totals"]["params"] > 0


def test_activation_from_yaml_never_allocates(tmp_path):
    """``activation:`` is built on the meta device: a PReLU within the limit has meta parameters, not CPU memory."""
    from archscope.build.builder import _activation
    from archscope.spec.model_spec import load_spec

    spec = load_spec(_write(tmp_path, "activation: nn.PReLU(num_parameters=60000)\n" + SEED_DETECT))
    act = _activation(spec)
    assert [p.device.type for p in act.parameters()] == ["meta"]
    with pytest.raises(ArchscopeError, match="100000 parameters"):
        _activation(load_spec(_write(tmp_path, "activation: nn.PReLU(num_parameters=100000)\n" + SEED_DETECT)))


# ----------------------------------------------------------------------------------------------- files


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_profile_dev_zero_is_refused_without_reading():
    _refused(["profile", "/dev/zero"], "/dev/zero", "not a regular file", seconds=5)


def test_profile_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "model.yaml"
    os.mkfifo(fifo)
    _refused(["profile", str(fifo)], "not a regular file", seconds=5)


def test_oversized_yaml_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.yaml"
    with open(path, "wb") as handle:
        handle.truncate(3_000_000_000)  # sparse: 3 GB that would take a while to read
    _refused(["profile", str(path)], "file is 3000000000 bytes", seconds=5)


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_output_onto_a_character_device_is_refused():
    before = os.stat("/dev/null")
    _refused(["profile", "sample_configs/tiny-detector.yaml", "--imgsz", "64", "-o", "/dev/null"],
             "not a regular file")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


def test_output_onto_a_fifo_is_refused_and_the_fifo_stays(tmp_path):
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    _refused(["profile", "sample_configs/tiny-detector.yaml", "--imgsz", "64", "-o", str(fifo)], "not a regular file")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    _refused(["snapshot", "sample_configs/tiny-detector.yaml", "--imgsz", "64", "-o", str(fifo)], "not a regular file")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_report_reading_takes_regular_files_only(tmp_path):
    fifo = tmp_path / "base.json"
    os.mkfifo(fifo)
    _refused(["check", "sample_configs/tiny-detector.yaml", "--baseline", str(fifo)], "not a regular file",
             seconds=5)


# ----------------------------------------------------------------------------------------------- JSON


def test_json_written_is_strict():
    from archscope.util.jsonio import dumps_strict, loads_strict

    text = dumps_strict({"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": {"d": (math.nan,)}})
    assert json.loads(text) == {"a": None, "b": [None, None, 1.5], "c": {"d": [None]}}
    with pytest.raises(ValueError, match="NaN"):
        loads_strict('{"a": NaN}')


def _baseline(tmp_path):
    path = tmp_path / "base.json"
    result = invoke(["snapshot", "sample_configs/tiny-detector.yaml", "--imgsz", "64", "-o", str(path)])
    assert result.exit_code == 0, result.output
    return path


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_baseline_is_refused(tmp_path, constant):
    path = _baseline(tmp_path)
    data = json.loads(path.read_text())
    data["totals"]["params"] = "@"
    path.write_text(json.dumps(data).replace('"@"', constant))
    _refused(["check", "sample_configs/tiny-detector.yaml", "--baseline", str(path)], constant)


def test_nan_baseline_is_refused_by_the_gate_too(tmp_path):
    """A baseline built in Python (no JSON on the way) with a NaN figure fails loudly, not silently passes."""
    from archscope.check.gate import check_baseline
    from archscope.reports.profile import read_report

    report = read_report(str(_baseline(tmp_path)))
    import copy

    bad = copy.deepcopy(report)
    bad.totals.params = math.nan
    with pytest.raises(ArchscopeError, match="not a finite"):
        check_baseline(report, bad, 0.01, label="m")


# ----------------------------------------------------------------------------------------------- user code


@pytest.mark.parametrize("body, fragments", [
    ("import sys\nsys.exit(3)\n", ["sys.exit(3)", "importing it failed"]),
    ("raise SystemExit\n", ["sys.exit(None)"]),
    ("raise ValueError('mine')\n", ["ValueError: mine"]),
    ("import os\nos.environ['X'] = '1'\n1 / 0\n", ["ZeroDivisionError"]),
])
def test_blocks_file_that_exits_or_raises_is_reported_as_theirs(tmp_path, body, fragments):
    blocks = tmp_path / "exit_blocks.py"
    blocks.write_text(body)
    _refused(["profile", "sample_configs/tiny-detector.yaml", "--blocks", str(blocks)], str(blocks), *fragments,
             own_words=False)  # the user's exception is theirs, quoted as such


def test_user_block_that_exits_while_built_is_reported_as_theirs(tmp_path):
    blocks = tmp_path / "builder_blocks.py"
    blocks.write_text("import sys\nfrom torch import nn\n\n\nclass Quitter(nn.Module):\n"
                      "    def __init__(self, c1, c2):\n        super().__init__()\n        sys.exit(4)\n")
    model = _write(tmp_path, "backbone:\n  - [-1, 1, Quitter, [8]]\n")
    _refused(["profile", model, "--blocks", str(blocks)], "your block Quitter", "sys.exit(4)")


# ----------------------------------------------------------------------------------------------- interrupts


@pytest.mark.parametrize("delay", [0.3, 0.6, 1.2, 2.5])
def test_sigint_at_any_moment_is_one_line(delay):
    """Ctrl-C while Python imports archscope and torch, or while it builds: "archscope: interrupted", exit 130.
    (The first delays land in the imports on this machine; Python's own start-up, before any archscope code
    runs, cannot be guarded by archscope.)"""
    env = {**os.environ, "PYTHONPATH": ROOT}
    env.pop("ARCHSCOPE_DEBUG", None)
    proc = subprocess.Popen([sys.executable, "-m", "archscope", "profile", "sample_configs/tiny-detector.yaml",
                             "--real"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    if proc.returncode == 0:  # finished before the signal came
        return
    assert "Traceback" not in err, err
    assert err.strip().splitlines() == ["archscope: interrupted"], err
    # 130, or killed by SIGINT itself (what a shell also shows as 130): never 1, never a traceback
    assert proc.returncode in (130, -signal.SIGINT), (proc.returncode, err)

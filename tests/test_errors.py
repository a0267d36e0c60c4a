"""The error contract (DESIGN.md, "Errors"): one clear line naming file, YAML line and layer; exit code 2; no
traceback; nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from archscope.cli.app import app

runner = CliRunner()

GOOD = """\
nc: 10
backbone:
  - [-1, 1, Conv, [16, 3, 2]]
  - [-1, 1, Conv, [32, 3, 2]]
head:
  - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
  - [[-1, 0], 1, Concat, [1]]
"""


def write(tmp_path, text, name="model.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def run_cli(*args):
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def assert_input_error(args, *fragments):
    code, out = run_cli(*args)
    assert code == 2, out
    assert "Traceback" not in out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    for fragment in fragments:
        assert fragment in out, (fragment, out)
    return out


def test_good_model_profiles(tmp_path):
    code, out = run_cli("profile", write(tmp_path, GOOD), "--imgsz", "64x96")
    assert code == 0, out
    assert "1x48x32x48" in out  # Concat of the upsampled layer 1 (32 ch) and layer 0 (16 ch) at stride 2


def test_malformed_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "backbone:\n  - [-1, 1, Conv, [64, 3, 2]\n")
    assert_input_error(["profile", path], path, "malformed YAML", ":3")


def test_missing_backbone(tmp_path):
    path = write(tmp_path, "nc: 3\nhead: []\n")
    assert_input_error(["profile", path], path, "missing required key 'backbone'")


def test_unknown_module_suggests_the_close_name(tmp_path):
    path = write(tmp_path, GOOD.replace("[32, 3, 2]]", "[32, 3, 2]]\n  - [-1, 1, C2F, [32]]"))
    out = assert_input_error(["profile", path], f"{path}:5", "layer 2 (C2F)", "did you mean 'C2f'")
    assert "unknown module" in out


def test_unregistered_python_name_is_not_imported(tmp_path):
    path = write(tmp_path, GOOD.replace("Conv, [32, 3, 2]", "os.system, ['echo hacked']"))
    out = assert_input_error(["profile", path], f"{path}:4", "layer 1", "unknown module 'os.system'")
    assert "hacked" not in out.replace("'echo hacked'", "")


@pytest.mark.parametrize(
    "row, fragment",
    [
        ("[-1, 1, Conv, ['sixteen', 3, 2]]", "channel count must be an integer"),
        ("[-1, 1, Conv, [16, 3, 2, 1, 1, 1, 1, 1, 1, 1]]", "too many arguments for Conv("),
        ("[-1, 1, Conv, [0, 3, 2]]", "must be positive"),
        ("[-1, 0, Conv, [16, 3, 2]]", "repeats must be a positive integer"),
        ("[-1, 1, Conv, []]", "needs its output channels"),
    ],
)
def test_wrong_arguments_name_layer_and_line(tmp_path, row, fragment):
    path = write(tmp_path, GOOD.replace("[-1, 1, Conv, [32, 3, 2]]", row))
    assert_input_error(["profile", path], f"{path}:4", "layer 1", fragment)


@pytest.mark.parametrize("frm, fragment", [("3", "points forward"), ("-5", "points before")])
def test_from_out_of_range(tmp_path, frm, fragment):
    path = write(tmp_path, GOOD.replace("[[-1, 0], 1, Concat", f"[[-1, {frm}], 1, Concat"))
    assert_input_error(["profile", path], f"{path}:7", "layer 3 (Concat)", fragment)


def test_concat_of_mismatched_sizes(tmp_path):
    path = write(tmp_path, GOOD.replace("[[-1, 0], 1, Concat", "[[1, 0], 1, Concat"))
    out = assert_input_error(["profile", path, "--imgsz", "64"], f"{path}:7", "layer 3 (Concat)")
    assert "1x32x16x16" in out.replace("[1, 32, 16, 16]", "1x32x16x16")


def test_imgsz_not_divisible_by_max_stride(tmp_path):
    assert_input_error(["profile", write(tmp_path, GOOD), "--imgsz", "66"], "not divisible by the model's max stride 4")


@pytest.mark.parametrize("option, value", [("--batch", "0"), ("--ch", "0"), ("--imgsz", "0"), ("--nc", "-3"),
                                           ("--imgsz", "64xabc"), ("--depth", "-1")])
def test_non_positive_options(tmp_path, option, value):
    assert_input_error(["profile", write(tmp_path, GOOD), option, value], option)


def test_missing_file():
    assert_input_error(["profile", "no/such/model.yaml"], "no/such/model.yaml", "no such file")


def test_empty_file(tmp_path):
    assert_input_error(["profile", write(tmp_path, "")], "file is empty")


def test_directory(tmp_path):
    assert_input_error(["profile", str(tmp_path)], "is a directory")


def test_binary_file(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"PK\x03\x04\x00\x00binary")
    assert_input_error(["profile", str(path)], "binary file")
    checkpoint = tmp_path / "weights.pt"  # a .pt is read as a trained checkpoint (archscope.spec.checkpoint)
    checkpoint.write_bytes(b"PK\x03\x04\x00\x00binary")
    assert_input_error(["profile", str(checkpoint)], "not a checkpoint")


def test_yaml_that_is_not_a_mapping(tmp_path):
    assert_input_error(["profile", write(tmp_path, "- 1\n- 2\n")], "must be a mapping")


def test_python_tags_are_refused(tmp_path):
    path = write(tmp_path, "nc: !!python/object/apply:os.system ['echo hacked']\nbackbone: []\n")
    assert_input_error(["profile", path], f"{path}:1", "tag", "not allowed")


def test_alias_bomb_is_refused(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 9):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        bomb += f"{cur}: &{cur} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
    assert_input_error(["profile", write(tmp_path, bomb + "backbone: []\n")], "alias bomb")


def test_unknown_scale(tmp_path):
    path = write(tmp_path, "scales:\n  n: [0.33, 0.25, 1024]\n" + GOOD)
    assert_input_error(["profile", path, "--scale", "q"], "unknown scale 'q'", "n")


def test_bad_activation_is_not_evaluated(tmp_path):
    path = write(tmp_path, "activation: __import__('os').system('echo hacked')\n" + GOOD)
    assert_input_error(["profile", path], "activation", "not an allowed")


@pytest.mark.parametrize("target", ["missing-dir/out.json", "."])
def test_unwritable_output_writes_nothing(tmp_path, target):
    model = write(tmp_path, GOOD)
    out_path = str(tmp_path / target)
    before = set(os.listdir(tmp_path))
    assert_input_error(["profile", model, "-o", out_path], "cannot write output")
    assert set(os.listdir(tmp_path)) == before


def test_failed_run_leaves_no_output_file(tmp_path):
    broken = write(tmp_path, GOOD.replace("Conv, [32", "Conv, [0"))
    out_path = tmp_path / "report.json"
    assert_input_error(["profile", broken, "-o", str(out_path)], "must be positive")
    assert not out_path.exists()


def test_real_entry_point_prints_no_traceback(tmp_path):
    """The installed console script, not just the in-process runner: stderr one line, exit 2."""
    path = write(tmp_path, "backbone:\n  - [-1, 1, Conv, [64, 3, 2]\n")
    done = subprocess.run([sys.executable, "-m", "archscope", "profile", path], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("archscope: error: ") and ":3: malformed YAML" in done.stderr


def test_stride_error_names_the_true_max_stride(tmp_path):
    """At 100 px this stride-32 model breaks at a stride-4 Concat: the message must still say 32, not 8."""
    model = """\
    backbone:
      - [-1, 1, Conv, [8, 3, 2]]
      - [-1, 1, Conv, [8, 3, 2]]
      - [-1, 1, Conv, [8, 3, 2]]
      - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
      - [[-1, 1], 1, Concat, [1]]
      - [-1, 1, Conv, [8, 3, 2]]
      - [-1, 1, Conv, [8, 3, 2]]
      - [-1, 1, Conv, [8, 3, 2]]
    """
    assert_input_error(["profile", write(tmp_path, model), "--imgsz", "100"], "max stride 32", "try --imgsz 96x96")


def test_a_huge_message_is_one_line_of_at_most_400_characters_prefix_included():
    """A message that echoes a 3,001-argument row back (found by the fuzz test) is cut in the middle so that the
    whole printed line, 'archscope: error: ' included, stays within the 400 characters every error line keeps."""
    from archscope.cli.common import MAX_MESSAGE, one_error_line

    message = "m.yaml:51: layer 7 (Detect): Detect takes at most 1 arguments, got 3001: [" + "4, " * 3000 + "4]"
    line = one_error_line(message)
    assert MAX_MESSAGE == 400 and len(line) == 400 and "\n" not in line
    assert line.startswith("archscope: error: m.yaml:51: layer 7 (Detect)") and line.endswith("4, 4]")
    assert one_error_line("short") == "archscope: error: short"

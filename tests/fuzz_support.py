"""Shared by the bad-input tests: small seed models written for these tests (no Ultralytics YAML is shipped), and
the one assertion every bad input must pass: exit 0, or exit 2 with one line in archscope's own words."""

from __future__ import annotations

import json
import math

from typer.testing import CliRunner

from archscope.cli.app import app

# A detector in the Ultralytics package layout, with scales (written for these tests).
SEED_DETECT = """\
nc: 4
scales:
  n: [0.5, 0.25, 256]
  s: [0.5, 0.5, 512]
backbone:
  - [-1, 1, Conv, [32, 3, 2]]
  - [-1, 2, C2f, [64, True]]
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, SPPF, [64, 5]]
head:
  - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
  - [[-1, 1], 1, Concat, [1]]
  - [-1, 1, C3k2, [32, False]]
  - [[6, 3], 1, Detect, [nc]]
"""

# The YOLOv5 repository's layout: depth/width multiples and anchors (written for these tests).
SEED_V5 = """\
nc: 3
depth_multiple: 0.33
width_multiple: 0.25
anchors:
  - [10, 13, 16, 30, 33, 23]
  - [30, 61, 62, 45, 59, 119]
backbone:
  - [-1, 1, Conv, [64, 6, 2, 2]]
  - [-1, 1, Conv, [128, 3, 2]]
  - [-1, 3, C3, [128]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [-1, 1, SPPF, [256, 5]]
head:
  - [-1, 1, Conv, [128, 1, 1]]
  - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
  - [[-1, 2], 1, Concat, [1]]
  - [-1, 1, C3, [128, False]]
  - [[8, 4], 1, Detect, [nc, anchors]]
"""

# A classifier with an attention block and an activation (written for these tests).
SEED_CLS = """\
nc: 10
activation: nn.LeakyReLU(0.1)
scales:
  t: [0.33, 0.25, 128]
backbone:
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, Conv, [128, 3, 2]]
  - [-1, 2, C2PSA, [128]]
head:
  - [-1, 1, Classify, [nc]]
"""

SEEDS = (SEED_DETECT, SEED_V5, SEED_CLS)

# Python's and torch's words: none may reach the user on exit 2.
FOREIGN = (
    "Traceback", "internal error", "received an invalid combination", "positional argument", "keyword argument",
    "list index out of range", "input None", "object has no attribute", "object is not", "unsupported operand",
    "NoneType", "Error:", "Exception", "torch._", "aten::", "C++", "not subscriptable", "unhashable",
    "Exceeds the limit", "could not convert", "invalid literal", "maximum recursion", "Aborted",
)
MAX_LINE = 400

runner = CliRunner()


def invoke(args: list[str]):
    return runner.invoke(app, args)


def assert_clean(result, args, *, own_words: bool = True) -> None:
    """Exit 0, or exit 2 with exactly one line of at most MAX_LINE characters in archscope's own words (with
    ``own_words=False``: a user's blocks file failed, and its exception is quoted as theirs)."""
    shown = f"{args!r}\n{result.output[-2000:]}"
    assert result.exit_code in (0, 2), shown
    if result.exit_code == 0:
        if "json" in args:  # strict JSON: no NaN / Infinity anywhere
            json.loads(result.output, parse_constant=lambda c: (_ for _ in ()).throw(AssertionError(c)))
        return
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, shown
    line = lines[0]
    assert line.startswith("archscope: error: "), shown
    assert len(line) <= MAX_LINE, shown
    for word in FOREIGN if own_words else ("Traceback", "internal error"):
        assert word not in line, (word, shown)


def finite_json(text: str) -> object:
    """Parse JSON that must be strict (no NaN, no Infinity)."""

    def refuse(constant: str) -> float:
        raise AssertionError(f"{constant} in JSON output")

    data = json.loads(text, parse_constant=refuse)
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in _walk(data))
    return data


def _walk(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)
    else:
        yield value

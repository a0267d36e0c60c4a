"""Unknown module names (issue 13, point 5): one message lists every unknown name of the file with its YAML line
and layer, offers a "did you mean" only for a close spelling (never another block of a similar name), names the two
ways out (--blocks, --builder), and is one line, exit 2, in archscope's own words."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import archscope
from archscope.build.catalog import default_registry
from archscope.cli.app import app
from archscope.errors import ArchscopeError
from archscope.util.text import close_spellings
from fuzz_support import FOREIGN, MAX_LINE

runner = CliRunner()


@pytest.fixture(autouse=True)
def _short_paths(tmp_path, monkeypatch):
    """Run in tmp_path so that the file is named as a user names it (the path is part of the one line)."""
    monkeypatch.chdir(tmp_path)

# rows 3.. of the file; the comment on each row is its YAML line and layer index
MANY = """\
nc: 80
backbone:
  - [-1, 1, Conv, [16, 3, 2]]       # line 3, layer 0
  - [-1, 1, c2f, [16]]              # line 4, layer 1: a case slip of C2f
  - [-1, 1, MyAttention, [16]]      # line 5, layer 2: nothing like it
  - [-1, 1, SPPF_, [16, 5]]         # line 6, layer 3: SPPF with a stray underscore
  - [-1, 1, MyAttention, [16]]      # line 7, layer 4: the same unknown name again
head:
  - [-1, 1, DDetect, [nc]]          # line 9, layer 5: YOLOv9's head, not a misspelt Detect
"""


def _error(path) -> str:
    result = runner.invoke(app, ["profile", str(path)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    line = lines[0]
    assert line.startswith("archscope: error: ") and len(line) <= MAX_LINE, line
    for word in FOREIGN:
        assert word not in line, (word, line)
    return line


def test_every_unknown_name_is_listed_once_with_line_layer_and_the_ways_out(tmp_path):
    path = "many.yaml"
    Path(path).write_text(MANY)
    line = _error(path)
    assert f"{path}: 4 unknown modules in 5 rows: " in line
    assert "'c2f' (line 4, layer 1; did you mean 'C2f'?)" in line
    assert "'MyAttention' (line 5, layer 2; line 7, layer 4)" in line
    assert "'SPPF_' (line 6, layer 3; did you mean 'SPPF'?)" in line
    assert "'DDetect' (line 9, layer 5; a block of YOLOv9, built for files in its dialect (with 'anchors:'))" in line
    assert "'Detect'" not in line
    assert "--blocks my_blocks.py" in line and "--builder ultralytics" in line
    # in the order of the file
    assert line.index("'c2f'") < line.index("'MyAttention'") < line.index("'SPPF_'") < line.index("'DDetect'")


def test_the_python_api_raises_the_same_located_error(tmp_path):
    path = "many.yaml"
    Path(path).write_text(MANY)
    with pytest.raises(ArchscopeError) as caught:
        archscope.profile(str(path))
    text = str(caught.value)
    assert caught.value.file == str(path)
    for name in ("'c2f'", "'MyAttention'", "'SPPF_'", "'DDetect'"):
        assert name in text
    assert "\n" not in text and "Traceback" not in text


def test_one_unknown_name_keeps_the_located_form(tmp_path):
    path = "one.yaml"
    Path(path).write_text("nc: 1\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\n  - [-1, 1, C2F, [16]]\nhead: []\n")
    line = _error(path)
    assert f"{path}:4: layer 1 (C2F): unknown module 'C2F' (did you mean 'C2f'?)" in line
    assert "--blocks my_blocks.py" in line and "--builder ultralytics" in line


def test_nothing_is_built_before_the_names_are_checked(tmp_path):
    # the unknown name comes after a row whose arguments are wrong: the names are reported first, all of them
    path = "order.yaml"
    Path(path).write_text("nc: 1\nbackbone:\n  - [-1, 1, Conv, [0, 3, 2]]\n  - [-1, 1, Nope1, []]\n  - [-1, 1, Nope2, []]\n"
                    "head: []\n")
    line = _error(path)
    assert "2 unknown modules: 'Nope1' (line 4, layer 1), 'Nope2' (line 5, layer 2)" in line


def test_many_unknown_names_still_fit_one_line_and_all_are_named(tmp_path):
    rows = "".join(f"  - [-1, 1, CustomBlockNumber{i}, [16]]\n" for i in range(9))
    path = "long.yaml"
    Path(path).write_text("nc: 1\nbackbone:\n" + rows + "head: []\n")
    line = _error(path)
    assert "9 unknown modules" in line
    for i in range(9):
        assert f"'CustomBlockNumber{i}'" in line  # every name, with less detail when the full form is too long
    assert "--builder ultralytics" in line


def test_a_huge_file_of_unknown_names_says_how_many_it_left_out(tmp_path):
    rows = "".join(f"  - [-1, 1, Unknown{i}, [16]]\n" for i in range(200))
    path = "huge.yaml"
    Path(path).write_text("nc: 1\nbackbone:\n" + rows + "head: []\n")
    line = _error(path)
    assert "200 unknown modules" in line and "more;" in line and "'Unknown0'" in line


def test_a_known_name_of_another_dialect_says_so(tmp_path):
    reg = default_registry()
    v5_only = sorted(n for s in reg.blocks() if s.dialect == "yolov5" for n in (s.name, *s.aliases)
                     if reg.find(n, "ultralytics") is None)
    if not v5_only:
        pytest.skip("every YOLOv5-repository block name also has an Ultralytics block")
    path = "dialect.yaml"
    Path(path).write_text(f"nc: 1\nbackbone:\n  - [-1, 1, {v5_only[0]}, [16]]\n  - [-1, 1, Nope, [16]]\nhead: []\n")
    line = _error(path)
    assert "YOLOv5 repository's block" in line and "'Nope' (line 4, layer 1)" in line


@pytest.mark.parametrize("word, expected", [
    ("c2f", ["C2f"]), ("C2F", ["C2f"]), ("SPPF_", ["SPPF"]), ("sppf", ["SPPF"]),
    ("Bottlenck", ["Bottleneck"]), ("Conact", ["Concat"]), ("Upsample", ["nn.Upsample"]),
    # similar names that are other blocks: never suggested
    ("C3TR", []), ("RepVGGBlock", []), ("DDetect", []), ("C2fPSA", []), ("C3k2", []), ("C4", []),
    ("SPPFCSPC", []), ("DWConv", []), ("Conv2", []), ("HGBlocks", []),
])
def test_close_spellings_are_typos_not_relatives(word, expected):
    choices = ["C2f", "C2PSA", "C3", "C3k", "SPPF", "SPPCSPC", "Bottleneck", "Concat", "nn.Upsample", "Detect",
               "HGBlock", "Conv"]
    assert close_spellings(word, choices) == expected


def test_a_case_slip_prefers_the_exact_case_insensitive_name():
    assert close_spellings("conv", ["Conv", "CONV_"]) == ["Conv"]

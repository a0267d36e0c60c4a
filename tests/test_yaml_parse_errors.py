"""A model file PyYAML cannot parse (issue 13, point 6): the one-line error says why in plain words, with the line
and the column, where PyYAML can tell: a non-breaking or other odd space, a tab, an unclosed bracket or quote, a
bracket too many, an indentation that does not line up."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from archscope.cli.app import app
from archscope.errors import ArchscopeError
from archscope.spec.model_spec import load_spec
from fuzz_support import FOREIGN, MAX_LINE

runner = CliRunner()
ROW = "[-1, 1, Conv, [16, 3, 2]]"


@pytest.mark.parametrize("text, line, fragments", [
    # copied from a web page: a non-breaking space after the '-' of a row (YAML reads "-\u00a0[...]" as a string)
    (f"nc: 1\nbackbone:\n  -\u00a0{ROW}\nhead: []\n", 3, ["column 4", "non-breaking space (U+00A0)", "plain space"]),
    (f"nc:\u00a01\nbackbone:\n  - {ROW}\nhead: []\n", 1, ["column 4", "non-breaking space (U+00A0)"]),
    (f"nc: 1\nbackbone:\n\u3000- {ROW}\nhead: []\n", 3, ["column 1", "full-width) space (U+3000)"]),
    (f"nc: 1\nbackbone:\n\t- {ROW}\nhead: []\n", 3, ["a tab at column 1", "indentation and the gaps in a row must be spaces"]),
    (f"nc: 1\nbackbone:\n  - [-1,\t1, Conv, [16]]\nhead: []\n", 3, ["a tab at column 9"]),
    (f"nc: 1\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]\n  - {ROW}\nhead: []\n", 4,
     ["the '[' opened at line 3, column 5 is not closed", "before column 3"]),
    ("nc: 1\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]\n", 4, ["'[' opened at line 3, column 5", "end of the file"]),
    ("nc: 1\nx: {a: 1, b: [2, 3}\n", 2, ["column 19 closes with '}' the '[' opened at line 2, column 14"]),
    (f"nc: 1\nname: 'tiny\nbackbone:\n  - {ROW}\n", 5, ["the quote opened at line 2, column 7 is never closed"]),
    (f'nc: 1\nbackbone:\n  - [-1, 1, "Conv, [16]]\n', 4, ["the quote opened at line 3, column 13"]),
    (f"nc: 1\nbackbone:\n  - {ROW}]\nhead: []\n", 3, ["']' at column 30 closes nothing"]),
    (f"nc: 1\nbackbone:\n  - {ROW}\n   - {ROW}\nhead: []\n", 4, ["column 4 does not line up"]),
    ("nc: 1\nbackbone: a: b\n", 2, ["a ':' at column 12 where YAML allows none"]),
])
def test_parse_errors_say_why_with_line_and_column(tmp_path, monkeypatch, text, line, fragments):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ArchscopeError) as caught:
        load_spec("m.yaml")
    assert caught.value.line == line
    message = str(caught.value)
    assert message.startswith(f"m.yaml:{line}: malformed YAML: "), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    result = runner.invoke(app, ["profile", "m.yaml"])
    assert result.exit_code == 2
    lines = [out for out in result.output.splitlines() if out.strip()]
    assert lines == [f"archscope: error: {message}"] and len(lines[0]) <= MAX_LINE
    for word in FOREIGN + ("ScannerError", "ParserError", "while scanning", "while parsing", "<stream end>"):
        assert word not in lines[0], (word, lines[0])


@pytest.mark.parametrize("text", [
    f"nc: 1  # a comment may hold a\u00a0non-breaking space\nbackbone:\n  - {ROW}\nhead: []\n",
    f"nc: 1\nname: 'a\u00a0quoted name'\nbackbone:\n  - {ROW}\nhead: []\n",
])
def test_what_yaml_accepts_still_loads(tmp_path, text):
    path = tmp_path / "ok.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_spec(str(path)).layers[0].module == "Conv"

"""A row's arguments are checked against the block's constructor before anything is built
(archscope/build/arguments.py): wrong types, too many, missing or mapping ("keyword") arguments are one located line
naming the argument by its place in the YAML row, never torch's or Python's text."""

from __future__ import annotations

import inspect
import textwrap

import pytest
from typer.testing import CliRunner

from archscope.build.arguments import _signature, _type_problem, check_arguments
from archscope.build.catalog import default_registry
from archscope.build.registry import INNER, Registry, ScaledOut, block
from archscope.cli.app import app
from archscope.errors import ArchscopeError

runner = CliRunner()

MODEL = """\
nc: 10
backbone:
  - [-1, 1, Conv, [16, 3, 2]]
  - ROW
head:
  - [-1, 1, Conv, [16, 1, 1]]
"""


def error_line(tmp_path, row: str) -> tuple[str, str]:
    path = tmp_path / "model.yaml"
    path.write_text(textwrap.dedent(MODEL).replace("ROW", row))
    result = runner.invoke(app, ["profile", str(path), "--imgsz", "64"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0], f"archscope: error: {path}:4: layer 1"


@pytest.mark.parametrize("row, message", [
    # bool is not an int; the position is the row's (c2, c3k, e, g): c1 and n are archscope's
    # Ultralytics 8.4's C3k2(c1, c2, n, c3k, e, attn, g, shortcut): the 5th YAML value is g
    ("[-1, 1, C3k2, [32, False, 0.25, False, True]]", "(C3k2): argument 5 'g' must be an int, got True"),
    ("[-1, 1, Conv, [32, 3, 2.5]]", "(Conv): argument 3 's' must be an int or a list, got 2.5"),
    ("[-1, 1, Conv, [32, None]]", "(Conv): argument 2 'k' must be an int or a list, got None"),
    ("[-1, 1, C2f, [32, 1]]", "(C2f): argument 2 'shortcut' must be True or False, got 1"),
    ("[-1, 1, C2f, [32, True, 1, 'half']]", "(C2f): argument 4 'e' must be a number, got 'half'"),
    ("[-1, 1, SPP, [32, 5]]", "(SPP): argument 2 'k' must be a list, got 5"),
    # torch.nn annotations: Upsample's mode is a str, Conv2d's groups an int and padding_mode a Literal
    ("[-1, 1, nn.Upsample, [None, 2, 5]]", "(nn.Upsample): argument 3 'mode' must be a string, got 5"),
    ("[-1, 1, nn.Upsample, [None, True]]",
     "(nn.Upsample): argument 2 'scale_factor' must be a number, a list or None, got True"),
    ("[-1, 1, nn.Conv2d, [16, 32, 3, 1, 1, 1, True]]", "(nn.Conv2d): argument 7 'groups' must be an int, got True"),
    ("[-1, 1, nn.Conv2d, [16, 32, 3, 1, 1, 1, 1, True, zero]]",
     "(nn.Conv2d): argument 9 'padding_mode' must be one of 'zeros', 'reflect', 'replicate', 'circular', got 'zero'"),
    # annotations on our blocks (RT-DETR's HGBlock: lightconv is a bool)
    ("[-1, 1, HGBlock, [16, 32, 3, 1]]", "(HGBlock): argument 4 'lightconv' must be True or False, got 1"),
])
def test_wrong_type_is_one_located_line(tmp_path, row, message):
    line, where = error_line(tmp_path, row)
    assert line == f"{where} {message}"


@pytest.mark.parametrize("row, message", [
    ("[-1, 1, C3k2, [32, False, 0.25, False, 1, True, 7]]",
     "(C3k2): too many arguments for C3k2(c2, c3k=False, e=0.5, attn=False, g=1, shortcut=True): it takes at most 6, "
     "got 7: [32, False, 0.25, False, 1, True, 7]"),
    ("[-1, 1, Conv, [32, 3, 2, None, 1, 1, True, 9]]",
     "(Conv): too many arguments for Conv(c2, k=1, s=1, p=None, g=1, d=1, act=True): it takes at most 7, got 8: "
     "[32, 3, 2, None, 1, 1, True, 9]"),
    ("[-1, 1, nn.Upsample, [None, 2, nearest, False, False, 1]]",
     "(nn.Upsample): too many arguments for nn.Upsample(size=None, scale_factor=None, mode='nearest', "
     "align_corners=None, recompute_scale_factor=None): it takes at most 5, got 6: "
     "[None, 2, 'nearest', False, False, 1]"),
    # arguments a block would ignore are refused: nn.Identity takes *args, BatchNorm2d's channels are its input's
    ("[-1, 1, nn.Identity, [3]]", "(nn.Identity): nn.Identity takes no arguments, got 1: [3]"),
    ("[-1, 1, nn.BatchNorm2d, [16]]", "(nn.BatchNorm2d): nn.BatchNorm2d takes no arguments, got 1: [16]"),
    ("[-1, 1, SCDown, [32, 3]]", "(SCDown): missing argument 3 's' of SCDown(c2, k, s), got 2: [32, 3]"),
])
def test_too_many_or_missing_arguments_show_the_signature(tmp_path, row, message):
    line, where = error_line(tmp_path, row)
    assert line == f"{where} {message}"


def test_mapping_is_not_read_as_keyword_arguments(tmp_path):
    line, where = error_line(tmp_path, "[-1, 1, Conv, [32, 3, {s: 2}]]")
    assert line == (f"{where} (Conv): argument 3 's' must be an int or a list, got the mapping {{'s': 2}} (YAML arguments are "
                    "positional: write the values in order, not as name: value)")
    line, where = error_line(tmp_path, "[-1, 1, Conv, [32, 3, 2, {g: 2}]]")  # p has no declared type, still refused
    assert line.startswith(f"{where} (Conv): argument 4 'p' got the mapping {{'g': 2}}")


@pytest.mark.parametrize("row", [
    "[-1, 1, Conv, [32, 3, 2, 1]]",  # p: no declared type (default None): an int is fine
    "[-1, 1, C2f, [32, True, 1, 1]]",  # e is a float: an int may stand there
    "[-1, 1, nn.Upsample, [None, 2, nearest]]",
    "[-1, 1, nn.MaxPool2d, [[3, 3], 1, 1]]",  # Union[int, tuple]: a list is fine
    "[-1, 1, nn.Identity, []]",
])
def test_good_arguments_pass(tmp_path, row):
    path = tmp_path / "model.yaml"
    path.write_text(textwrap.dedent(MODEL).replace("ROW", row))
    result = runner.invoke(app, ["profile", str(path), "--imgsz", "64"])
    assert result.exit_code == 0, result.output


def test_every_registered_block_accepts_its_own_defaults():
    """The declared types (annotations, else the defaults' types) agree with the defaults on every block, so an
    annotation slip (``k: int = (3, 3)``) is found here rather than by a user's YAML."""
    blocks = default_registry().blocks()
    assert len(blocks) > 60
    for spec in blocks:
        signature, hints = _signature(spec.factory)
        assert signature is not None, spec.name
        for param in signature.parameters.values():
            if param.default is inspect.Parameter.empty or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            hint = hints.get(param.name, inspect.Parameter.empty)
            default = list(param.default) if isinstance(param.default, tuple) else param.default
            assert _type_problem(param, hint, default) is None, (spec.name, param.name, param.default)


def test_a_plugin_block_is_checked_from_its_own_signature():
    """No list of blocks: a new block's annotations (or defaults) are its declaration; positions follow its rule."""
    registry = Registry()

    @block(family="plugin", channels=ScaledOut(), repeat=INNER, registry=registry)
    class Mine:
        def __init__(self, c1: int, c2: int, n: int = 1, attn: bool = False, ratio: float = 1.0, tag=None):
            pass

    spec = registry.lookup("Mine")
    yaml_args = [64, True, 2, "x"]
    check_arguments(spec, "Mine", yaml_args, [16, 64, True, 2, "x"], [16, 64, 1, True, 2, "x"])  # fits
    with pytest.raises(ArchscopeError) as err:
        check_arguments(spec, "Mine", [64, 1], [16, 64, 1], [16, 64, 1, 1])
    assert str(err.value) == "argument 2 'attn' must be True or False, got 1"
    with pytest.raises(ArchscopeError) as err:
        check_arguments(spec, "Mine", [64, True, 2, None, 5], [16, 64, True, 2, None, 5], [16, 64, 1, True, 2, None, 5])
    assert str(err.value) == ("too many arguments for Mine(c2, attn=False, ratio=1.0, tag=None): it takes at most 4, "
                              "got 5: [64, True, 2, None, 5]")

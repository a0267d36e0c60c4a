"""User blocks: --blocks FILE.py (decorated and plain (c1, c2) classes), entry-point plugins loaded only on use,
and the errors a broken or clashing plugin gets."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

import archscope
from archscope.build.builder import BuildOptions, build_model
from archscope.build.materialize import materialize
from archscope.cli.app import app
from archscope.spec.model_spec import load_spec

PLUGIN = str(Path(__file__).resolve().parent / "fixtures" / "plugins" / "my_blocks.py")
runner = CliRunner()

MODEL = """\
nc: 1
ch: 8
backbone:
  - [-1, 2, TwinPath, [16]]  # decorated: inner repeat, so TwinPath(8, 16, 2)
  - [-1, 1, PlainGate, [8]]  # plain (c1, c2): PlainGate(16, 8)
head: []
"""


def _model(tmp_path) -> Path:
    path = tmp_path / "user.yaml"
    path.write_text(MODEL)
    return path


def test_user_blocks_file_params_and_flops_by_hand(tmp_path):
    report = archscope.profile(_model(tmp_path), imgsz="10x12", blocks=[PLUGIN])
    twin, gate = report.layers
    assert (twin.module, twin.args, gate.module, gate.args) == ("TwinPath", [8, 16, 2], "PlainGate", [16, 8])
    # TwinPath: 1x1 8->16 (128) + two depthwise 3x3 on 16 channels (2 * 144); PlainGate: 1x1 16->8 + bias
    assert (twin.params, gate.params) == (128 + 288, 128 + 8)
    # 10 x 12 = 120 positions, 2 FLOPs per multiply-add
    assert twin.mac_flops == 2 * 120 * (8 * 16 + 2 * 16 * 9)
    assert gate.mac_flops == 2 * 120 * 16 * 8
    # and torch's own counter agrees on a real forward
    built = build_model(load_spec(_model(tmp_path)), BuildOptions(imgsz=(10, 12)))
    model = materialize(built)
    with torch.no_grad(), FlopCounterMode(display=False) as fcm:
        model.run(torch.rand(1, 8, 10, 12))
    assert fcm.get_total_flops() == report.totals.mac_flops


def test_helper_classes_are_not_registered():
    names = archscope.load_blocks(PLUGIN)
    assert sorted(names) == ["PlainGate", "TwinPath"]
    from archscope.build.registry import REGISTRY

    assert "Helper" not in {s.name for s in REGISTRY.blocks()}


def test_cli_blocks_option_and_listing(tmp_path):
    result = runner.invoke(app, ["profile", str(_model(tmp_path)), "--imgsz", "32", "--blocks", PLUGIN, "-f", "json"])
    assert result.exit_code == 0, result.output
    listing = runner.invoke(app, ["blocks", "--family", "user", "--blocks", PLUGIN])
    assert "TwinPath" in listing.output and "PlainGate" in listing.output


def test_unknown_block_hints_at_blocks_option(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("nc: 1\nbackbone:\n  - [-1, 1, TotallyNewThing, [16]]\nhead: []\n")
    result = runner.invoke(app, ["profile", str(path)])
    assert result.exit_code == 2
    assert "unknown module 'TotallyNewThing'" in result.output and "--blocks" in result.output


def test_broken_blocks_file_is_one_line_with_its_line(tmp_path):
    bad = tmp_path / "bad_blocks.py"
    bad.write_text("import torch\n\nclass Oops(torch.nn.Module)\n    pass\n")
    result = runner.invoke(app, ["profile", str(_model(tmp_path)), "--blocks", str(bad)])
    assert result.exit_code == 2
    line = result.output.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "bad_blocks.py:3" in line


def test_failing_import_and_missing_file(tmp_path):
    failing = tmp_path / "failing_blocks.py"
    failing.write_text("raise RuntimeError('needs a GPU library')\n")
    result = runner.invoke(app, ["profile", str(_model(tmp_path)), "--blocks", str(failing)])
    assert result.exit_code == 2 and "importing it failed: RuntimeError: needs a GPU library" in result.output
    result = runner.invoke(app, ["profile", str(_model(tmp_path)), "--blocks", str(tmp_path / "nope.py")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_clash_with_a_builtin_is_refused(tmp_path):
    clash = tmp_path / "clash_blocks.py"
    clash.write_text(textwrap.dedent("""\
        from torch import nn

        class C2f(nn.Module):
            def __init__(self, c1, c2):
                super().__init__()
        """))
    result = runner.invoke(app, ["profile", str(_model(tmp_path)), "--blocks", str(clash)])
    assert result.exit_code == 2
    assert "block 'C2f' is already registered" in result.output


def _install_entry_point_plugin(root: Path) -> None:
    (root / "archscope_demo_plugin.py").write_text(textwrap.dedent("""\
        from torch import nn

        class DemoConv(nn.Module):
            def __init__(self, c1, c2):
                super().__init__()
                self.conv = nn.Conv2d(c1, c2, 3, 1, 1, bias=False)

            def forward(self, x):
                return self.conv(x)
        """))
    dist = root / "archscope_demo_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: archscope-demo-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[archscope.blocks]\nDemoBlock = archscope_demo_plugin:DemoConv\n")


def test_entry_point_plugin_is_imported_only_when_a_yaml_uses_it(tmp_path, monkeypatch):
    _install_entry_point_plugin(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    listing = runner.invoke(app, ["blocks", "--family", "plugin"])
    assert "DemoBlock" in listing.output
    assert "archscope_demo_plugin" not in sys.modules  # listed from metadata, not imported
    path = tmp_path / "m.yaml"
    path.write_text("nc: 1\nch: 3\nbackbone:\n  - [-1, 1, DemoBlock, [8]]\nhead: []\n")
    report = archscope.profile(path, imgsz=16)
    assert "archscope_demo_plugin" in sys.modules
    assert report.layers[0].params == 3 * 8 * 9
    assert report.layers[0].mac_flops == 2 * 16 * 16 * 8 * 3 * 9

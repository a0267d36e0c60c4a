"""--counter results reach the table and Markdown as one line each (figures here are made up for the renderer)."""

from archscope import profile
from archscope.render.formats import render_text


def test_crosscheck_line_is_rendered():
    report = profile({"backbone": [[-1, 1, "Conv", [8, 3, 2]]]}, imgsz=32)
    report.crosscheck.append({"counter": "thop", "version": "0.1.1", "macs": 1.5e9, "flops_x2": 3.0e9,
                              "archscope_mac_flops": 3.2e9, "explanation": "module hooks only",
                              "unsupported_ops": {}})
    for fmt in ("table", "md"):
        text = render_text(report, fmt)
        assert "thop 0.1.1: 3.00 GFLOPs (2 x its 1.50 G multiply-adds) vs archscope mac_flops 3.20 G" in text
        assert "module hooks only" in text


def test_computed_explanation_and_package_reach_the_table():
    """A real --counter run: the line names the distribution and carries the computed gap, in table and Markdown."""
    from archscope.analysis.crosscheck import thop_packaging

    report = profile({"backbone": [[-1, 1, "Conv", [8, 3, 2]]]}, imgsz=32, counter="thop")
    c = report.crosscheck[0]
    package, version = thop_packaging()
    assert (c["package"], c["version"]) == (package, version)
    # Conv = Conv2d (no bias) + BatchNorm2d + SiLU: both thop packagings charge the BatchNorm 4 per element (x2 = 8),
    # which is the whole gap: 8 channels x 16 x 16 outputs
    assert [(g["kind"], g["what"], g["flops"]) for g in c["gap"]] == [("extra", "BatchNorm2d", 8 * 8 * 16 * 16)]
    for fmt in ("table", "md"):
        text = " ".join(render_text(report, fmt).split())
        assert f"{package} {version}: " in text
        assert "gap +16.38 K: +16.38 K it charges for BatchNorm2d (archscope: other_flops" in text


def test_missing_counter_is_one_line_before_any_work(monkeypatch):
    import sys

    from typer.testing import CliRunner

    from archscope.cli.app import app

    monkeypatch.setitem(sys.modules, "torchinfo", None)
    result = CliRunner().invoke(app, ["profile", "sample_configs/tiny-detector.yaml", "--counter", "torchinfo"])
    assert result.exit_code == 2
    assert result.output.strip() == ("archscope: error: --counter torchinfo needs the optional package: "
                                     "pip install 'archscope-yolo[torchinfo]'")


def test_summary_and_attention_lines_give_one_ultralytics_figure():
    """No attention: the Ultralytics figure at one decimal, as Ultralytics prints it, and no second line."""
    from archscope.render.cells import attention_gflops_line, summary_line

    report = profile({"backbone": [[-1, 1, "Conv", [8, 3, 2]]]}, imgsz=64)
    assert f"(Ultralytics 8.4: {report.totals.gflops_ultralytics:.1f})" in summary_line(report)
    assert attention_gflops_line(report) is None

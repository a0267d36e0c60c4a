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

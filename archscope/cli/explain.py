"""``archscope explain``: one layer op by op, and where an attention layer's time goes."""

from __future__ import annotations

from typing import Optional

import typer

from archscope.cli.common import Dtype, deliver, handles_errors
from archscope.cli.options import (
    AttentionOption,
    BlocksOption,
    ChannelsOption,
    ClassesOption,
    DtypeOption,
    FuseOption,
    OutputOption,
    format_choices,
    format_value,
)

ExplainFormat = format_choices("explain")


@handles_errors
def explain(
    model: str = typer.Argument(..., help="Model YAML (file.yaml:s picks scale s)."),
    layer: list[int] = typer.Option(..., "--layer", "-l", help="YAML layer index to break down; repeatable."),
    scale: Optional[str] = typer.Option(None, "--scale", "-s", help="Scale to build."),
    imgsz: str = typer.Option("640", "--imgsz", help="Input size: 640 or HxW."),
    batch: int = typer.Option(1, "--batch", "-b", help="Batch size."),
    nc: ClassesOption = None,
    ch: ChannelsOption = None,
    dtype: DtypeOption = Dtype("fp32"),
    device_spec: Optional[str] = typer.Option(None, "--device-spec", help="Roofline device: a preset (see "
                                              "'archscope devices') or a YAML/JSON device file (default: cpu)."),
    attention: AttentionOption = None,
    fmt: Optional[ExplainFormat] = typer.Option(None, "--format", "-f",  # type: ignore[valid-type]
                                                help="table (default), json or md; or from the -o file's suffix."),
    output: OutputOption = None,
    blocks: BlocksOption = None,
    fuse: FuseOption = None,
) -> None:
    """One layer op by op: Q/K/V/output projections, K/V downsampling, QK^T, softmax, PV, copies, each with FLOPs,
    bytes, intensity, roofline time and bound; for attention, what MQA, the scores and K/V downsampling cost."""
    from archscope.api import explain_layers
    from archscope.render.breakdown import print_breakdowns, render_breakdowns
    from archscope.render.formats import format_for
    from archscope.util.files import check_writable

    chosen = format_for(output, format_value(fmt))
    if chosen not in ("table", "json", "md"):
        from archscope.errors import ArchscopeError

        raise ArchscopeError(f"explain writes table, json or md, not {chosen}")
    if output:
        check_writable(output)
    items = explain_layers(model, layer, scale=scale, imgsz=imgsz, batch=batch, nc=nc, ch=ch, dtype=dtype.value,
                           device_spec=device_spec or "cpu", attention=attention, blocks=blocks or (),
                           fuse=bool(fuse))
    deliver(chosen, output, "breakdown", lambda f: render_breakdowns(items, f), lambda: print_breakdowns(items))

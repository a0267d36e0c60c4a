"""``archscope compare`` and ``archscope snapshot``: models side by side, and a baseline report for ``check``."""

from __future__ import annotations

from typing import Optional

import typer

from archscope.cli.common import Dtype, OutputFormat, check_plot, deliver, handles_errors, load_user_blocks, save_plot
from archscope.cli.options import BlocksOption, DtypeOption, FuseOption
from archscope.errors import ArchscopeError


@handles_errors
def compare(
    models: list[str] = typer.Argument(..., help="Two or more model YAMLs (file.yaml:s picks scale s) or report "
                                       "JSON files; the first is the reference."),
    imgsz: str = typer.Option("640", "--imgsz", help="Input size for the YAMLs: 640 or HxW."),
    batch: int = typer.Option(1, "--batch", "-b", help="Batch size for the YAMLs."),
    nc: Optional[int] = typer.Option(None, "--nc", help="Number of classes (default: each YAML's nc)."),
    ch: Optional[int] = typer.Option(None, "--ch", help="Input channels (default: each YAML's)."),
    dtype: DtypeOption = Dtype("fp32"),
    device_spec: str = typer.Option("cpu", "--device-spec", "--device", help="Roofline device for predicted "
                                    "times and the plot: a preset or a YAML/JSON file."),
    fmt: Optional[OutputFormat] = typer.Option(None, "--format", "-f", help="table (default), json, csv, "
                                               "markdown or html; or from the -o file's suffix."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the comparison to this file."),
    plot: Optional[str] = typer.Option(None, "--plot", help="Draw the roofline with every layer of every model "
                                       "(.png, .svg or .html; needs matplotlib)."),
    bench: bool = typer.Option(False, "--bench", help="Also measure each YAML model's latency (archscope bench)."),
    bench_device: str = typer.Option("auto", "--bench-device", help="Where --bench runs: auto, cpu, cuda, mps."),
    blocks: BlocksOption = None,
    fuse: FuseOption = None,
) -> None:
    """Models side by side: totals with deltas and ratios against the first, and the layers that differ."""
    load_user_blocks(blocks)
    from archscope.api import compare as run_compare
    from archscope.render.formats import format_for
    from archscope.util.files import check_writable

    chosen = format_for(output, fmt.value if fmt else None)
    if output:
        check_writable(output)
    if plot:
        check_plot(plot)
    comparison = run_compare(models, imgsz=imgsz, batch=batch, nc=nc, ch=ch, dtype=dtype.value,
                             device_spec=device_spec, bench=bench, bench_device=bench_device, fuse=bool(fuse))
    from archscope.render.compare import print_comparison, render_comparison

    deliver(chosen, output, "comparison", lambda fmt: render_comparison(comparison, fmt),
             lambda: print_comparison(comparison))
    if plot:
        save_plot(comparison, plot)


@handles_errors
def snapshot(
    model: str = typer.Argument(..., help="Model YAML (file.yaml:s picks scale s)."),
    output: str = typer.Option("archscope-baseline.json", "--output", "-o", help="Where to write the baseline."),
    scale: Optional[str] = typer.Option(None, "--scale", "-s", help="Scale to build."),
    imgsz: str = typer.Option("640", "--imgsz", help="Input size: 640 or HxW."),
    batch: int = typer.Option(1, "--batch", "-b", help="Batch size."),
    nc: Optional[int] = typer.Option(None, "--nc", help="Number of classes (default: the YAML's)."),
    ch: Optional[int] = typer.Option(None, "--ch", help="Input channels (default: the YAML's)."),
    dtype: DtypeOption = Dtype("fp32"),
    device_spec: Optional[str] = typer.Option(None, "--device-spec", "--device", help="Also record roofline "
                                              "times on this device (checked by check --baseline)."),
    blocks: BlocksOption = None,
    fuse: FuseOption = None,
) -> None:
    """Write a baseline report (the JSON report plus its settings) for 'archscope check --baseline'."""
    load_user_blocks(blocks)
    from archscope.api import snapshot as take
    from archscope.render.data import to_json
    from archscope.spec.sources import parse_source
    from archscope.util.files import check_writable, write_atomic

    check_writable(output)
    source = parse_source(model)
    if source.scale and scale and source.scale != scale:
        raise ArchscopeError(f"two scales given: ':{source.scale}' and --scale {scale}", file=source.path)
    report = take(source.path, scale=source.scale or scale, imgsz=imgsz, batch=batch, nc=nc, ch=ch,
                  dtype=dtype.value, device_spec=device_spec, fuse=bool(fuse))
    write_atomic(output, to_json(report))
    t = report.totals
    assert t.flops is not None and t.bytes_unfused is not None  # a snapshot is always analysed
    fused = " (fused)" if report.model.fused else ""
    typer.echo(f"wrote baseline for {model}{fused} to {output}: {t.params:,} params, {t.flops / 1e9:.3f} GFLOPs, "
               f"{t.bytes_unfused / 1e6:.2f} MB moved")

"""``archscope compare`` and ``archscope snapshot``: models side by side, and a baseline report for ``check``."""

from __future__ import annotations

from typing import Optional

import typer

from archscope.cli.common import Dtype, check_plot, deliver, handles_errors, load_user_blocks, save_plot
from archscope.cli.options import (
    AttentionOption,
    BlocksOption,
    BuilderOption,
    DtypeOption,
    FuseOption,
    LegacyDeviceOption,
    MinTimeOption,
    RunsOption,
    ThreadsOption,
    WarmupOption,
    format_choices,
    format_value,
    note,
    split_device,
)
from archscope.errors import ArchscopeError

CompareFormat = format_choices("compare")


@handles_errors
def compare(
    models: list[str] = typer.Argument(..., help="Two or more model YAMLs (file.yaml:s picks scale s) or report "
                                       "JSON files; the first is the reference."),
    imgsz: str = typer.Option("640", "--imgsz", help="Input size for the YAMLs: 640 or HxW."),
    batch: int = typer.Option(1, "--batch", "-b", help="Batch size for the YAMLs."),
    nc: Optional[int] = typer.Option(None, "--nc", help="Number of classes (default: each YAML's nc)."),
    ch: Optional[int] = typer.Option(None, "--ch", help="Input channels (default: each YAML's)."),
    dtype: DtypeOption = Dtype("fp32"),
    device_spec: Optional[str] = typer.Option(None, "--device-spec", help="Roofline device for predicted times and "
                                              "the plot: a preset or a YAML/JSON file (default: cpu)."),
    fmt: Optional[CompareFormat] = typer.Option(None, "--format", "-f",  # type: ignore[valid-type]
                                                help="table (default), json, csv, markdown or html; or from the -o "
                                                "file's suffix."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the comparison to this file."),
    plot: Optional[str] = typer.Option(None, "--plot", help="Draw the roofline with every layer of every model "
                                       "(.png, .svg or .html; needs matplotlib)."),
    bench: bool = typer.Option(False, "--bench", help="Also measure each YAML model's latency (archscope bench)."),
    device: Optional[str] = typer.Option(None, "--device", help="Torch device --bench times on: auto (default: cuda, "
                                         "else mps, else cpu), cpu, cuda, cuda:N or mps."),
    threads: ThreadsOption = None,
    warmup: WarmupOption = 3,
    runs: RunsOption = None,
    min_time: MinTimeOption = None,
    bench_device: Optional[str] = typer.Option(None, "--bench-device", hidden=True,
                                               help="The old spelling of --device (deprecated)."),
    blocks: BlocksOption = None,
    builder: BuilderOption = None,
    fuse: FuseOption = None,
    attention: AttentionOption = None,
) -> None:
    """Models side by side: totals with deltas and ratios against the first, and the layers that differ."""
    load_user_blocks(blocks)
    from archscope.api import compare as run_compare
    from archscope.render.formats import format_for
    from archscope.render.progress import progress_bar
    from archscope.util.files import check_writable

    if bench_device is not None:
        if device is not None and device != bench_device:
            raise ArchscopeError(f"two torch devices: --device {device} and --bench-device {bench_device}; give "
                                 f"--device only")
        note(f"--bench-device is deprecated: write --device {bench_device}")
        device = bench_device
    device_spec, torch_device = split_device("compare", device, device_spec, timed=True)
    if torch_device is not None and not bench:
        note(f"compare times nothing without --bench, so --device {torch_device} (the torch device to time on) "
             f"changes nothing; the roofline device is --device-spec")
    chosen = format_for(output, format_value(fmt))
    if output:
        check_writable(output)
    if plot:
        check_plot(plot)
    with progress_bar(enabled=None if bench else False) as progress:
        comparison = run_compare(models, imgsz=imgsz, batch=batch, nc=nc, ch=ch, dtype=dtype.value,
                                 device_spec=device_spec or "cpu", bench=bench, bench_device=torch_device or "auto",
                                 fuse=bool(fuse), threads=threads, warmup=warmup, runs=runs, min_time=min_time,
                                 progress=progress, attention=attention, builder=builder or None)
    from archscope.measure.trust import PREFIX

    for line in comparison.notes:
        if PREFIX in line:  # "model: unreliable timing: ...": the table has them too, a file or a pipe would not
            typer.echo(f"archscope: warning: {line}", err=True)
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
    device_spec: Optional[str] = typer.Option(None, "--device-spec", help="Also record roofline times on this "
                                              "device (checked by check --baseline)."),
    device: LegacyDeviceOption = None,
    blocks: BlocksOption = None,
    fuse: FuseOption = None,
) -> None:
    """Write a baseline report (the JSON report plus its settings) for 'archscope check --baseline'."""
    device_spec, _ = split_device("snapshot", device, device_spec)
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

"""``archscope sweep``: several models at many image sizes and batches, with the sizes where their order flips."""

from __future__ import annotations

from typing import Optional

import typer

from archscope.cli.common import Dtype, deliver, handles_errors, load_user_blocks
from archscope.cli.options import (
    TORCH_DEVICES,
    AttentionOption,
    BlocksOption,
    ChannelsOption,
    ClassesOption,
    DtypeOption,
    FuseOption,
    MinTimeOption,
    RunsOption,
    ThreadsOption,
    format_choices,
    format_value,
)

SweepFormat = format_choices("sweep")
DEFAULT_SIZES = "224,256,320,384,448,512,640,768,896,1024,1280"


@handles_errors
def sweep(
    models: list[str] = typer.Argument(..., help="Model YAMLs (file.yaml:s picks scale s); the first is the "
                                       "reference of the 'x first' column."),
    imgsz: str = typer.Option(DEFAULT_SIZES, "--imgsz", help="Square image sizes: a list such as 224,256,320 or a "
                              "range start:stop:step such as 256:1280:64 (stop included)."),
    batch: str = typer.Option("1", "--batch", "-b", help="Batch sizes: 1 or a list such as 1,8."),
    device_spec: str = typer.Option("cpu", "--device-spec", help="Roofline device for the predicted times: a "
                                    "preset (see 'archscope devices') or a YAML/JSON device file."),
    dtype: DtypeOption = Dtype("fp32"),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Worker processes for the counting (spawned; each costs about "
                             "2 s to start, worth it from a few hundred points)."),
    layer: Optional[int] = typer.Option(None, "--layer", help="Also record this YAML layer's figures at every "
                                        "point and compare the models by its time (crossovers, plot)."),
    bench: bool = typer.Option(False, "--bench", help="Also time every point (archscope bench, 5 runs after 1 "
                               "warm-up unless --runs/--min-time say otherwise); a point that does not fit memory "
                               "is left untimed."),
    device: str = typer.Option("auto", "--device", help=f"Torch device --bench times on: {TORCH_DEVICES}."),
    threads: ThreadsOption = None,
    warmup: Optional[int] = typer.Option(None, "--warmup", help="Untimed forwards before timing each point "
                                         "(default 1)."),
    runs: RunsOption = None,
    min_time: MinTimeOption = None,
    nc: ClassesOption = None,
    ch: ChannelsOption = None,
    fmt: Optional[SweepFormat] = typer.Option(None, "--format", "-f",  # type: ignore[valid-type]
                                              help="table (default), json, csv or md; or from the -o file's "
                                              "suffix."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the sweep to this file (.json, .csv, "
                                         ".md or .txt)."),
    plot: Optional[str] = typer.Option(None, "--plot", help="Draw time and bytes against image size per model "
                                       "(.png, .svg or .html; needs matplotlib)."),
    blocks: BlocksOption = None,
    fuse: FuseOption = None,
    attention: AttentionOption = None,
) -> None:
    """Profile models at many image sizes (and batches) in seconds, write the figures as a table, JSON or CSV, plot
    them, and name the crossovers: the image size where two models' predicted-time order flips."""
    load_user_blocks(blocks)
    from archscope.analysis.sweep import parse_sizes
    from archscope.api import parse_batches
    from archscope.api import sweep as run_sweep
    from archscope.cli.common import check_plot
    from archscope.render.formats import format_for
    from archscope.render.progress import progress_bar
    from archscope.util.files import check_writable

    parse_sizes(imgsz)  # bad lists are refused before anything is imported or built
    parse_batches(batch)
    chosen = format_for(output, format_value(fmt))
    if chosen not in ("table", "json", "csv", "md"):
        from archscope.errors import ArchscopeError

        raise ArchscopeError(f"sweep writes table, json, csv or md; {output} asks for {chosen}", file=output)
    if output:
        check_writable(output)
    if plot:
        check_plot(plot)
    with progress_bar(enabled=None if bench else False) as progress:
        report = run_sweep(models, imgsz=imgsz, batch=batch, dtype=dtype.value, device_spec=device_spec, nc=nc,
                           ch=ch, fuse=bool(fuse), blocks=tuple(blocks or ()), jobs=jobs, layer=layer,
                           attention=attention, bench=bench, bench_device=device, threads=threads, warmup=warmup,
                           runs=runs, min_time=min_time, progress=progress)
    from archscope.render.sweep import print_sweep, render_sweep

    deliver(chosen, output, "sweep", lambda fmt: render_sweep(report, fmt), lambda: print_sweep(report))
    if output or chosen != "table":  # the table prints them; a file or a pipe must not lose them
        for line in report.findings:
            typer.echo(f"archscope: crossover: {line}", err=True)
    if plot:
        from archscope.render.sweep_plot import save_sweep_plot

        save_sweep_plot(report, plot)
        typer.echo(f"wrote sweep plot to {plot}", err=True)

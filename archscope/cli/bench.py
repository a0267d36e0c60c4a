"""``archscope bench``: timed forward passes beside the roofline."""

from __future__ import annotations

from typing import Optional

import typer

from archscope.cli.common import deliver, handles_errors, load_user_blocks
from archscope.cli.options import (
    TORCH_DEVICES,
    BlocksOption,
    BuilderOption,
    ChannelsOption,
    ClassesOption,
    ColumnsOption,
    FormatOption,
    MinTimeOption,
    OutputOption,
    RunsOption,
    ThreadsOption,
    WarmupOption,
    one_builder,
)


@handles_errors
def bench(
    model: str = typer.Argument(..., help="Model YAML (Ultralytics package or YOLOv5 repository dialect); "
                                "file.yaml:s picks scale s."),
    device: str = typer.Option("auto", "--device", help=f"Torch device to time on: {TORCH_DEVICES} (auto: cuda, "
                               "else mps, else cpu)."),
    imgsz: str = typer.Option("640", "--imgsz", help="Input size: 640 or HxW such as 640x384."),
    batch: str = typer.Option("1", "--batch", "-b", help="Batch size, or several: 1,8,32 (one result each)."),
    dtype: str = typer.Option("fp32", "--dtype", help="fp32, fp16 or bf16 (weights and input)."),
    channels_last: bool = typer.Option(False, "--channels-last", help="NHWC memory format for weights and input."),
    fuse: bool = typer.Option(False, "--fuse", help="Time the deployed model, as Ultralytics' model.fuse() leaves "
                              "it (BatchNorm folded, RepConv/RepVGGDW re-parameterised, training-only head branches "
                              "dropped; outputs unchanged)."),
    compile_: bool = typer.Option(False, "--compile", help="Time torch.compile(model) (compiles during warm-up)."),
    threads: ThreadsOption = None,
    warmup: WarmupOption = 3,
    runs: RunsOption = None,
    min_time: MinTimeOption = None,
    seed: int = typer.Option(0, "--seed", help="Seed of the random weights and input."),
    per_layer: bool = typer.Option(False, "--per-layer", help="Also time each YAML layer, beside its roofline time."),
    device_spec: Optional[str] = typer.Option(None, "--device-spec", help="Roofline device for the per-layer "
                                              "prediction (default: 'archscope calibrate --save-default' file, "
                                              "else the generic cpu preset)."),
    scale: Optional[str] = typer.Option(None, "--scale", "-s", help="Scale to build (default: the YAML's)."),
    nc: ClassesOption = None,
    ch: ChannelsOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
    blocks: BlocksOption = None,
    builder: BuilderOption = None,
    columns: ColumnsOption = None,
) -> None:
    """Time real forward passes (random seeded weights): median, mean, p10/p90, std, throughput, achieved FLOP/s.
    Warns when the numbers are not to be trusted (wide spread, mean far from median, a loaded or throttled CPU)."""
    load_user_blocks(blocks)
    from archscope.api import bench as run_bench
    from archscope.render.formats import format_for
    from archscope.render.progress import progress_bar
    from archscope.util.files import check_writable

    if output:
        check_writable(output)
    chosen = format_for(output, fmt.value if fmt else None)
    from archscope.render.bench import check_columns
    from archscope.render.fit import parse_columns

    check_columns(parse_columns(columns))
    with progress_bar() as progress:
        report = run_bench(model, scale=scale, nc=nc, ch=ch, imgsz=imgsz, batch=batch, device=device, dtype=dtype,
                           channels_last=channels_last, fuse=fuse, compile=compile_, threads=threads,
                           warmup=warmup, runs=runs, min_time=min_time, seed=seed, per_layer=per_layer,
                           device_spec=device_spec, progress=progress, builder=one_builder(builder))
    from archscope.measure.trust import is_warning

    for note in report.notes:
        if is_warning(note):  # also in the report's notes; here too, as a file or JSON on stdout would hide them
            typer.echo(f"archscope: warning: {note}", err=True)
    _emit_bench(report, chosen, output, columns)


def _emit_bench(report, chosen: str, output: Optional[str], columns: Optional[list[str]] = None) -> None:
    from archscope.render.bench import print_bench, render_bench
    from archscope.render.fit import parse_columns

    deliver(chosen, output, "bench report", lambda fmt: render_bench(report, fmt),
            lambda: print_bench(report, columns=parse_columns(columns)))

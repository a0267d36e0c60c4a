"""``archscope bench``: timed forward passes beside the roofline."""

from __future__ import annotations

from typing import Optional

import typer

from archscope.cli.common import deliver, handles_errors, load_user_blocks
from archscope.cli.options import (
    BlocksOption,
    ChannelsOption,
    ClassesOption,
    ColumnsOption,
    FormatOption,
    OutputOption,
)


@handles_errors
def bench(
    model: str = typer.Argument(..., help="Model YAML (Ultralytics package or YOLOv5 repository dialect)."),
    device: str = typer.Option("auto", "--device", help="auto (cuda, else mps, else cpu), cpu, cuda, cuda:N or mps."),
    imgsz: str = typer.Option("640", "--imgsz", help="Input size: 640 or HxW such as 640x384."),
    batch: str = typer.Option("1", "--batch", "-b", help="Batch size, or several: 1,8,32 (one result each)."),
    dtype: str = typer.Option("fp32", "--dtype", help="fp32, fp16 or bf16 (weights and input)."),
    channels_last: bool = typer.Option(False, "--channels-last", help="NHWC memory format for weights and input."),
    fuse: bool = typer.Option(False, "--fuse", help="Time the deployed model, as Ultralytics' model.fuse() leaves "
                              "it (BatchNorm folded, RepConv/RepVGGDW re-parameterised, training-only head branches "
                              "dropped; outputs unchanged)."),
    compile_: bool = typer.Option(False, "--compile", help="Time torch.compile(model) (compiles during warm-up)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch intra-op CPU threads (default: torch's)."),
    warmup: int = typer.Option(3, "--warmup", help="Untimed forwards before timing."),
    runs: Optional[int] = typer.Option(None, "--runs", help="At least this many timed forwards (alone: exactly "
                                       "this many). Default: 10 runs and 1 s."),
    min_time: Optional[float] = typer.Option(None, "--min-time", help="Keep timing until the timed forwards add "
                                             "up to this many seconds (at least 3 runs)."),
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
    columns: ColumnsOption = None,
) -> None:
    """Time real forward passes (random seeded weights): median, mean, p10/p90, std, throughput, achieved FLOP/s."""
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
                           device_spec=device_spec, progress=progress)
    _emit_bench(report, chosen, output, columns)


def _emit_bench(report, chosen: str, output: Optional[str], columns: Optional[list[str]] = None) -> None:
    from archscope.render.bench import print_bench, render_bench
    from archscope.render.fit import parse_columns

    deliver(chosen, output, "bench report", lambda fmt: render_bench(report, fmt),
            lambda: print_bench(report, columns=parse_columns(columns)))

"""``archscope blocks``, ``devices`` and ``calibrate``: what archscope knows, and measuring this machine."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from archscope.cli.common import handles_errors
from archscope.cli.options import ColumnsOption, DevicesFormatOption, ThreadsOption, format_value
from archscope.errors import ArchscopeError


@handles_errors
def blocks(
    family: Optional[str] = typer.Option(None, "--family", help="Only this family (e.g. csp, heads, user)."),
    user_blocks: Optional[list[str]] = typer.Option(None, "--blocks", help="Also load this blocks file or module "
                                                    "(repeatable).", metavar="<file>"),
    columns: ColumnsOption = None,
) -> None:
    """List the registered blocks: YAML name, family, signature, channel and repeat rule."""
    from archscope.build.catalog import default_registry
    from archscope.build.plugins import entry_point_names, load_blocks

    registry = default_registry()
    for item in user_blocks or ():
        load_blocks(item)
    from archscope.render.fit import Col, dropped_line, fit_table, output_console, parse_columns

    cols = [Col("name", "name", priority=0, fold=True), Col("family", "family", priority=3),
            Col("signature", "signature", priority=1, fold=True, least=20),
            Col("channels", "channels", priority=2, fold=True), Col("repeat", "repeat", priority=2, fold=True),
            Col("also answers to", "aliases", priority=4, fold=True)]
    rows: list[list[str]] = []
    shown = 0
    known: set[str] = set()
    for spec in registry.blocks():
        known.update((spec.name, *spec.aliases))
        if family and spec.family != family:
            continue
        name = spec.name + (f" [{spec.dialect} dialect]" if spec.dialect else "")
        rows.append([name, spec.family, spec.display_signature(), spec.channels.describe(),
                     spec.repeat.describe(), ", ".join(spec.aliases)])
        shown += 1
    if not family or family == "plugin":
        for name in entry_point_names():  # listed from package metadata; imported only when a YAML uses them
            if name not in known:
                rows.append([name, "plugin", "(loaded when a YAML uses it)", "", "", ""])
                shown += 1
    if family and not shown:
        raise ArchscopeError(f"no blocks in family {family!r}")
    console = output_console(220)
    table, dropped = fit_table(cols, rows, console.width, wanted=parse_columns(columns))
    console.print(table)
    note = dropped_line(dropped, console.width, "--columns chooses")
    if note:
        console.print(note, style="dim", markup=False)


@handles_errors
def devices(
    fmt: DevicesFormatOption = None,
    columns: ColumnsOption = None,
) -> None:
    """List the roofline device presets: peak FLOP/s per dtype, bandwidth, ridge point and source."""

    from archscope.devices.presets import PRESETS
    from archscope.render.fit import Col, dropped_line, fit_table, output_console, parse_columns

    if format_value(fmt) == "json":
        from archscope.util.jsonio import dumps_strict  # no NaN/Infinity: such a figure is written as null

        sys.stdout.write(dumps_strict([spec.to_dict() for spec in PRESETS.values()], indent=2) + "\n")
        return
    cols = [Col("name", "name", priority=0), Col("peak TFLOP/s by dtype", "peak", priority=0, fold=True),
            Col("GB/s", "bandwidth", number=True, priority=1), Col("ridge FLOP/B", "ridge", priority=2, fold=True),
            Col("attention", "attention", priority=2), Col("source", "source", priority=3, fold=True, least=40)]
    rows = []
    for spec in PRESETS.values():
        peaks = ", ".join(f"{d} {v / 1e12:g}" for d, v in spec.peak_flops.items())
        first = next(iter(spec.peak_flops))
        ridge = f"{spec.ridge_point(first):.1f} ({first})"
        bandwidth = "relative" if spec.relative_only else f"{spec.bandwidth / 1e9:g}"
        source = spec.source if len(spec.source) <= 60 else spec.source[:57] + "..."
        rows.append([spec.name, "relative only" if spec.relative_only else peaks, bandwidth, ridge, spec.attention,
                     source])
    console = output_console(220)
    table, dropped = fit_table(cols, rows, console.width, wanted=parse_columns(columns))
    console.print(table)
    note = dropped_line(dropped, console.width, "--columns chooses")
    if note:
        console.print(note, style="dim", markup=False)
    console.print("Aliases, full sources and notes, and why each attention default (--attention): archscope "
                  "devices --format json", style="dim")


@handles_errors
def calibrate(
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Where to save the measured preset "
                                         "(default: device.yaml, unless --save-default is given)."),
    save_default: bool = typer.Option(False, "--save-default", help="Save it as this machine's default preset "
                                      "($ARCHSCOPE_DEVICE_FILE, else ~/.config/archscope/device.yaml), which "
                                      "'archscope bench' uses when no --device-spec is given."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or mps."),
    dtypes: str = typer.Option("fp32,bf16", "--dtypes", help="Comma-separated dtypes to measure."),
    seconds: float = typer.Option(3.0, "--seconds", help="Total time budget."),
    name: Optional[str] = typer.Option(None, "--name", help="Name of the preset (default: this machine)."),
    repeats: int = typer.Option(3, "--repeats", help="Measure each figure this many times: the preset keeps the "
                                "median, and a warning says when the repeats disagree by more than 20%."),
    class_seconds: float = typer.Option(20.0, "--class-seconds", help="More seconds to measure each kind of op "
                                        "(conv, depthwise, matmul, norms, elementwise, pooling, resize, copy) at "
                                        "several sizes, for a roofline per op class; 0 skips it."),
    threads: ThreadsOption = None,
) -> None:
    """Measure this machine's matmul FLOP/s per dtype, streaming bandwidth and each op class's throughput; save
    them as a device preset."""
    from archscope.devices.calibrate import measure
    from archscope.devices.spec import default_device_file, save_device
    from archscope.util.files import check_writable

    targets = [output] if output else ([] if save_default else ["device.yaml"])
    if save_default:
        default = default_device_file()
        try:
            default.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ArchscopeError(f"cannot create the folder for the default preset: {exc.strerror}",
                                 file=str(default.parent)) from None
        targets.append(str(default))
    for target in targets:
        check_writable(target)
    if class_seconds < 0:
        raise ArchscopeError(f"--class-seconds must be 0 or more, got {class_seconds:g}")
    result = measure(device, dtypes=[d.strip() for d in dtypes.split(",") if d.strip()], seconds=seconds, name=name,
                     repeats=repeats, class_seconds=class_seconds, threads=threads)
    spec = result.spec
    for target in targets:
        save_device(spec, target)
    peaks = ", ".join(f"{d} {v / 1e9:.1f} GFLOP/s" for d, v in spec.peak_flops.items())
    typer.echo(f"{spec.name}: {peaks}, bandwidth {spec.bandwidth / 1e9:.1f} GB/s -> {', '.join(targets)}")
    for dtype, table in spec.op_classes.items():
        typer.echo(f"op classes ({dtype}), the median of the kernels' rates (* drives the class):")
        for c, r in table.items():
            rates = sorted(rate for _, rate in r.by_size)
            mid = rates[len(rates) // 2] if rates else (r.flops_per_s if r.driver == "flops" else r.bytes_per_s)
            flops, nbytes = (mid, r.bytes_per_s) if r.driver == "flops" else (r.flops_per_s, mid)
            mark = ("*", " ") if r.driver == "flops" else (" ", "*")
            typer.echo(f"  {c:<15} {flops / 1e9:8.3g} GFLOP/s{mark[0]} {nbytes / 1e9:7.3g} GB/s{mark[1]} "
                       f"+{r.overhead_s * 1e6:6.3g} us a call")
    if spec.fresh_bytes_per_s:
        typer.echo(f"fresh memory (outputs of 32 MiB+): {spec.fresh_bytes_per_s / 1e9:.3g} GB/s beyond a warm write")
    if repeats > 1:
        spreads = ", ".join(f"{key} {result.spread(key):.0%}" for key in result.repeats)
        typer.echo(f"medians of {repeats} repeats; spread (max - min) / median: {spreads}")
    for warning in result.warnings:
        typer.echo(f"archscope: warning: {warning}", err=True)
    if output or not save_default:
        typer.echo(f"use it with: archscope profile MODEL.yaml --device-spec {targets[0]}")
    if save_default:
        typer.echo("archscope bench uses it by default for its roofline prediction")


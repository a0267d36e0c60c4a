"""``archscope blocks``, ``devices`` and ``calibrate``: what archscope knows, and measuring this machine."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from archscope.cli.common import OutputFormat, handles_errors
from archscope.errors import ArchscopeError


@handles_errors
def blocks(
    family: Optional[str] = typer.Option(None, "--family", help="Only this family (e.g. csp, heads, user)."),
    user_blocks: Optional[list[str]] = typer.Option(None, "--blocks", help="Also load this blocks file or module "
                                                    "(repeatable)."),
) -> None:
    """List the registered blocks: YAML name, family, signature, channel and repeat rule."""
    from rich.console import Console
    from rich.table import Table

    from archscope.build.catalog import default_registry
    from archscope.build.plugins import entry_point_names, load_blocks

    registry = default_registry()
    for item in user_blocks or ():
        load_blocks(item)
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("name", "family", "signature", "channels", "repeat", "also answers to"):
        table.add_column(column, overflow="fold")
    shown = 0
    known: set[str] = set()
    for spec in registry.blocks():
        known.update((spec.name, *spec.aliases))
        if family and spec.family != family:
            continue
        name = spec.name + (f" [{spec.dialect} dialect]" if spec.dialect else "")
        table.add_row(name, spec.family, spec.display_signature(), spec.channels.describe(),
                      spec.repeat.describe(), ", ".join(spec.aliases))
        shown += 1
    if not family or family == "plugin":
        for name in entry_point_names():  # listed from package metadata; imported only when a YAML uses them
            if name not in known:
                table.add_row(name, "plugin", "(loaded when a YAML uses it)", "", "", "")
                shown += 1
    if family and not shown:
        raise ArchscopeError(f"no blocks in family {family!r}")
    Console().print(table)


@handles_errors
def devices(
    fmt: Optional[OutputFormat] = typer.Option(None, "--format", "-f", help="table (default) or json."),
) -> None:
    """List the roofline device presets: peak FLOP/s per dtype, bandwidth, ridge point and source."""

    from rich.console import Console
    from rich.table import Table

    from archscope.devices.presets import PRESETS

    if fmt is not None and fmt.value == "json":
        from archscope.util.jsonio import dumps_strict  # no NaN/Infinity: such a figure is written as null

        sys.stdout.write(dumps_strict([spec.to_dict() for spec in PRESETS.values()], indent=2) + "\n")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("name", "peak TFLOP/s by dtype", "GB/s", "ridge FLOP/B", "source"):
        table.add_column(column, no_wrap=column != "peak TFLOP/s by dtype", overflow="ellipsis",
                         justify="right" if column in ("GB/s", "ridge FLOP/B") else "left")
    for spec in PRESETS.values():
        peaks = ", ".join(f"{d} {v / 1e12:g}" for d, v in spec.peak_flops.items())
        first = next(iter(spec.peak_flops))
        ridge = f"{spec.ridge_point(first):.1f} ({first})"
        bandwidth = "relative" if spec.relative_only else f"{spec.bandwidth / 1e9:g}"
        source = spec.source if len(spec.source) <= 60 else spec.source[:57] + "..."
        table.add_row(spec.name, "relative only" if spec.relative_only else peaks, bandwidth, ridge, source)
    console = Console()
    console.print(table)
    console.print("Aliases, full sources and notes: archscope devices --format json", style="dim")


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
) -> None:
    """Measure this machine's matmul FLOP/s per dtype and streaming bandwidth; save them as a device preset."""
    from archscope.devices.calibrate import calibrate as measure
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
    spec = measure(device, dtypes=[d.strip() for d in dtypes.split(",") if d.strip()], seconds=seconds, name=name)
    for target in targets:
        save_device(spec, target)
    peaks = ", ".join(f"{d} {v / 1e9:.1f} GFLOP/s" for d, v in spec.peak_flops.items())
    typer.echo(f"{spec.name}: {peaks}, bandwidth {spec.bandwidth / 1e9:.1f} GB/s -> {', '.join(targets)}")
    if output or not save_default:
        typer.echo(f"use it with: archscope profile MODEL.yaml --device-spec {targets[0]}")
    if save_default:
        typer.echo("archscope bench uses it by default for its roofline prediction")

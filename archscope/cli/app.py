"""The command line: options in, one API call, a renderer out. Nothing here imports torch at module level,
so ``archscope --help`` answers before torch would have finished importing."""

from __future__ import annotations

import functools
import os
import sys
from enum import Enum
from typing import Optional

import typer

from archscope.errors import ArchscopeError
from archscope.vocab import ANALYSIS_DTYPES, FORMAT_ALIASES, FORMATS

app = typer.Typer(
    name="archscope",
    help="What does this architecture change cost, and why? Profile Ultralytics-style model YAMLs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


# Choices as Enums built from the vocabulary, so --help, the API and the renderers name the same words.
OutputFormat = Enum("OutputFormat", {f: f for f in (*FORMATS, *FORMAT_ALIASES)}, type=str)  # type: ignore[misc]
Dtype = Enum("Dtype", {d: d for d in ANALYSIS_DTYPES}, type=str)  # type: ignore[misc]


class Counter(str, Enum):
    fvcore = "fvcore"
    thop = "thop"


def _fail(message: str, code: int) -> None:
    typer.echo(f"archscope: error: {message}", err=True)
    raise typer.Exit(code)


def handles_errors(command):
    """Input errors -> one line on stderr and exit 2; anything else -> one line and exit 1 (no traceback
    unless ARCHSCOPE_DEBUG is set)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ArchscopeError as exc:
            _fail(str(exc), 2)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except typer.Exit:
            raise
        except Exception as exc:  # noqa: BLE001 - the contract is: never a traceback for the user
            if os.environ.get("ARCHSCOPE_DEBUG"):
                raise
            detail = " ".join(str(exc).split())[:300]
            _fail(f"internal error ({type(exc).__name__}: {detail}); set ARCHSCOPE_DEBUG=1 for the traceback", 1)

    return wrapper


def _emit(report, fmt: Optional[OutputFormat], output: Optional[str], depth: int) -> None:
    from archscope.render.formats import format_for, render_text

    chosen = format_for(output, fmt.value if fmt else None)
    if output or chosen != "table":  # the table shows them itself; elsewhere they must not vanish into a file
        for finding in getattr(report, "findings", []):
            typer.echo(f"archscope: warning: {finding.message}", err=True)
    from archscope.render.table import print_report

    _deliver(chosen, output, "report", lambda fmt: render_text(report, fmt, depth=depth),
             lambda: print_report(report, depth=depth))


def _deliver(chosen: str, output: Optional[str], what: str, render, print_table) -> None:
    """One output path for every command: ``-o`` file (atomic), the Rich table, or text on stdout."""
    from archscope.util.files import write_atomic

    if output:
        write_atomic(output, render(chosen))
        typer.echo(f"wrote {chosen} {what} to {output}", err=True)
    elif chosen == "table":
        print_table()
    else:
        sys.stdout.write(render(chosen))


@app.command()
@handles_errors
def profile(
    model: str = typer.Argument(..., help="Model YAML (Ultralytics package or YOLOv5 repository dialect)."),
    scale: Optional[str] = typer.Option(None, "--scale", "-s", help="Scale to build (default: the YAML's "
                                        "'scale' key, else its first scale)."),
    imgsz: str = typer.Option("640", "--imgsz", help="Input size: 640 or HxW such as 640x384."),
    batch: int = typer.Option(1, "--batch", "-b", help="Batch size."),
    nc: Optional[int] = typer.Option(None, "--nc", help="Number of classes (default: the YAML's nc)."),
    ch: Optional[int] = typer.Option(None, "--ch", help="Input channels (default: the YAML's ch, else 3)."),
    fmt: Optional[OutputFormat] = typer.Option(None, "--format", "-f", help="Output format (default: table, or "
                                               "from the -o file's suffix)."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the report to this file."),
    depth: int = typer.Option(0, "--depth", "-d", help="Show sub-modules down to this depth under each layer."),
    dtype: Dtype = typer.Option(Dtype("fp32"), "--dtype", help="Element type for bytes moved and the roofline."),
    device_spec: Optional[str] = typer.Option(None, "--device-spec", "--device", help="Roofline device: a preset "
                                              "(see 'archscope devices') or a YAML/JSON file."),
    real: bool = typer.Option(False, "--real", help="Count on real CPU tensors instead of the meta device "
                              "(same figures, much slower)."),
    counter: Optional[Counter] = typer.Option(None, "--counter", help="Also report this tool's totals "
                                              "(optional extra: pip install 'archscope[fvcore]')."),
    blocks: Optional[list[str]] = typer.Option(None, "--blocks", help="A Python file (or module) with your own "
                                               "blocks; repeatable."),
    plot: Optional[str] = typer.Option(None, "--plot", help="Also draw the roofline with every layer as a point "
                                       "(.png, .svg or .html; on --device-spec, default cpu; needs matplotlib)."),
) -> None:
    """Per-layer parameters, shapes, FLOPs, bytes moved, arithmetic intensity and roofline time of a model YAML."""
    from archscope.api import profile as run_profile
    from archscope.util.files import check_writable

    if output:
        check_writable(output)  # fail before the work, not after it
    if plot:
        _check_plot(plot)
        device_spec = device_spec or "cpu"  # the picture needs a roof
    report = run_profile(model, scale=scale, imgsz=imgsz, batch=batch, nc=nc, ch=ch, dtype=dtype.value,
                         device_spec=device_spec, depth=depth, real=real,
                         counter=counter.value if counter else None, blocks=blocks or ())
    _emit(report, fmt, output, depth)
    if plot:
        from archscope.compare.comparison import compare_reports
        from archscope.devices.presets import load_device

        _save_plot(compare_reports([report], device=load_device(device_spec)), plot)


# --- compare, check, snapshot ----------------------------------------------------------------------------------------


def _load_user_blocks(blocks: Optional[list[str]]) -> None:
    from archscope.build.plugins import load_blocks

    for item in blocks or ():
        load_blocks(item)


def _check_plot(path: str) -> None:
    """Before any work: a known picture suffix, a writable place, and matplotlib installed."""
    from archscope.util.files import check_writable
    from archscope.render.plot import _matplotlib, plot_format

    plot_format(path)
    check_writable(path)
    _matplotlib()


def _save_plot(comparison, path: str) -> None:
    from archscope.render.plot import save_plot

    save_plot(comparison, path)
    typer.echo(f"wrote roofline plot to {path}", err=True)


@app.command()
@handles_errors
def compare(
    models: list[str] = typer.Argument(..., help="Two or more model YAMLs (file.yaml:s picks scale s) or report "
                                       "JSON files; the first is the reference."),
    imgsz: str = typer.Option("640", "--imgsz", help="Input size for the YAMLs: 640 or HxW."),
    batch: int = typer.Option(1, "--batch", "-b", help="Batch size for the YAMLs."),
    nc: Optional[int] = typer.Option(None, "--nc", help="Number of classes (default: each YAML's nc)."),
    ch: Optional[int] = typer.Option(None, "--ch", help="Input channels (default: each YAML's)."),
    dtype: Dtype = typer.Option(Dtype("fp32"), "--dtype", help="Element type for bytes moved and the roofline."),
    device_spec: str = typer.Option("cpu", "--device-spec", "--device", help="Roofline device for predicted "
                                    "times and the plot: a preset or a YAML/JSON file."),
    fmt: Optional[OutputFormat] = typer.Option(None, "--format", "-f", help="table (default), json, csv, "
                                               "markdown or html; or from the -o file's suffix."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the comparison to this file."),
    plot: Optional[str] = typer.Option(None, "--plot", help="Draw the roofline with every layer of every model "
                                       "(.png, .svg or .html; needs matplotlib)."),
    bench: bool = typer.Option(False, "--bench", help="Also measure each YAML model's latency (archscope bench)."),
    bench_device: str = typer.Option("auto", "--bench-device", help="Where --bench runs: auto, cpu, cuda, mps."),
    blocks: Optional[list[str]] = typer.Option(None, "--blocks", help="A Python file (or module) with your own "
                                               "blocks; repeatable."),
) -> None:
    """Models side by side: totals with deltas and ratios against the first, and the layers that differ."""
    _load_user_blocks(blocks)
    from archscope.api import compare as run_compare
    from archscope.render.formats import format_for
    from archscope.util.files import check_writable

    chosen = format_for(output, fmt.value if fmt else None)
    if output:
        check_writable(output)
    if plot:
        _check_plot(plot)
    comparison = run_compare(models, imgsz=imgsz, batch=batch, nc=nc, ch=ch, dtype=dtype.value,
                             device_spec=device_spec, bench=bench, bench_device=bench_device)
    from archscope.render.compare import print_comparison, render_comparison

    _deliver(chosen, output, "comparison", lambda fmt: render_comparison(comparison, fmt),
             lambda: print_comparison(comparison))
    if plot:
        _save_plot(comparison, plot)


@app.command()
@handles_errors
def snapshot(
    model: str = typer.Argument(..., help="Model YAML (file.yaml:s picks scale s)."),
    output: str = typer.Option("archscope-baseline.json", "--output", "-o", help="Where to write the baseline."),
    scale: Optional[str] = typer.Option(None, "--scale", "-s", help="Scale to build."),
    imgsz: str = typer.Option("640", "--imgsz", help="Input size: 640 or HxW."),
    batch: int = typer.Option(1, "--batch", "-b", help="Batch size."),
    nc: Optional[int] = typer.Option(None, "--nc", help="Number of classes (default: the YAML's)."),
    ch: Optional[int] = typer.Option(None, "--ch", help="Input channels (default: the YAML's)."),
    dtype: Dtype = typer.Option(Dtype("fp32"), "--dtype", help="Element type for bytes moved and the roofline."),
    device_spec: Optional[str] = typer.Option(None, "--device-spec", "--device", help="Also record roofline "
                                              "times on this device (checked by check --baseline)."),
    blocks: Optional[list[str]] = typer.Option(None, "--blocks", help="A Python file (or module) with your own "
                                               "blocks; repeatable."),
) -> None:
    """Write a baseline report (the JSON report plus its settings) for 'archscope check --baseline'."""
    _load_user_blocks(blocks)
    from archscope.api import snapshot as take
    from archscope.render.data import to_json
    from archscope.util.files import check_writable, write_atomic
    from archscope.spec.sources import parse_source

    check_writable(output)
    source = parse_source(model)
    if source.scale and scale and source.scale != scale:
        raise ArchscopeError(f"two scales given: ':{source.scale}' and --scale {scale}", file=source.path)
    report = take(source.path, scale=source.scale or scale, imgsz=imgsz, batch=batch, nc=nc, ch=ch,
                  dtype=dtype.value, device_spec=device_spec)
    write_atomic(output, to_json(report))
    t = report.totals
    typer.echo(f"wrote baseline for {model} to {output}: {t.params:,} params, {t.flops / 1e9:.3f} GFLOPs, "
               f"{t.bytes_unfused / 1e6:.2f} MB moved")


@app.command()
@handles_errors
def check(
    models: Optional[list[str]] = typer.Argument(None, help="Model YAMLs (file.yaml:s picks scale s). Without "
                                                 "budget options their budgets come from [tool.archscope]; "
                                                 "without models, every model there is checked."),
    max_params: Optional[str] = typer.Option(None, "--max-params", help="Parameter budget: 5M, 5.2M, 300k, "
                                             "2500000."),
    max_gflops: Optional[str] = typer.Option(None, "--max-gflops", help="GFLOPs per image (see "
                                             "--gflops-convention)."),
    gflops_convention: Optional[str] = typer.Option(None, "--gflops-convention", help="archscope (default: all "
                                                    "FLOPs), ultralytics or legacy: the figure those tools print."),
    max_bytes: Optional[str] = typer.Option(None, "--max-bytes", help="Unfused bytes moved: 400M, 400MB, 1.2G."),
    max_predicted_ms: Optional[str] = typer.Option(None, "--max-predicted-ms", help="Roofline time on "
                                                   "--device-spec, in ms."),
    baseline: Optional[str] = typer.Option(None, "--baseline", help="A report from 'archscope snapshot': fail on "
                                           "growth past --tolerance."),
    tolerance: Optional[str] = typer.Option(None, "--tolerance", help="Allowed growth against the baseline: 1% "
                                            "or 0.01 (default 0)."),
    config: Optional[str] = typer.Option(None, "--config", help="pyproject.toml to read [tool.archscope] from "
                                         "(default: the nearest one above the working directory)."),
    imgsz: Optional[str] = typer.Option(None, "--imgsz", help="Input size (default: the baseline's, else 640)."),
    batch: Optional[int] = typer.Option(None, "--batch", "-b", help="Batch size (default: the baseline's, else 1)."),
    dtype: Optional[Dtype] = typer.Option(None, "--dtype", help="Element type (default: the baseline's, else fp32)."),
    device_spec: Optional[str] = typer.Option(None, "--device-spec", "--device", help="Roofline device for "
                                              "--max-predicted-ms."),
    fmt: Optional[OutputFormat] = typer.Option(None, "--format", "-f", help="table (default), json or markdown."),
    blocks: Optional[list[str]] = typer.Option(None, "--blocks", help="A Python file (or module) with your own "
                                               "blocks; repeatable."),
) -> None:
    """CI gate: exit 0 when every budget holds, 1 when one fails, 2 on bad input. Appends a Markdown summary to
    $GITHUB_STEP_SUMMARY when it is set."""
    _load_user_blocks(blocks)
    from archscope.api import check as run_check
    from archscope.check.targets import resolve_targets
    from archscope.check.gate import budgets_from_options

    chosen = _check_format(fmt)
    budgets = budgets_from_options(max_params=max_params, max_gflops=max_gflops, max_bytes=max_bytes,
                                   max_predicted_ms=max_predicted_ms, convention=gflops_convention)
    targets = resolve_targets(models or [], budgets=budgets, baseline=baseline, tolerance=tolerance, config=config,
                              imgsz=imgsz, batch=batch, dtype=dtype.value if dtype else None,
                              device_spec=device_spec)
    outcome = run_check(targets)
    _write_step_summary(outcome)
    from archscope.render import verdict

    if chosen == "json":
        sys.stdout.write(verdict.to_json(outcome))
    elif chosen == "md":
        sys.stdout.write(verdict.to_markdown(outcome))
    else:
        verdict.print_verdict(outcome)
    if not outcome.passed:
        raise typer.Exit(1)


def _check_format(fmt: Optional[OutputFormat]) -> str:
    from archscope.render.formats import format_for

    chosen = format_for(None, fmt.value if fmt else None)
    if chosen not in ("table", "json", "md"):
        raise ArchscopeError(f"check prints table, json or markdown, not {chosen}")
    return chosen


def _write_step_summary(outcome) -> None:
    """GitHub Actions shows $GITHUB_STEP_SUMMARY on the run's page; append, as other steps write there too."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    from archscope.render.verdict import to_markdown

    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(to_markdown(outcome) + "\n")
    except OSError as exc:
        typer.echo(f"archscope: warning: cannot append to GITHUB_STEP_SUMMARY ({path}): {exc.strerror}", err=True)



@app.command()
@handles_errors
def bench(
    model: str = typer.Argument(..., help="Model YAML (Ultralytics package or YOLOv5 repository dialect)."),
    device: str = typer.Option("auto", "--device", help="auto (cuda, else mps, else cpu), cpu, cuda, cuda:N or mps."),
    imgsz: str = typer.Option("640", "--imgsz", help="Input size: 640 or HxW such as 640x384."),
    batch: str = typer.Option("1", "--batch", "-b", help="Batch size, or several: 1,8,32 (one result each)."),
    dtype: str = typer.Option("fp32", "--dtype", help="fp32, fp16 or bf16 (weights and input)."),
    channels_last: bool = typer.Option(False, "--channels-last", help="NHWC memory format for weights and input."),
    fuse: bool = typer.Option(False, "--fuse", help="Fold BatchNorm into the preceding convolution first."),
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
    nc: Optional[int] = typer.Option(None, "--nc", help="Number of classes (default: the YAML's nc)."),
    ch: Optional[int] = typer.Option(None, "--ch", help="Input channels (default: the YAML's ch, else 3)."),
    fmt: Optional[OutputFormat] = typer.Option(None, "--format", "-f", help="Output format (default: table, or "
                                               "from the -o file's suffix)."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the report to this file."),
    blocks: Optional[list[str]] = typer.Option(None, "--blocks", help="A Python file (or module) with your own "
                                               "blocks; repeatable."),
) -> None:
    """Time real forward passes (random seeded weights): median, mean, p10/p90, std, throughput, achieved FLOP/s."""
    _load_user_blocks(blocks)
    from archscope.api import bench as run_bench
    from archscope.render.formats import format_for
    from archscope.util.files import check_writable
    from archscope.render.progress import progress_bar

    if output:
        check_writable(output)
    chosen = format_for(output, fmt.value if fmt else None)
    with progress_bar() as progress:
        report = run_bench(model, scale=scale, nc=nc, ch=ch, imgsz=imgsz, batch=batch, device=device, dtype=dtype,
                           channels_last=channels_last, fuse=fuse, compile=compile_, threads=threads,
                           warmup=warmup, runs=runs, min_time=min_time, seed=seed, per_layer=per_layer,
                           device_spec=device_spec, progress=progress)
    _emit_bench(report, chosen, output)


def _emit_bench(report, chosen: str, output: Optional[str]) -> None:
    from archscope.render.bench import print_bench, render_bench

    _deliver(chosen, output, "bench report", lambda fmt: render_bench(report, fmt), lambda: print_bench(report))


@app.command()
@handles_errors
def blocks(
    family: Optional[str] = typer.Option(None, "--family", help="Only this family (e.g. csp, heads, user)."),
    user_blocks: Optional[list[str]] = typer.Option(None, "--blocks", help="Also load this blocks file or module "
                                                    "(repeatable)."),
) -> None:
    """List the registered blocks: YAML name, family, signature, channel and repeat rule."""
    from rich.console import Console
    from rich.table import Table

    from archscope.build.plugins import entry_point_names, load_blocks
    from archscope.build.catalog import default_registry

    registry = default_registry()
    for item in user_blocks or ():
        load_blocks(item)
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("name", "family", "signature", "channels", "repeat", "also answers to"):
        table.add_column(column, overflow="fold")
    shown = 0
    known = set()
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


@app.command()
@handles_errors
def devices(
    fmt: Optional[OutputFormat] = typer.Option(None, "--format", "-f", help="table (default) or json."),
) -> None:
    """List the roofline device presets: peak FLOP/s per dtype, bandwidth, ridge point and source."""
    import json

    from rich.console import Console
    from rich.table import Table

    from archscope.devices.presets import PRESETS

    if fmt is not None and fmt.value == "json":
        sys.stdout.write(json.dumps([spec.to_dict() for spec in PRESETS.values()], indent=2) + "\n")
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


@app.command()
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


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    if version:
        from archscope._version import __version__

        typer.echo(f"archscope {__version__}")
        raise typer.Exit()


def main() -> None:
    app()


if __name__ == "__main__":
    main()

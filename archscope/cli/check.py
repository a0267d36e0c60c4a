"""``archscope check``: budgets and baselines as a CI gate (exit 1 when one fails)."""

from __future__ import annotations

import os
from typing import Optional

import typer

from archscope.cli.common import Dtype, handles_errors
from archscope.cli.options import (
    AttentionOption,
    BlocksOption,
    BuilderOption,
    CheckFormat,
    CheckFormatOption,
    ColumnsOption,
    DeviceSpecOption,
    FuseOption,
    LegacyDeviceOption,
    NoCacheOption,
    format_value,
    one_builder,
    split_device,
)
from archscope.errors import ArchscopeError


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
    max_peak_memory: Optional[str] = typer.Option(None, "--max-peak-memory", help="Memory a forward needs "
                                                  "(weights + activation peak): 4GiB, 4GB, 512MiB."),
    max_train_memory: Optional[str] = typer.Option(None, "--max-train-memory", help="Steady-state peak of an "
                                                   "AdamW training step (fp32): 8GiB, 8GB."),
    baseline: Optional[str] = typer.Option(None, "--baseline", help="A report from 'archscope snapshot': fail on "
                                           "growth past --tolerance."),
    tolerance: Optional[str] = typer.Option(None, "--tolerance", help="Allowed growth against the baseline: 1% "
                                            "or 0.01 (default 0)."),
    config: Optional[str] = typer.Option(None, "--config", help="pyproject.toml to read [tool.archscope] from "
                                         "(default: the nearest one above the working directory)."),
    imgsz: Optional[str] = typer.Option(None, "--imgsz", help="Input size (default: the baseline's, else 640)."),
    batch: Optional[int] = typer.Option(None, "--batch", "-b", help="Batch size (default: the baseline's, else 1)."),
    dtype: Optional[Dtype] = typer.Option(None, "--dtype", help="Element type (default: the baseline's, else fp32)."),
    device_spec: DeviceSpecOption = None,
    device: LegacyDeviceOption = None,
    fmt: CheckFormatOption = None,
    blocks: BlocksOption = None,
    builder: BuilderOption = None,
    fuse: FuseOption = None,
    no_cache: NoCacheOption = False,
    columns: ColumnsOption = None,
    attention: AttentionOption = None,
) -> None:
    """CI gate: exit 0 when every budget holds, 1 when one fails, 2 on bad input. Appends a Markdown summary to
    $GITHUB_STEP_SUMMARY when it is set. A check whose inputs are all unchanged answers from a cache without
    importing torch (see --no-cache)."""
    device_spec, _ = split_device("check", device, device_spec)
    from archscope.api import check as run_check
    from archscope.check.gate import budgets_from_options
    from archscope.check.targets import find_pyproject, resolve_targets

    chosen = _check_format(fmt)
    budgets = budgets_from_options(max_params=max_params, max_gflops=max_gflops, max_bytes=max_bytes,
                                   max_predicted_ms=max_predicted_ms, convention=gflops_convention,
                                   max_peak_memory=max_peak_memory, max_train_memory=max_train_memory)
    targets = resolve_targets(models or [], budgets=budgets, baseline=baseline, tolerance=tolerance, config=config,
                              imgsz=imgsz, batch=batch, dtype=dtype.value if dtype else None,
                              device_spec=device_spec, fuse=fuse, attention=attention)
    discovered = not (budgets.any or baseline) and config is None
    config_file = None if budgets.any or baseline else (config or find_pyproject())  # where the targets came from
    code = one_builder(builder)
    outcome = run_check(targets, blocks=blocks or (), config=config_file, cache=not no_cache, builder=code)
    # the pre-typer replay shows the default columns only; a check built by their code is never replayed
    if not no_cache and not columns and code in (None, "native"):
        _index_command_line(targets, blocks or (), config_file, discovered, chosen)
    from archscope.cli.fastpath import show_verdict

    show_verdict(outcome, chosen, columns=columns)
    if not outcome.passed:
        raise typer.Exit(1)


def _index_command_line(targets, blocks, config_file, discovered: bool, chosen: str) -> None:
    """Let the next run of this very command line answer before typer is imported (archscope.cli.fastpath)."""
    from archscope.check import cache
    from archscope.cli.fastpath import ARGV

    if ARGV is None:  # not the real command line (typer's test runner): nothing to index it by
        return
    key = cache.cache_key(targets, blocks=blocks, config=config_file)
    files = cache.watched_files(targets, blocks=blocks, config=config_file, discovered=discovered)
    if key and files is not None and cache.entry_path(key).is_file():
        cache.store_index(ARGV, os.getcwd(), key, chosen, files)


def _check_format(fmt: Optional[CheckFormat]) -> str:  # type: ignore[valid-type]
    from archscope.render.formats import format_for

    chosen = format_for(None, format_value(fmt))
    if chosen not in ("table", "json", "md"):
        raise ArchscopeError(f"check prints table, json or markdown, not {chosen}")
    return chosen


def _write_step_summary(outcome) -> None:
    from archscope.cli.fastpath import write_step_summary

    write_step_summary(outcome)

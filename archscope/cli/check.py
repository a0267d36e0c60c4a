"""``archscope check``: budgets and baselines as a CI gate (exit 1 when one fails)."""

from __future__ import annotations

import os
import sys
from typing import Optional

import typer

from archscope.cli.common import Dtype, OutputFormat, handles_errors, load_user_blocks
from archscope.cli.options import BlocksOption, ColumnsOption, FuseOption
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
    blocks: BlocksOption = None,
    fuse: FuseOption = None,
    columns: ColumnsOption = None,
) -> None:
    """CI gate: exit 0 when every budget holds, 1 when one fails, 2 on bad input. Appends a Markdown summary to
    $GITHUB_STEP_SUMMARY when it is set."""
    load_user_blocks(blocks)
    from archscope.api import check as run_check
    from archscope.check.gate import budgets_from_options
    from archscope.check.targets import resolve_targets

    chosen = _check_format(fmt)
    budgets = budgets_from_options(max_params=max_params, max_gflops=max_gflops, max_bytes=max_bytes,
                                   max_predicted_ms=max_predicted_ms, convention=gflops_convention)
    targets = resolve_targets(models or [], budgets=budgets, baseline=baseline, tolerance=tolerance, config=config,
                              imgsz=imgsz, batch=batch, dtype=dtype.value if dtype else None,
                              device_spec=device_spec, fuse=fuse)
    outcome = run_check(targets)
    _write_step_summary(outcome)
    from archscope.render import verdict

    if chosen == "json":
        sys.stdout.write(verdict.to_json(outcome))
    elif chosen == "md":
        sys.stdout.write(verdict.to_markdown(outcome))
    else:
        from archscope.render.fit import parse_columns

        verdict.print_verdict(outcome, columns=parse_columns(columns))
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

"""What every command shares: the option choices (from the vocabulary), the one error handler, the output
path (an atomic ``-o`` file, the table, or stdout) and loading user blocks."""

from __future__ import annotations

import functools
import os
import sys
from enum import Enum
from typing import Optional

import typer
from typer.core import TyperGroup

from archscope.errors import ArchscopeError
from archscope.vocab import ANALYSIS_DTYPES, FORMAT_ALIASES, FORMATS

# Choices as Enums built from the vocabulary, so --help, the API and the renderers name the same words.
_FORMAT_CHOICES = [c for f in FORMATS for c in (f, *(a for a, to in FORMAT_ALIASES.items() if to == f))]
OutputFormat = Enum("OutputFormat", {c: c for c in _FORMAT_CHOICES}, type=str)  # type: ignore[misc]
Dtype = Enum("Dtype", {d: d for d in ANALYSIS_DTYPES}, type=str)  # type: ignore[misc]


class Counter(str, Enum):
    fvcore = "fvcore"
    thop = "thop"  # PyPI thop 0.1.1 or ultralytics-thop 2.x: the same module, told apart by distribution
    ptflops = "ptflops"
    calflops = "calflops"
    torchinfo = "torchinfo"


MAX_MESSAGE = 400  # characters of one error line; longer ones (a huge list echoed back) are cut in the middle
_ERROR_PREFIX = "archscope: error: "


def one_error_line(message: str) -> str:
    """``archscope: error: <message>`` on one line of at most MAX_MESSAGE characters, the prefix included."""
    text = " ".join(str(message).split())
    room = MAX_MESSAGE - len(_ERROR_PREFIX)
    if len(text) > room:
        text = text[: room - 100] + " ... " + text[-95:]
    return _ERROR_PREFIX + text


def fail(message: str, code: int) -> None:
    typer.echo(one_error_line(message), err=True)
    raise typer.Exit(code)


def interrupted() -> None:
    """Ctrl-C: one line, exit 130 (a SystemExit, so nothing prints a traceback or click's "Aborted!")."""
    from archscope.errors import Interrupted

    try:
        sys.stderr.write("archscope: interrupted\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    raise Interrupted()


def _click_errors():
    """click's exception classes: vendored in typer >= 0.22 (typer._click), the click package before."""
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - older typer, on the click package
        import importlib

        exceptions = importlib.import_module("click.exceptions")
    return exceptions.ClickException, getattr(exceptions, "NoArgsIsHelpError", ()), exceptions.UsageError


class OneLineErrors(TyperGroup):
    """The root command: a usage error (an unknown option, ``--batch abc``) is one line and exit 2 like every
    other input error, not click's usage box; Ctrl-C while the options are read is "archscope: interrupted"."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        ClickException, NoArgsIsHelpError, UsageError = _click_errors()
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except UsageError as exc:
            path = exc.ctx.command_path if exc.ctx is not None else "archscope"
            typer.echo(one_error_line(f"{exc.format_message()} (see '{path} --help')"), err=True)
            sys.exit(2)
        except ClickException as exc:
            typer.echo(one_error_line(exc.format_message()), err=True)
            sys.exit(exc.exit_code)
        except (typer.Abort, KeyboardInterrupt):
            interrupted()
        sys.exit(code if isinstance(code, int) else 0)


def handles_errors(command):
    """Input errors -> one line on stderr and exit 2; anything else -> one line and exit 1 (no traceback
    unless ARCHSCOPE_DEBUG is set)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ArchscopeError as exc:
            fail(str(exc), 2)
        except KeyboardInterrupt:
            interrupted()
        except (typer.Exit, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the contract is: never a traceback for the user
            if os.environ.get("ARCHSCOPE_DEBUG"):
                raise
            detail = " ".join(str(exc).split())[:300]
            fail(f"internal error ({type(exc).__name__}: {detail}); set ARCHSCOPE_DEBUG=1 for the traceback", 1)

    return wrapper


def emit_report(report, fmt: Optional[OutputFormat], output: Optional[str], depth: int,
                columns: Optional[list[str]] = None) -> None:
    from archscope.render.formats import format_for, render_text

    chosen = format_for(output, fmt.value if fmt else None)
    if output or chosen != "table":  # the table shows them itself; elsewhere they must not vanish into a file
        for finding in getattr(report, "findings", []):
            typer.echo(f"archscope: warning: {finding.message}", err=True)
    from archscope.render.fit import parse_columns
    from archscope.render.table import print_report

    wanted = parse_columns(columns)
    deliver(chosen, output, "report", lambda fmt: render_text(report, fmt, depth=depth, columns=wanted),
             lambda: print_report(report, depth=depth, columns=wanted))


def deliver(chosen: str, output: Optional[str], what: str, render, print_table) -> None:
    """One output path for every command: ``-o`` file (atomic), the Rich table, or text on stdout."""
    from archscope.util.files import write_atomic

    if output:
        write_atomic(output, render(chosen))
        typer.echo(f"wrote {chosen} {what} to {output}", err=True)
    elif chosen == "table":
        print_table()
    else:
        sys.stdout.write(render(chosen))




def load_user_blocks(blocks: Optional[list[str]]) -> None:
    from archscope.build.plugins import load_blocks

    for item in blocks or ():
        load_blocks(item)


def check_plot(path: str) -> None:
    """Before any work: a known picture suffix, a writable place, and matplotlib installed."""
    from archscope.render.plot import _matplotlib, plot_format
    from archscope.util.files import check_writable

    plot_format(path)
    check_writable(path)
    _matplotlib()


def save_plot(comparison, path: str) -> None:
    from archscope.render.plot import save_plot

    save_plot(comparison, path)
    typer.echo(f"wrote roofline plot to {path}", err=True)



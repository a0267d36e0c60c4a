"""The command line: options in, one API call, a renderer out. One module per command (``profile``, ``compare``
with ``snapshot``, ``check``, ``bench``, ``info`` with ``blocks``/``devices``/``calibrate``), shared options in
``common``. Nothing here imports torch at module level, so ``archscope --help`` answers before torch would have
finished importing."""

from __future__ import annotations

import re
import sys
from contextlib import contextmanager

try:  # Ctrl-C while the command line is still importing: one line, exit 130 (main() takes over from there)
    import typer
    from typer.core import TyperCommand, TyperGroup

    from archscope.cli import bench, check, compare, explain, info, profile, sweep
    from archscope.cli.common import OneLineErrors
except KeyboardInterrupt:
    sys.stderr.write("archscope: interrupted\n")
    raise SystemExit(130) from None

NARROW = 100  # below this many columns help is click's plain layout: Rich's panels would cut words to "…" there


def _plain_types(params) -> list:
    """Flags without a ``<bool>`` and lists named by their element, for every command (an option added later too)."""
    for param in params:
        if getattr(param, "_archscope_plain", False):
            continue
        param._archscope_plain = True
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""  # a flag takes no value: show none
        elif param.metavar is None:
            for name in ("display_type", "display_type_rich"):  # plain and Rich help
                shown = getattr(param, name)

                def display(ctx, _shown=shown):
                    label = _shown(ctx)
                    return re.sub(r"^<list\[(.*)\]>$", r"<\1>", label) if isinstance(label, str) else label

                setattr(param, name, display)
    return params


@contextmanager
def _help_as_written(objects):
    """Rich reads ``[...]`` in help as markup (``[tool.archscope]``, ``archscope[fvcore]`` would vanish): escape
    every help text while Rich renders it, and give the plain text back after."""
    from rich.markup import escape

    saved = [(obj, obj.help) for obj in objects if getattr(obj, "help", None)]
    for obj, text in saved:
        obj.help = escape(text)
    try:
        yield
    finally:
        for obj, text in saved:
            obj.help = text


def _format_help(command, parent, ctx, formatter, objects) -> None:
    from rich.console import Console

    if Console().width < NARROW:  # $COLUMNS, the terminal, else 80 in a pipe
        for sub in getattr(command, "commands", {}).values():  # the whole sentence, wrapped, not cut to "..."
            if sub.help and not sub.short_help:
                sub.short_help = " ".join(sub.help.split("\n\n")[0].split())
        mode, command.rich_markup_mode = command.rich_markup_mode, None
        try:
            parent.format_help(command, ctx, formatter)
        finally:
            command.rich_markup_mode = mode
        return
    with _help_as_written(objects):
        parent.format_help(command, ctx, formatter)


class _Command(TyperCommand):
    def get_params(self, ctx):
        return _plain_types(super().get_params(ctx))

    def format_help(self, ctx, formatter) -> None:
        _format_help(self, TyperCommand, ctx, formatter, [self, *self.get_params(ctx)])


class _Group(OneLineErrors):  # one-line usage errors (common.py), and help that keeps its words
    def get_params(self, ctx):
        return _plain_types(super().get_params(ctx))

    def format_help(self, ctx, formatter) -> None:
        _format_help(self, TyperGroup, ctx, formatter, [self, *self.get_params(ctx), *self.commands.values()])


app = typer.Typer(
    name="archscope",
    cls=_Group,
    help="What does this architecture change cost, and why? Profile Ultralytics-style model YAMLs.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish and PowerShell
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


for _command in (profile.profile, compare.compare, compare.snapshot, check.check, bench.bench, explain.explain,
                 info.blocks, info.devices, info.calibrate, sweep.sweep):
    app.command(cls=_Command)(_command)


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", "-V", help="Print the version and exit.", is_eager=True),
) -> None:
    if version:
        from archscope._version import __version__

        typer.echo(f"archscope {__version__}")
        raise typer.Exit()


def main() -> None:
    """The ``archscope`` command. Ctrl-C at any moment prints "archscope: interrupted" and exits 130: the SIGINT
    handler raises :class:`archscope.errors.Interrupted` (a SystemExit, so no traceback and no "Aborted!")."""
    import signal

    from archscope.cli.common import interrupted

    try:
        signal.signal(signal.SIGINT, lambda *_: interrupted())
    except (ValueError, OSError):  # not the main thread, or no signals here: KeyboardInterrupt is still handled
        pass
    try:
        app()
    except KeyboardInterrupt:
        interrupted()
    finally:  # the work is done (or refused): a Ctrl-C now must not turn the finished run into a killed process
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        except (ValueError, OSError):
            pass


if __name__ == "__main__":
    main()

"""The command line: options in, one API call, a renderer out. One module per command (``profile``, ``compare``
with ``snapshot``, ``check``, ``bench``, ``info`` with ``blocks``/``devices``/``calibrate``), shared options in
``common``. Nothing here imports torch at module level, so ``archscope --help`` answers before torch would have
finished importing."""

from __future__ import annotations

import re

import typer
from typer.core import TyperCommand, TyperGroup

from archscope.cli import bench, check, compare, info, profile


def _plain_help(params) -> list:
    """Help as written: Rich markup escaped (``[tool.archscope]``, ``archscope[fvcore]`` stay), flags without a
    ``<bool>``, lists named by their element. Applied to every command, so an option added later is covered too."""
    from rich.markup import escape

    for param in params:
        if getattr(param, "_archscope_plain", False):
            continue
        param._archscope_plain = True
        if getattr(param, "help", None):
            param.help = escape(param.help)
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""  # a flag takes no value: show none
        elif param.metavar is None:
            shown = param.display_type_rich  # bound method of Typer's parameter

            def display(ctx, _shown=shown):
                label = _shown(ctx)
                return re.sub(r"^<list\[(.*)\]>$", r"<\1>", label) if isinstance(label, str) else label

            param.display_type_rich = display
    return params


class _Command(TyperCommand):
    def get_params(self, ctx):
        if self.help and not getattr(self, "_archscope_plain", False):
            from rich.markup import escape

            self.help, self._archscope_plain = escape(self.help), True
        return _plain_help(super().get_params(ctx))


class _Group(TyperGroup):
    def get_params(self, ctx):
        return _plain_help(super().get_params(ctx))


app = typer.Typer(
    name="archscope",
    cls=_Group,
    help="What does this architecture change cost, and why? Profile Ultralytics-style model YAMLs.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish and PowerShell
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


for _command in (profile.profile, compare.compare, compare.snapshot, check.check, bench.bench, info.blocks,
                 info.devices, info.calibrate):
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
    app()


if __name__ == "__main__":
    main()

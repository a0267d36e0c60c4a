"""The command line: options in, one API call, a renderer out. One module per command (``profile``, ``compare``
with ``snapshot``, ``check``, ``bench``, ``info`` with ``blocks``/``devices``/``calibrate``), shared options in
``common``. Nothing here imports torch at module level, so ``archscope --help`` answers before torch would have
finished importing."""

from __future__ import annotations

import sys

try:  # Ctrl-C while the command line is still importing: one line, exit 130 (main() takes over from there)
    import typer

    from archscope.cli import bench, check, compare, info, profile
    from archscope.cli.common import OneLineErrors
except KeyboardInterrupt:
    sys.stderr.write("archscope: interrupted\n")
    raise SystemExit(130) from None

app = typer.Typer(
    name="archscope",
    cls=OneLineErrors,
    help="What does this architecture change cost, and why? Profile Ultralytics-style model YAMLs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)



for _command in (profile.profile, compare.compare, compare.snapshot, check.check, bench.bench, info.blocks,
                 info.devices, info.calibrate):
    app.command()(_command)


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
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


if __name__ == "__main__":
    main()

"""The ``archscope`` command's entry point: a check the cache can answer (:mod:`archscope.cli.fastpath`) ends here,
before typer is imported; everything else goes on to the typer app."""

from __future__ import annotations

import sys


def main() -> None:
    from archscope.cli.fastpath import answer_check_from_cache

    answer_check_from_cache(sys.argv[1:])
    from archscope.cli.app import main as run_app

    run_app()

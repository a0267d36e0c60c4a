"""``archscope check`` answered before the command line is parsed: when this very command line ran in this folder
before, and every file it read is byte for byte the same (:func:`archscope.check.cache.lookup_index`), its stored
verdict is printed and the process exits, before typer, pydantic or torch are imported (a pre-commit hook pays
only for Python's start). Anything else falls through to the ordinary command."""

from __future__ import annotations

import os
import sys

ARGV: list[str] | None = None  # the real command line of a ``check`` (None under typer's test runner)
CACHED_NOTE = "archscope: (cached) nothing the check reads has changed since its last run; --no-cache recomputes"
_NO_FAST_PATH = ("--no-cache", "-h", "--help")


def answer_check_from_cache(argv: list[str]) -> None:
    """Exit with the stored verdict's code when ``argv`` (without the program name) is a check the cache knows."""
    global ARGV
    if not argv or argv[0] != "check":
        return
    ARGV = list(argv)
    if any(arg in _NO_FAST_PATH for arg in argv[1:]):
        return
    try:
        try:
            from archscope.check.cache import lookup_index

            found = lookup_index(argv, os.getcwd())
        except Exception:  # noqa: BLE001 - the cache may only ever save time: anything odd, and the check runs
            return
        if found is None:
            return
        outcome, chosen = found
        outcome.cached = True
        show_verdict(outcome, chosen)
    except KeyboardInterrupt:
        sys.stderr.write("archscope: error: interrupted\n")
        raise SystemExit(130) from None
    raise SystemExit(0 if outcome.passed else 1)


def show_verdict(outcome, chosen: str, columns: list[str] | None = None) -> None:
    """What ``check`` prints for a verdict, cached or not: the note, the step summary, then the verdict (the table
    with the ``--columns`` asked for)."""
    from archscope.render import verdict

    if outcome.cached:
        sys.stderr.write(CACHED_NOTE + "\n")
        sys.stderr.flush()
    write_step_summary(outcome)
    if chosen == "json":
        sys.stdout.write(verdict.to_json(outcome))
    elif chosen == "md":
        sys.stdout.write(verdict.to_markdown(outcome))
    else:
        from archscope.render.fit import parse_columns

        verdict.print_verdict(outcome, columns=parse_columns(columns))


def write_step_summary(outcome) -> None:
    """GitHub Actions shows $GITHUB_STEP_SUMMARY on the run's page; append, as other steps write there too."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    from archscope.render.verdict import to_markdown

    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(to_markdown(outcome) + "\n")
    except OSError as exc:
        sys.stderr.write(f"archscope: warning: cannot append to GITHUB_STEP_SUMMARY ({path}): {exc.strerror}\n")

"""A Rich progress bar for long runs: on stderr, and only when stderr is a terminal (never in pipes or logs)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

REFRESH_S = 0.1


@contextmanager
def progress_bar(enabled: bool | None = None, *, console: Any = None,
                 clock: Callable[[], float] = time.perf_counter
                 ) -> Iterator[Callable[[str, int, int | None], None] | None]:
    """Yields ``update(phase, done, total)``, or None when no bar is shown. No refresh thread runs: the bar is
    redrawn from ``update`` (between runs and warm-up calls, at most every 0.1 s by ``clock``, and at once when the
    phase changes or one ends), so it cannot steal CPU inside a timed run. ``console`` (default: stderr) and
    ``clock`` exist for the tests."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = console or Console(stderr=True)
    if not (console.is_terminal if enabled is None else enabled):
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, auto_refresh=False, transient=True) as bar:
        first = bar.add_task("building the model", total=None)
        state: dict[str, Any] = {"phase": None, "drawn": clock(), "task": first}
        bar.refresh()

        def update(phase: str, done: int, total: int | None) -> None:
            now = clock()
            changed = phase != state["phase"]
            if changed:  # one line, showing the current phase: a new task, so no figure of the last one lingers
                state["phase"] = phase
                bar.remove_task(state["task"])
                state["task"] = bar.add_task(phase, total=total, completed=done)
            else:
                bar.update(state["task"], completed=done, total=total)
            if changed or now - state["drawn"] >= REFRESH_S or done == total:
                state["drawn"] = now
                bar.refresh()

        yield update

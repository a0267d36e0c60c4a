"""Tables that fit the width they are printed at: every column keeps the width of its longest number (a figure is
never cut to "…"), text columns wrap at spaces, and when even that is too wide the lowest-priority columns are left
out and named in one line. ``--columns`` picks the columns (and their order) by name."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from archscope.errors import ArchscopeError

GAP = 2  # Rich's default padding (0, 1) with pad_edge=False: two spaces between columns, none at the edges


@dataclass(frozen=True)
class Col:
    """One column: its header, the name ``--columns`` knows it by, and how it may give way when space is short."""

    header: str
    key: str
    number: bool = False  # right-aligned, never wrapped
    priority: int = 5  # columns with the highest number are left out first
    fold: bool = False  # text that may wrap at spaces (never inside a word)
    least: int = 12  # a folding column narrower than this (or its longest word) is left out instead
    aliases: tuple[str, ...] = ()


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9#]", "", name.lower())


def parse_columns(value: str | Sequence[str] | None) -> list[str] | None:
    """``params,gflops,bound`` (or a repeated option) -> ``["params", "gflops", "bound"]``; None keeps the default."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    names = [part.strip() for item in items for part in item.split(",") if part.strip()]
    return names or None


def select(cols: Sequence[Col], wanted: Sequence[str] | None) -> list[int]:
    """Indexes of the chosen columns in the order asked for; every column when nothing was asked for."""
    if not wanted:
        return list(range(len(cols)))
    lookup: dict[str, int] = {}
    for i, col in enumerate(cols):
        for name in (col.key, col.header, *col.aliases):
            lookup.setdefault(_norm(name), i)
    chosen: list[int] = []
    for name in wanted:
        found = lookup.get(_norm(name))
        if found is None:
            known = ", ".join(col.key for col in cols)
            raise ArchscopeError(f"unknown column {name!r} for this table; choose from: {known}")
        if found not in chosen:
            chosen.append(found)
    return chosen


def _words(text: str) -> int:
    return max((cell_len(w) for w in text.split()), default=0)


def _as_text(cell: str | Text) -> Text:
    return cell if isinstance(cell, Text) else Text(cell)


def _cell_text(cell: str | Text) -> str:
    return cell.plain if isinstance(cell, Text) else cell


def layout(cols: Sequence[Col], rows: Sequence[Sequence[str | Text]], width: int | None,
           wanted: Sequence[str] | None = None) -> tuple[list[int], list[int], list[int]]:
    """(kept column indexes, their widths, dropped column indexes) for ``width`` characters (None: no limit)."""
    order = select(cols, wanted)
    natural: dict[int, int] = {}
    least: dict[int, int] = {}
    for i in order:
        texts = [_cell_text(row[i]) for row in rows]
        longest = max((cell_len(t) for t in texts), default=0)
        natural[i] = max(longest, cell_len(cols[i].header))
        head = _words(cols[i].header)
        if cols[i].fold:
            least[i] = max(head, max((_words(t) for t in texts), default=0), min(natural[i], cols[i].least))
        else:
            least[i] = max(longest, head)
    kept = list(order)
    dropped: list[int] = []

    def total(columns: list[int]) -> int:
        return sum(least[i] for i in columns) + GAP * max(len(columns) - 1, 0)

    while width is not None and len(kept) > 1 and total(kept) > width:
        worst = max(kept, key=lambda i: (cols[i].priority, kept.index(i)))  # lowest priority, rightmost first
        for i in [i for i in kept if cols[i].header == cols[worst].header]:  # a repeated column goes as a whole
            kept.remove(i)
            dropped.append(i)
    widths = {i: least[i] if width is not None else natural[i] for i in kept}
    spare = 0 if width is None else width - total(kept)
    short = sorted((i for i in kept if widths[i] < natural[i]), key=lambda i: cols[i].priority)
    while spare > 0 and short:  # room left: unwrap the text columns a character at a time, evenly
        for i in list(short):
            if spare == 0:
                break
            widths[i] += 1
            spare -= 1
            if widths[i] >= natural[i]:
                short.remove(i)
    return kept, [widths[i] for i in kept], [i for i in order if i in dropped]


def fit_table(cols: Sequence[Col], rows: Sequence[Sequence[str | Text]], width: int | None,
              wanted: Sequence[str] | None = None, row_styles: Sequence[str | None] | None = None,
              measure: Sequence[Sequence[str | Text]] | None = None) -> tuple[Table, list[str]]:
    """A Rich table of ``rows`` within ``width`` and the headers of the columns left out; ``measure``: the rows
    the widths are taken from, when several tables are to line up."""
    kept, widths, dropped = layout(cols, rows if measure is None else measure, width, wanted)
    table = Table(box=None, header_style="bold", pad_edge=False, show_edge=False)
    for i, w in zip(kept, widths):
        col = cols[i]
        table.add_column(col.header, justify="right" if col.number else "left", width=w, no_wrap=False,
                         overflow="fold")
    for k, row in enumerate(rows):
        cells = [_as_text(row[i]) for i in kept]  # Text: brackets in a cell stay text, never markup
        table.add_row(*cells, style=(row_styles[k] if row_styles else None))
    return table, [cols[i].header for i in dropped]


def dropped_line(dropped: Sequence[str], width: int | None, hint: str) -> str | None:
    """One line naming the columns left out, or None."""
    if not dropped:
        return None
    names = ", ".join(dropped)
    return f"not shown at {width} columns: {names} ({hint})"


def output_console(wide: int) -> Console:
    """The console for a command's table: the terminal's width, or ``$COLUMNS`` when set (a pipe, a CI log);
    otherwise (a pipe with no width to respect) ``wide``."""
    console = Console()
    if console.is_terminal or os.environ.get("COLUMNS", "").strip().isdigit():
        return console
    return Console(width=wide)

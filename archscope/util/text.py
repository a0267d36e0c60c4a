"""Words every stage uses the same way: did-you-mean hints, one-line error text, positive-integer checks."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


def close_matches(word: str, choices: Iterable[str], *, n: int = 1, cutoff: float = 0.6) -> list[str]:
    """The choices ``word`` was probably meant to be: a case slip (``C2F`` for ``C2f``) first, else fuzzy matches."""
    choices = list(choices)
    by_case = {c.lower(): c for c in choices}
    if word.lower() in by_case:
        return [by_case[word.lower()]]
    return difflib.get_close_matches(word, choices, n=n, cutoff=cutoff)


def did_you_mean(word: str, choices: Iterable[str], *, n: int = 1, cutoff: float = 0.6) -> str:
    """``"did you mean 'a'?"`` (or ``'a' or 'b'``), or ``""`` when nothing is close."""
    close = close_matches(word, choices, n=n, cutoff=cutoff)
    return f"did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def one_line(exc: BaseException, *, limit: int = 300, with_type: bool = False) -> str:
    """An exception's message on one line, cut to ``limit`` characters (what a located error may quote)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if with_type:
        text = f"{type(exc).__name__}: {text}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def positive_int(value: Any, what: str, *, error: type[Exception] | None = None, **location: Any) -> int:
    """``value`` when it is an int >= 1 (a bool is not), else ``error`` (default ArchscopeError, with ``location``:
    file=, line=, layer=) saying ``"<what> must be a positive integer, got <value>"``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        message = f"{what} must be a positive integer, got {value!r}"
        if error is None:
            from archscope.errors import ArchscopeError

            raise ArchscopeError(message, **location)
        raise error(message)
    return value

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


def _spelling_key(name: str) -> str:
    """A name as its spelling is compared: lower case, ``nn.``/``torch.nn.`` dropped, only letters and digits."""
    key = name.lower()
    for prefix in ("torch.nn.", "nn."):
        if key.startswith(prefix):
            key = key[len(prefix):]
    return "".join(c for c in key if c.isascii() and c.isalnum())


def _edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of neighbours."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def close_spellings(word: str, choices: Iterable[str]) -> list[str]:
    """The choices ``word`` is a misspelling of, and nothing that is merely a similar name.

    For block names, where a near name is usually a different block (``C3TR`` is not ``C3``, ``DDetect`` is not
    ``Detect``, ``C2PSA`` is not ``C2fPSA``): a match is the same name up to case and punctuation (``c2f``,
    ``C2F`` -> ``C2f``; ``SPPF_`` -> ``SPPF``), else a slip of one character (one substitution or one swap of
    neighbours in a name of five or more letters, or one letter too many or too few in a name of nine or more; two
    such slips from fourteen letters on) that keeps the name's digits and is not the other name with something
    added at its start or end."""
    choices = list(choices)
    key = _spelling_key(word)
    if not key:
        return []
    same = [c for c in choices if _spelling_key(c) == key]
    if same:
        exact_case = [c for c in same if c.lower() == word.lower()]
        return (exact_case or same)[:1]
    digits = [c for c in key if c.isdigit()]
    found: list[tuple[int, str]] = []
    for choice in choices:
        other = _spelling_key(choice)
        if not other or [c for c in other if c.isdigit()] != digits:
            continue
        if key.startswith(other) or key.endswith(other) or other.startswith(key) or other.endswith(key):
            continue  # a prefix or suffix more or less: another block of the family, not a typo
        shorter = min(len(key), len(other))
        allowed = 2 if shorter >= 14 else 1
        distance = _edit_distance(key, other)
        if distance > allowed or shorter < 5 or (len(key) != len(other) and shorter < 9):
            continue
        found.append((distance, choice))
    found.sort()
    return [c for d, c in found if d == found[0][0]][:2] if found else []

"""What a user names on the command line: a model YAML (optionally ``file.yaml:scale``) or a report JSON.

``compare`` and ``check`` take both; a report JSON is read as it is (no torch), a YAML is profiled
(:func:`archscope.api.load_source`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from archscope.errors import ArchscopeError

REPORT_SUFFIXES = (".json",)


@dataclass(frozen=True)
class Source:
    path: str
    scale: str | None = None

    @property
    def is_report(self) -> bool:
        return self.path.lower().endswith(REPORT_SUFFIXES)

    def __str__(self) -> str:
        return self.path + (f":{self.scale}" if self.scale else "")


def parse_source(text: str) -> Source:
    """``"m.yaml:s"`` -> Source("m.yaml", "s"). A path that exists as written wins, so a file name may hold a colon."""
    text = str(text)
    path, sep, scale = text.rpartition(":")
    if not sep or os.path.exists(text) or not path or any(c in scale for c in "/\\"):
        return Source(text)
    if not scale:
        raise ArchscopeError("empty scale after ':' (write file.yaml:s, or leave the ':' out)", file=path)
    return Source(path, scale)

"""The error contract: every input problem is one ArchscopeError with a location.

The CLI prints ``str(error)`` on one line and exits with code 2; the Python API lets it propagate.
"""

from __future__ import annotations

from typing import Any


class ArchscopeError(Exception):
    """A problem with the user's input (file, YAML, option), never a bug in archscope.

    ``file``, ``line`` (1-based YAML line) and ``layer`` (YAML layer index) are filled in where they apply,
    so the message can point at the exact row of the model file.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        layer: int | None = None,
        module: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.layer = layer
        self.module = module

    def located(
        self,
        *,
        file: str | None = None,
        line: int | None = None,
        layer: int | None = None,
        module: str | None = None,
    ) -> ArchscopeError:
        """Fill in location fields that are still unknown (inner code rarely knows the file)."""
        self.file = self.file or file
        self.line = self.line if self.line is not None else line
        self.layer = self.layer if self.layer is not None else layer
        self.module = self.module or module
        return self

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line is not None else "")
        if self.layer is not None:
            what = f"layer {self.layer}" + (f" ({self.module})" if self.module else "")
            where = f"{where}: {what}" if where else what
        text = " ".join(self.message.split())  # always one line
        return f"{where}: {text}" if where else text


class UnknownModulesError(ArchscopeError):
    """The file names modules that no block is registered for; ``names`` holds every one of them, in file order
    (the message may shorten a long list)."""

    def __init__(self, message: str, names: tuple[str, ...], **where: Any) -> None:
        super().__init__(message, **where)
        self.names = names


class GateFailure(Exception):
    """A CI gate did not pass (exit code 1, not an input error)."""


class Interrupted(SystemExit):
    """Ctrl-C in the command line (exit code 130): raised by the CLI's SIGINT handler, which has already said
    "archscope: interrupted". A SystemExit, so click's "Aborted!" and ``except Exception`` never see it; code that
    catches SystemExit from user files re-raises this one."""

    def __init__(self) -> None:
        super().__init__(130)

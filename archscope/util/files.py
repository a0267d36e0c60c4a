"""Writing files whole or not at all: reports, plots, device specs."""

from __future__ import annotations

import os
import tempfile

from archscope.errors import ArchscopeError


def check_writable(path: str, what: str = "output") -> None:
    """Fail before any work is done if ``path`` cannot be written (missing folder, a directory, no permission)."""
    target = os.path.abspath(path)
    folder = os.path.dirname(target) or "."
    if os.path.isdir(target):
        raise ArchscopeError(f"cannot write {what}: is a directory", file=path)
    if not os.path.isdir(folder):
        raise ArchscopeError(f"cannot write {what}: folder does not exist", file=path)
    if not os.access(folder, os.W_OK) or (os.path.exists(target) and not os.access(target, os.W_OK)):
        raise ArchscopeError(f"cannot write {what}: permission denied", file=path)


def _umask() -> int:
    current = os.umask(0)  # the only portable way to read it is to set it
    os.umask(current)
    return current


def write_atomic(path: str, text: str | bytes, what: str = "output") -> None:
    """Write to a temporary file beside ``path`` and rename it into place: readers never see half a file.
    The file gets the mode any new file gets (the umask), not mkstemp's 0600."""
    check_writable(path, what)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".archscope-", suffix=".tmp", dir=folder)
    try:
        binary = isinstance(text, bytes)
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a report should get the mode any new file gets
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise ArchscopeError(f"cannot write {what} ({exc.strerror})", file=path) from None

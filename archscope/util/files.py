"""Writing files whole or not at all: reports, plots, device specs."""

from __future__ import annotations

import os
import tempfile

from archscope.errors import ArchscopeError


def check_writable(path: str, what: str = "output") -> None:
    """Fail before any work is done if ``path`` cannot be written (missing folder, a directory, no permission, or
    anything but a regular file: a device or FIFO is refused, never replaced)."""
    target = os.path.abspath(path)
    folder = os.path.dirname(target) or "."
    if os.path.isdir(target):
        raise ArchscopeError(f"cannot write {what}: is a directory", file=path)
    if os.path.lexists(target) and not os.path.isfile(target):
        # a character device, FIFO or socket (or a dangling link): writing would replace the node with a file
        raise ArchscopeError(f"cannot write {what}: not a regular file (a device, FIFO or socket); "
                             "-o writes regular files only", file=path)
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
    except BaseException:  # an interrupt: leave no temporary file behind
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_input(path: str, what: str, limit: int) -> bytes:
    """The bytes of a regular file no larger than ``limit``: the size and kind are checked on the open descriptor
    before anything is read, so a device (``/dev/zero``), a FIFO or a huge file is refused at once, never read."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block the open
    except FileNotFoundError:
        raise ArchscopeError("no such file", file=path) from None
    except IsADirectoryError:
        raise ArchscopeError(f"is a directory, expected {what}", file=path) from None
    except OSError as exc:
        raise ArchscopeError(f"cannot read file ({exc.strerror or 'error'})", file=path) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ArchscopeError(f"is a directory, expected {what}", file=path)
        if not stat.S_ISREG(info.st_mode):
            raise ArchscopeError(f"is not a regular file (a device, FIFO or socket), expected {what}", file=path)
        if info.st_size > limit:
            raise ArchscopeError(f"file is {info.st_size} bytes; {what} is at most {limit} bytes", file=path)
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        raw = b"".join(chunks)
    except OSError as exc:
        raise ArchscopeError(f"cannot read file ({exc.strerror or 'error'})", file=path) from None
    finally:
        os.close(fd)
    if len(raw) > limit:  # it grew while being read
        raise ArchscopeError(f"file is over {limit} bytes; {what} is at most {limit} bytes", file=path)
    return raw

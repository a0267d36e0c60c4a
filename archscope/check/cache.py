"""A content-addressed cache of ``archscope check`` verdicts, so a pre-commit hook answers in a blink when nothing
it depends on changed. Pure standard library: nothing here imports torch (a cached check never does).

The key is a SHA-256 over, as canonical JSON:

* archscope's version and a digest of its own source files (an editable install changes code, not version), and
  the installed torch's ``torch/version.py`` (found, not imported: the counts go through torch's dispatcher);
* the resolved options: every :class:`~archscope.check.targets.CheckTarget` (paths as written, scale, image size,
  batch, dtype, device, fuse, budgets, baseline, tolerance) and the ``--blocks`` items;
* the bytes of every input file, as their SHA-256: each model YAML (after Ultralytics-name resolution), each
  ``--blocks`` file, a ``--device-spec`` that is a file, each baseline JSON, and the ``[tool.archscope]`` table of
  the pyproject.toml the targets came from.

A ``--blocks`` item that is a module name (not a file) cannot be hashed: such a check is never cached. What a
blocks file imports from beside it is not hashed either (``--no-cache`` after editing such a helper).

The value is the :class:`~archscope.check.gate.CheckReport` JSON (``to_dict()``) with the key beside it, one file
per key under ``$XDG_CACHE_HOME/archscope/check/`` (``~/.cache/archscope/check/`` without it), written atomically;
only checks that ran to a verdict (exit 0 or 1) are stored, never errors. The newest :data:`KEEP` entries are kept
(a hit counts as use). An entry that cannot be read or does not hold a valid report is ignored: the check runs.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archscope._version import __version__
from archscope.check.gate import FAIL, PASS, REFRESH, SCHEMA, CheckReport, GateResult
from archscope.errors import ArchscopeError

if TYPE_CHECKING:
    from archscope.check.targets import CheckTarget

KEY_FORMAT = 1  # bump when what goes into the key or an entry changes
KEEP = 200  # entries kept (each is a few KB)
MAX_INPUT_BYTES = 64 * 1024 * 1024  # a larger "input" is no model, blocks, device or baseline file: no caching
_PACKAGE = Path(__file__).resolve().parent.parent
_GATE_FIELDS = {"model": str, "figure": str, "actual": float, "limit": float, "status": str, "baseline": float,
                "note": str}


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/archscope/check`` (an XDG_CACHE_HOME that is not absolute is ignored, as the XDG spec
    says), else ``~/.cache/archscope/check``."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "archscope" / "check"


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """SHA-256 over archscope's own ``.py`` files (relative path and bytes), so an edited checkout misses."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def torch_digest() -> str | None:
    """SHA-256 of the installed torch's ``torch/version.py`` (its version and git commit), found without importing
    torch; None when there is no torch to find."""
    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        return None
    for root in (spec.submodule_search_locations or []) if spec is not None else []:
        version = Path(root) / "version.py"
        if version.is_file():
            return hashlib.sha256(version.read_bytes()).hexdigest()
    return None


def file_digest(path: str) -> str | None:
    """SHA-256 of a regular file's bytes; None when there is no such file (the key still differs from a present
    one). Raises ``_Uncacheable`` for something that is not a regular file or is too large to be an input."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isfile(path) or st.st_size > MAX_INPUT_BYTES:
        raise _Uncacheable(path)
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


class _Uncacheable(Exception):
    """An input the cache cannot stand for (a module name, a FIFO): the check runs without the cache."""


def _model_file(path: str) -> str:
    from archscope.spec.sources import find_model_file

    try:
        return find_model_file(path).path
    except ArchscopeError:
        return path  # the check itself will say what is wrong; a missing file hashes as missing


def _blocks_file(item: str) -> str:
    """The file a ``--blocks`` item names, as :func:`archscope.build.plugins.load_blocks` decides it."""
    if item.endswith(".py") or os.sep in item or os.path.exists(item):
        return item
    raise _Uncacheable(item)  # a module name: its files are wherever Python finds them


def _config_table(path: str | None) -> Any:
    if path is None:
        return None
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as handle:
            return json.loads(json.dumps(tomllib.load(handle).get("tool", {}).get("archscope"), default=str,
                                         sort_keys=True))
    except (OSError, tomllib.TOMLDecodeError, AttributeError):
        raise _Uncacheable(path) from None


def key_material(targets: Sequence[CheckTarget], *, blocks: Sequence[str] = (), config: str | None = None,
                 version: str = __version__) -> dict[str, Any]:
    """What the key is a digest of (see the module docstring). Raises ``_Uncacheable``."""
    files: list[list[Any]] = []

    def add(role: str, path: str) -> None:
        files.append([role, path, file_digest(path)])

    for item in blocks:
        add("blocks", _blocks_file(item))
    for target in targets:
        add("model", _model_file(target.path))
        if target.baseline:
            add("baseline", target.baseline)
        if target.device_spec and os.path.exists(target.device_spec):
            add("device-spec", target.device_spec)
    return {
        "format": KEY_FORMAT,
        "archscope": version,
        "code": code_digest(),
        "torch": torch_digest(),
        "targets": [asdict(t) for t in targets],
        "blocks": list(blocks),
        "config": _config_table(config),
        "files": files,
    }


def cache_key(targets: Sequence[CheckTarget], *, blocks: Sequence[str] = (), config: str | None = None,
              version: str = __version__) -> str | None:
    """The hex key for this check, or None when it cannot be cached (a ``--blocks`` module, a FIFO as input)."""
    try:
        material = key_material(targets, blocks=blocks, config=config, version=version)
    except _Uncacheable:
        return None
    text = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def entry_path(key: str, directory: Path | None = None) -> Path:
    return (directory or cache_dir()) / f"{key}.json"


def load(key: str, directory: Path | None = None) -> CheckReport | None:
    """The stored report for ``key``, or None when there is none or the entry is not a valid one."""
    path = entry_path(key, directory)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_INPUT_BYTES + 1)
        data = json.loads(raw, parse_constant=_no_constant)
        if not isinstance(data, dict) or data.get("cache_key") != key:
            return None
        report = report_from_dict(data.get("report"))
    except (OSError, ValueError):
        return None
    try:
        os.utime(path)  # a hit is a use: the size bound drops the least recently used
    except OSError:
        pass
    return report


def store(key: str, report: CheckReport, directory: Path | None = None, keep: int = KEEP) -> bool:
    """Write the entry atomically and drop all but the ``keep`` newest; False (and no entry) if it cannot be
    written: the cache never makes a check fail."""
    from archscope.util.files import write_atomic

    folder = directory or cache_dir()
    try:
        text = json.dumps({"cache_key": key, "archscope": __version__, "report": report.to_dict()}, indent=1,
                          allow_nan=False) + "\n"
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(str(entry_path(key, folder)), text, what="check cache entry")
    except (OSError, ValueError, ArchscopeError):
        return False
    prune(folder, keep)
    return True


def prune(directory: Path, keep: int = KEEP) -> None:
    """Keep the ``keep`` most recently written or used entries."""
    entries = []
    for path in directory.glob("*.json"):
        try:
            entries.append((path.stat().st_mtime_ns, path.name, path))
        except OSError:
            continue
    entries.sort(reverse=True)
    for _, _, path in entries[keep:]:
        try:
            path.unlink()
        except OSError:
            pass


def _no_constant(name: str) -> Any:
    raise ValueError(f"not strict JSON: {name}")


def report_from_dict(data: Any) -> CheckReport:
    """A :class:`CheckReport` from its ``to_dict()``; ValueError unless every field is there with its type."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("results"), list):
        raise ValueError("not an archscope.check/1 report")
    results = []
    for item in data["results"]:
        if not isinstance(item, dict) or set(item) != set(_GATE_FIELDS):
            raise ValueError("a result without the gate fields")
        for name, kind in _GATE_FIELDS.items():
            value = item[name]
            if kind is float:
                ok = value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                                       and math.isfinite(value))
            else:
                ok = isinstance(value, kind)
            if not ok:
                raise ValueError(f"result field {name!r} is {value!r}")
        if item["status"] not in (PASS, FAIL, REFRESH):
            raise ValueError(f"unknown status {item['status']!r}")
        results.append(GateResult(**item))
    report = CheckReport(results=results)
    if data.get("passed") is not report.passed:
        raise ValueError("'passed' does not match the results")
    return report


# ------------------------------------------------------------------------------------------------------------------
# The command-line index: argv + working directory -> the key, checked before typer (or anything else) is imported
# ------------------------------------------------------------------------------------------------------------------
def argv_key(argv: Sequence[str], cwd: str) -> str:
    """The index key of one command line in one folder (and this archscope, this torch)."""
    material = {"format": KEY_FORMAT, "archscope": __version__, "code": code_digest(), "torch": torch_digest(),
                "cwd": os.path.realpath(cwd), "argv": list(argv)}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def _index_path(key: str, directory: Path | None = None) -> Path:
    return (directory or cache_dir()) / f"argv-{key}.json"


def watched_files(targets: Sequence[CheckTarget], *, blocks: Sequence[str] = (), config: str | None = None,
                  discovered: bool = False, cwd: str | None = None) -> list[list[Any]] | None:
    """Every file whose bytes or absence the resolved check depends on, with its digest (None: absent): the key's
    input files, the pyproject.toml (with ``discovered``: also each absent one nearer the working directory, as
    :func:`~archscope.check.targets.find_pyproject` looks), and ``file.yaml:s`` written as one file name. None when
    a model name was resolved as Ultralytics does (the index then stays out of it)."""
    try:
        files = key_material(targets, blocks=blocks, config=config)["files"]
    except _Uncacheable:
        return None
    for target in targets:
        if not os.path.isfile(target.path):
            return None
        if target.scale:
            files.append(["probe", f"{target.path}:{target.scale}", file_digest(f"{target.path}:{target.scale}")])
    if config is not None:
        files.append(["config", config, file_digest(config)])
        if discovered:
            folder = os.path.abspath(cwd or os.getcwd())
            found = os.path.dirname(os.path.abspath(config))
            while folder != found and os.path.dirname(folder) != folder:
                candidate = os.path.join(folder, "pyproject.toml")
                files.append(["probe", candidate, file_digest(candidate)])
                folder = os.path.dirname(folder)
    return files


def store_index(argv: Sequence[str], cwd: str, key: str, fmt: str, files: list[list[Any]],
                directory: Path | None = None) -> bool:
    """Remember that this command line in this folder, with these files, is the check ``key`` printed as ``fmt``."""
    from archscope.util.files import write_atomic

    folder = directory or cache_dir()
    try:
        text = json.dumps({"key": key, "format": fmt, "files": files}, indent=1) + "\n"
        write_atomic(str(_index_path(argv_key(argv, cwd), folder)), text, what="check cache index")
    except (OSError, ValueError, ArchscopeError):
        return False
    prune(folder, KEEP)  # index entries and verdicts count alike
    return True


def lookup_index(argv: Sequence[str], cwd: str, directory: Path | None = None) -> tuple[CheckReport, str] | None:
    """The verdict and format stored for this command line when every watched file is as it was; else None."""
    try:
        with open(_index_path(argv_key(argv, cwd), directory), "rb") as handle:
            index = json.loads(handle.read(MAX_INPUT_BYTES + 1), parse_constant=_no_constant)
        key, fmt, files = index["key"], index["format"], index["files"]
        if not isinstance(key, str) or not isinstance(fmt, str) or not isinstance(files, list):
            return None
        for _role, path, digest in files:
            if not isinstance(path, str) or file_digest(path) != digest:
                return None
    except (OSError, ValueError, TypeError, KeyError, _Uncacheable):
        return None
    report = load(key, directory)
    return None if report is None else (report, fmt)

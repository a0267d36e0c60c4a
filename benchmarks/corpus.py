"""How far archscope's native builder reaches on a directory of real model YAMLs.

    .venv/bin/python benchmarks/corpus.py /work/corpus/files [--timeout 60] [--json out.json] [--analyse]

Each ``*.yaml``/``*.yml`` file is profiled in this process with ``archscope.profile`` (on the meta device, at
640x640), under a per-file time limit (SIGALRM). The summary says how many build, which unknown module names stop
the rest (by the number of files that use them, read from the all-at-once error), the other failures by message
class, and every message that leaks Python or torch internals (a traceback, an ``...Error:`` class name, ``torch.``,
``File "``); an exception that is not an ``ArchscopeError`` is a crash and is listed too. Leaks and crashes are
archscope's bugs. The corpus itself is not part of the repository (third-party files): see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

LEAK = re.compile(r"Traceback|\b[A-Z]\w*(?:Error|Exception):|\btorch\.|File \"|<class |\bNoneType\b|\bmat1\b")


class FileTimeout(Exception):
    """This file's profile ran past --timeout."""


def _alarm(signum: int, frame: Any) -> None:
    raise FileTimeout


def message_class(message: str) -> str:
    """A failure message with its particulars (names, numbers, quoted values) taken out, to group alike ones."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", message)
    text = re.sub(r"\d+", "N", text)
    text = re.sub(r"\([^()]*\)", "(…)", text)
    return " ".join(text.split()[:14])


def unknown_names(path: Path) -> list[str]:
    """The file's module names that no registered block has, found independently of the error (so that a run of an
    archscope without the all-at-once error still counts them, and the error's list can be checked)."""
    from archscope.build.catalog import default_registry
    from archscope.errors import ArchscopeError
    from archscope.spec.model_spec import load_spec

    try:
        spec = load_spec(str(path))
    except ArchscopeError:
        return []
    registry = default_registry()
    return list(dict.fromkeys(r.module for r in spec.layers if registry.find(r.module, spec.dialect) is None))


def profile_one(path: Path, analyse: bool, timeout: int) -> dict[str, Any]:
    """One file: ok, or the kind of failure with its message (and the unknown names where that is the failure)."""
    import archscope
    from archscope.errors import ArchscopeError

    start = time.perf_counter()
    signal.alarm(timeout)
    try:
        report = archscope.profile(str(path), analyse=analyse)
        out: dict[str, Any] = {"status": "ok", "params": report.totals.params}
    except FileTimeout:
        out = {"status": "timeout", "message": f"over {timeout} s"}
    except ArchscopeError as exc:
        listed = getattr(exc, "names", None)  # UnknownModulesError: every unknown name of the file
        unknown = unknown_names(path)
        if listed is not None or unknown:
            out = {"status": "unknown", "names": list(listed if listed is not None else unknown),
                   "message": str(exc),
                   "unlisted": sorted(set(unknown) - set(listed)) if listed is not None else []}
        else:
            out = {"status": "error", "message": str(exc), "text": exc.message}
    except Exception as exc:  # noqa: BLE001 - a crash is what this script looks for
        out = {"status": "crash", "message": f"{type(exc).__name__}: {exc}"}
    finally:
        signal.alarm(0)
    out["seconds"] = round(time.perf_counter() - start, 3)
    message = out.get("message", "")
    out["leak"] = out["status"] == "crash" or bool(LEAK.search(message))
    return out


def summarise(results: dict[str, dict[str, Any]], top: int) -> str:
    n = len(results)
    by_status = collections.Counter(r["status"] for r in results.values())
    lines = [f"{n} files: {by_status['ok']} build ({100 * by_status['ok'] / max(n, 1):.0f}%), "
             f"{by_status['unknown']} stop at unknown modules, {by_status['error']} other input errors, "
             f"{by_status['timeout']} timeouts, {by_status['crash']} crashes"]
    names: collections.Counter[str] = collections.Counter()
    only: collections.Counter[str] = collections.Counter()  # files that one unknown name alone stops
    for r in results.values():
        if r["status"] == "unknown":
            names.update(set(r["names"]))
            if len(set(r["names"])) == 1:
                only.update(r["names"])
    unlisted = sum(1 for r in results.values() if r.get("unlisted"))
    lines.append(f"files whose error leaves out an unknown name: {unlisted}")
    multi = sum(1 for r in results.values() if r["status"] == "unknown" and len(set(r["names"])) > 1)
    lines.append(f"unknown names: {len(names)} distinct; {multi} files have more than one")
    lines.append("top unknown names (files using it / files it alone stops):")
    lines += [f"  {count:4d} {only[name]:4d}  {name}" for name, count in names.most_common(top)]
    classes = collections.Counter(message_class(r["text"]) for r in results.values() if r["status"] == "error")
    if classes:
        lines.append("other input errors by message class:")
        lines += [f"  {count:4d}  {cls}" for cls, count in classes.most_common(top)]
    leaks = [(f, r) for f, r in sorted(results.items()) if r["leak"]]
    lines.append(f"messages that leak Python/torch internals or crashes: {len(leaks)}")
    crashes = collections.Counter(message_class(r["message"]) for _, r in leaks)
    lines += [f"  {count:4d}  {cls}" for cls, count in crashes.most_common(top)]
    lines += [f"  e.g. {f}: {r['message'][:300]}" for f, r in leaks[:top]]
    slow = sorted(results.items(), key=lambda kv: -kv[1]["seconds"])[:3]
    lines.append("slowest: " + ", ".join(f"{f} {r['seconds']:.1f}s" for f, r in slow))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--timeout", type=int, default=60, help="seconds a file may take (default 60)")
    parser.add_argument("--analyse", action="store_true", help="also count FLOPs/bytes (default: build only)")
    parser.add_argument("--json", type=Path, help="write every file's result here")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    files = sorted(p for p in args.directory.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    if not files:
        print(f"no YAML files under {args.directory}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGALRM, _alarm)
    results = {str(p.relative_to(args.directory)): profile_one(p, args.analyse, args.timeout) for p in files}
    print(summarise(results, args.top))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

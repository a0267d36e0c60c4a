"""User blocks: a Python file or module named with ``--blocks``, and packages in the ``archscope.blocks`` entry-point
group. Nothing is imported unless the user names it: ``--blocks`` imports what it is given, and an entry point is
loaded only when a YAML asks for a block of that name that archscope does not know.

A user file registers its ``nn.Module`` classes in one of two ways:

* decorated with :func:`archscope.block` (channel and repeat rules declared, as the built-in blocks do), or
* plain classes whose constructor starts with ``(c1, c2, ...)``: the Ultralytics convention, registered with the
  default rule (input channels prepended, the first YAML arg is the width-scaled output channel count, the YAML
  repeat count stacks copies). Other classes in the file (helpers) are left alone.

An entry point is named after the YAML block and points at the class (``MyBlock = "my_pkg.blocks:MyBlock"``) or at a
module that registers its blocks with ``@archscope.block`` on import (``MyBlock = "my_pkg.blocks"``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from importlib import metadata
from pathlib import Path

from archscope.build.registry import OUTER, REGISTRY, BlockSpec, Registry, ScaledOut
from archscope.errors import ArchscopeError, Interrupted
from archscope.util.text import one_line

ENTRY_POINT_GROUP = "archscope.blocks"
USER_FAMILY = "user"

_loaded: dict[str, list[str]] = {}  # resolved file path or module name -> the block names it registered


def load_blocks(source: str | os.PathLike, registry: Registry = REGISTRY) -> list[str]:
    """Import a user's blocks file (``my_blocks.py``) or module (``my_pkg.blocks``); return the names registered.
    Loading the same file or module again is a no-op."""
    text = os.fspath(source)
    path = Path(text)
    is_file = text.endswith(".py") or os.sep in text or path.exists()
    key = str(path.resolve()) if is_file else text
    if key in _loaded:
        return _loaded[key]
    before = {id(spec) for spec in registry.blocks()}
    module = _import_file(path) if is_file else _import_module(text)
    names = [spec.name for spec in registry.blocks() if id(spec) not in before]
    names += _register_plain_classes(module, registry, shown=text)
    _loaded[key] = names
    return names


def _import_file(path: Path):
    shown = str(path)
    if not path.is_file():
        raise ArchscopeError(f"--blocks {shown}: no such file")
    if path.suffix != ".py":
        raise ArchscopeError(f"--blocks {shown}: expected a Python file (.py)")
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    name = f"archscope_user_blocks_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None  # a .py path always gets the source-file loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look classes up by module name
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        del sys.modules[name]
        raise ArchscopeError(f"{exc.msg} (in the blocks file)", file=shown, line=exc.lineno) from None
    except ArchscopeError:
        del sys.modules[name]
        raise
    except Interrupted:
        sys.modules.pop(name, None)
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a user's file may fail (or exit) in any way
        sys.modules.pop(name, None)
        raise ArchscopeError(f"{shown}: importing it failed: {user_code_problem(exc)}") from None
    return module


def user_code_problem(exc: BaseException) -> str:
    """What a user's blocks code did, on one line, as theirs: ``sys.exit(3)`` or ``ValueError: ...``."""
    if isinstance(exc, SystemExit):
        return f"your code called sys.exit({exc.code!r})"
    return one_line(exc, with_type=True)


def _import_module(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise ArchscopeError(f"--blocks {name}: no such file or importable module") from None
        raise ArchscopeError(f"--blocks {name}: importing it failed: {one_line(exc, with_type=True)}") from None
    except (ArchscopeError, Interrupted):
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001
        raise ArchscopeError(f"--blocks {name}: importing it failed: {user_code_problem(exc)}") from None


def follows_ultralytics_convention(cls: type) -> bool:
    """True for a class whose constructor's first two parameters are named ``c1, c2``."""
    try:
        params = list(inspect.signature(cls).parameters)
    except (TypeError, ValueError):
        return False
    return params[:2] == ["c1", "c2"]


def register_plain(cls: type, registry: Registry = REGISTRY, *, name: str | None = None, shown: str = "") -> str:
    """Register a plain ``(c1, c2, ...)`` class with the default rule, as ``name`` (default: the class name)."""
    name = name or cls.__name__
    registered = {spec.factory for spec in registry.blocks()}
    if cls in registered:
        return name
    try:
        registry.add(BlockSpec(name=name, factory=cls, family=USER_FAMILY, channels=ScaledOut(),
                               repeat=OUTER, summary=(inspect.getdoc(cls) or "").strip().split("\n")[0]))
    except ValueError:
        where = f"{shown}: " if shown else ""
        raise ArchscopeError(f"{where}block {name!r} is already registered (a built-in block or another "
                             f"file); rename the class or register it as @block(name=...)") from None
    return name


def _register_plain_classes(module, registry: Registry, shown: str) -> list[str]:
    from torch import nn

    registered = {spec.factory for spec in registry.blocks()}
    names = []
    for value in vars(module).values():
        if (isinstance(value, type) and issubclass(value, nn.Module) and value.__module__ == module.__name__
                and value not in registered and follows_ultralytics_convention(value)):
            names.append(register_plain(value, registry, shown=shown))
    return names


def entry_point_names() -> list[str]:
    """Block names offered by installed plugin packages (read from package metadata; nothing is imported)."""
    return sorted({ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)})


def load_entry_point(name: str, registry: Registry = REGISTRY) -> bool:
    """Load the plugin that offers block ``name``, if an installed package does; True if it is registered now."""
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name != name:
            continue
        try:
            target = ep.load()
        except Interrupted:
            raise
        except (Exception, SystemExit) as exc:  # noqa: BLE001
            raise ArchscopeError(f"plugin entry point {ep.name} = {ep.value!r} failed to load: "
                                 f"{user_code_problem(exc)}") from None
        if isinstance(target, type) and target not in {s.factory for s in registry.blocks()}:
            if not follows_ultralytics_convention(target):
                raise ArchscopeError(f"plugin entry point {ep.name} = {ep.value!r}: the class neither uses "
                                     "@archscope.block nor takes (c1, c2, ...)")
            register_plain(target, registry, name=ep.name, shown=ep.value)
        return any(name in (spec.name, *spec.aliases) for spec in registry.blocks())
    return False

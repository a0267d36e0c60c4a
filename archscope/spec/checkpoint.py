"""A trained checkpoint (``best.pt``): the model YAML stored in it, read WITHOUT executing anything from the file.

Ultralytics (and the YOLOv5 repository) save ``{"model": <DetectionModel>, "train_args": {...}, ...}`` with
``torch.save``: a zip holding ``<name>/data.pkl`` (the pickle) and ``<name>/data/<key>`` (tensor bytes). The model
is a pickled class, so ``torch.load(weights_only=True)`` refuses it, and a plain ``torch.load`` would import and run
whatever the file names. :class:`RestrictedUnpickler` reads ``data.pkl`` with the standard library only (torch is
not imported, no module is imported, no tensor byte is read):

* plain data is built as it is: dict, list, tuple, str, bytes, numbers, bool, None, and the globals
  ``collections.OrderedDict``, ``builtins.set/frozenset/slice/complex``, ``_codecs.encode`` (latin-1 only, how
  protocol 2 spells bytes), ``pathlib.PosixPath/WindowsPath/Path`` (as the string), and ``copyreg._reconstructor``
  (re-implemented: placeholders only);
* tensors (``torch._utils._rebuild_tensor*``, ``_rebuild_parameter*``) become :class:`TensorStub` (shape, dtype
  name), their storages (``torch.*Storage``, persistent ids) :class:`StorageStub` (key, element count), torch
  dtypes their name, ``torch.Size`` a tuple, ``torch.device`` a string;
* every other class (``ultralytics.nn.tasks.DetectionModel``, ``torch.nn.Conv2d``, ...) is an inert
  :class:`Placeholder` subclass of that name that only records its constructor arguments and its state
  (``__dict__``): nothing of the named module is imported or called;
* a global from a module that can run commands, import code or touch files (``os``, ``subprocess``, ``sys``,
  ``builtins.eval``/``exec``/``getattr``/``__import__``, ``importlib``, ``pickle``, ``torch.load``, ...) is refused
  with one line, before anything else of the file is built.
"""

from __future__ import annotations

import _compat_pickle
import io
import os
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from archscope.errors import ArchscopeError

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
MAX_PICKLE_BYTES = 256 * 1024 * 1024  # data.pkl only (tensor bytes live beside it and are never read)

# Modules (and module.name prefixes) whose globals are refused: they run commands, import or compile code, read or
# write files, or load further pickles.
FORBIDDEN = (
    "os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "importlib", "runpy", "pickle", "_pickle",
    "marshal", "ctypes", "code", "codeop", "pty", "webbrowser", "platform", "multiprocessing", "threading",
    "_thread", "asyncio", "signal", "operator", "_operator", "functools", "types", "inspect", "io", "_io",
    "tempfile", "glob", "urllib", "http", "requests", "smtplib", "ftplib", "telnetlib", "timeit", "trace", "pdb",
    "bdb", "cProfile", "profile", "pydoc", "dill", "cloudpickle", "joblib", "builtins", "exec",
    "numpy.load", "numpy.lib.npyio", "numpy.ctypeslib", "numpy.f2py", "torch.load", "torch.hub", "torch.jit",
    "torch.ops", "torch._ops", "torch.package", "torch.utils.cpp_extension", "torch.storage._load_from_bytes",
    "torch.serialization", "torch._C", "torch.library", "torch._dynamo", "torch.compile",
)


class CheckpointRefused(ArchscopeError):
    """The file is not a checkpoint archscope can read, or its pickle asks for something refused."""


@dataclass
class StorageStub:
    key: str
    numel: int
    storage_type: str


@dataclass
class TensorStub:
    shape: tuple[int, ...]
    dtype: str
    storage_key: str | None = None


class Placeholder:
    """An inert stand-in for a class named in the pickle: records args and state, runs nothing."""

    qualname = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__["_args"] = args
        self.__dict__["_kwargs"] = kwargs
        self.__dict__["_state"] = None
        self.__dict__["_items"] = []

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_state"] = state

    def __setitem__(self, key: Any, value: Any) -> None:  # SETITEMS on a dict subclass
        self.__dict__["_items"].append((key, value))

    def append(self, value: Any) -> None:  # APPENDS on a list subclass
        self.__dict__["_items"].append(value)

    def extend(self, values: Any) -> None:
        self.__dict__["_items"].extend(values)

    @property
    def state(self) -> dict[str, Any]:
        """The recorded ``__dict__`` (a ``(state, slots)`` pair gives its first half)."""
        state = self.__dict__["_state"]
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict):
            state = state[0]
        return state if isinstance(state, dict) else {}

    def __repr__(self) -> str:
        return f"<{self.qualname} (not built)>"


def _placeholder(module: str, name: str) -> type[Placeholder]:
    return type(name, (Placeholder,), {"qualname": f"{module}.{name}", "__module__": "archscope.placeholder"})


def _rebuild_tensor(storage: Any, offset: Any = 0, size: Any = (), *args: Any, **kwargs: Any) -> TensorStub:
    key = storage.key if isinstance(storage, StorageStub) else None
    dtype = storage.storage_type if isinstance(storage, StorageStub) else "?"
    shape = tuple(int(s) for s in size) if isinstance(size, (tuple, list)) else ()
    return TensorStub(shape, dtype, key)


def _rebuild_parameter(data: Any, *args: Any, **kwargs: Any) -> Any:
    return data


def _codecs_encode(text: Any, encoding: str = "utf-8", *rest: Any) -> bytes:
    if not isinstance(text, str) or encoding.lower() not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode is allowed only for latin-1 text (protocol 2 bytes)")
    return text.encode("latin-1")


def _reconstructor(cls: Any, base: Any, state: Any = None) -> Any:
    if isinstance(cls, type) and issubclass(cls, Placeholder):
        obj = cls()
        if state is not None:
            obj.__setstate__(state)
        return obj
    raise pickle.UnpicklingError("copyreg._reconstructor is allowed only for the placeholders of named classes")


def _path(*parts: Any) -> str:
    return str(PurePosixPath(*(str(p) for p in parts)))


def _windows_path(*parts: Any) -> str:
    return str(PureWindowsPath(*(str(p) for p in parts)))


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set, ("builtins", "frozenset"): frozenset, ("builtins", "slice"): slice,
    ("builtins", "complex"): complex,
    ("_codecs", "encode"): _codecs_encode,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("pathlib", "PosixPath"): _path, ("pathlib", "Path"): _path, ("pathlib", "PurePosixPath"): _path,
    ("pathlib", "WindowsPath"): _windows_path, ("pathlib", "PureWindowsPath"): _windows_path,
    ("torch", "Size"): lambda *a: tuple(*a) if a else (),
    ("torch", "device"): lambda *a: ":".join(str(x) for x in a),
}
_TENSOR_REBUILDERS = {"_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3"}
_PARAMETER_REBUILDERS = {"_rebuild_parameter", "_rebuild_parameter_with_state"}
_DTYPES = {"float16", "float32", "float64", "bfloat16", "half", "float", "double", "int8", "uint8", "int16",
           "int32", "int64", "bool", "complex64", "complex128", "float8_e4m3fn", "float8_e5m2"}


def forbidden(module: str, name: str) -> bool:
    dotted = f"{module}.{name}"
    return any(module == f or module.startswith(f + ".") or dotted == f or dotted.startswith(f + ".")
               for f in FORBIDDEN)


class RestrictedUnpickler(pickle.Unpickler):
    """See the module docstring: plain data, tensor and storage stubs, inert placeholders; refusals otherwise."""

    def __init__(self, file: Any, *, shown: str) -> None:
        super().__init__(file)
        self.shown = shown
        self.classes: dict[tuple[str, str], type[Placeholder]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _compat_pickle.NAME_MAPPING:  # protocol 2 writes Python 2 names (__builtin__.set)
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        key = (module, name)
        if key in _ALLOWED:
            return _ALLOWED[key]
        if module == "torch._utils" and name in _TENSOR_REBUILDERS:
            return _rebuild_tensor
        if module == "torch._utils" and name in _PARAMETER_REBUILDERS:
            return _rebuild_parameter
        if module in ("torch", "torch.storage") and (name.endswith("Storage")):
            return name
        if module == "torch" and name in _DTYPES:
            return name
        if forbidden(module, name):
            raise CheckpointRefused(f"refused: the checkpoint's pickle asks for {module}.{name}, which could run "
                                    f"code; archscope builds only plain data, tensors and inert placeholders "
                                    f"from a checkpoint", file=self.shown)
        if key not in self.classes:
            self.classes[key] = _placeholder(module, name)
        return self.classes[key]

    def persistent_load(self, pid: Any) -> Any:
        if isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage":
            _, storage_type, key, _location, numel = pid[:5]
            return StorageStub(str(key), int(numel) if isinstance(numel, int) else 0, str(storage_type))
        raise CheckpointRefused("refused: the checkpoint's pickle holds a persistent reference that is not a "
                                "torch storage", file=self.shown)


@dataclass
class Checkpoint:
    path: str
    yaml: dict[str, Any]
    train_args: dict[str, Any] | None = None
    classes: list[str] = field(default_factory=list)  # the classes the pickle names (never imported)


def is_checkpoint_name(path: str) -> bool:
    return str(path).lower().endswith(CHECKPOINT_SUFFIXES)


def load_pickle(path: str) -> tuple[Any, list[str]]:
    """The object stored in a torch zip checkpoint, through :class:`RestrictedUnpickler`; and the class names."""
    if not os.path.isfile(path):
        raise CheckpointRefused("no such file", file=path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise CheckpointRefused("not a checkpoint: not a torch zip archive (torch.save since torch 1.6 writes one; "
                                "an older or other file is not read)", file=path) from None
    with archive:
        names = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
        if len(names) != 1:
            raise CheckpointRefused("not a checkpoint: the zip has no <name>/data.pkl (what torch.save writes)",
                                    file=path)
        info = archive.getinfo(names[0])
        if info.file_size > MAX_PICKLE_BYTES:
            raise CheckpointRefused(f"the checkpoint's pickle is over archscope's limit of "
                                    f"{MAX_PICKLE_BYTES // 2**20} MiB", file=path)
        data = archive.read(names[0])
    unpickler = RestrictedUnpickler(io.BytesIO(data), shown=path)
    try:
        obj = unpickler.load()
    except CheckpointRefused:
        raise
    except RecursionError:
        raise CheckpointRefused("not a checkpoint archscope can read: its pickle nests too deeply", file=path) \
            from None
    except Exception as exc:  # noqa: BLE001 - a malformed pickle, in our words
        from archscope.util.text import one_line

        raise CheckpointRefused(f"not a checkpoint archscope can read: its pickle is malformed "
                                f"({one_line(exc, limit=120)})", file=path) from None
    return obj, sorted(f"{m}.{n}" for m, n in unpickler.classes)


def _plain(value: Any, path: str, where: str) -> Any:
    """The YAML dict as plain data (tuples as lists); anything else stored in it is refused."""
    if isinstance(value, dict):
        return {_plain(k, path, where): _plain(v, path, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, path, where) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise CheckpointRefused(f"the model YAML stored in the checkpoint holds a {type(value).__name__} at {where}, "
                            f"not plain data", file=path)


def read_checkpoint(path: str) -> Checkpoint:
    """The model YAML (``ckpt['model'].yaml``, else ``ckpt['ema'].yaml``) and ``ckpt['train_args']``."""
    obj, classes = load_pickle(path)
    if not isinstance(obj, dict):
        raise CheckpointRefused("not an Ultralytics/YOLOv5 checkpoint: it holds no dict with a 'model'", file=path)
    yaml = None
    for key in ("model", "ema"):
        model = obj.get(key)
        if isinstance(model, Placeholder) and isinstance(model.state.get("yaml"), dict):
            yaml = model.state["yaml"]
            break
    if yaml is None:
        has_model = any(isinstance(obj.get(k), Placeholder) for k in ("model", "ema"))
        why = ("its model carries no 'yaml' (the model YAML Ultralytics and YOLOv5 keep)" if has_model else
               "it holds no 'model' or 'ema' object")
        raise CheckpointRefused(f"not an Ultralytics/YOLOv5 checkpoint: {why}", file=path)
    args = obj.get("train_args")
    try:
        train_args = _plain(args, path, "train_args") if isinstance(args, dict) else None
    except CheckpointRefused:
        train_args = None  # training settings that are not plain data are only informative: left out
    yaml = _plain(yaml, path, "yaml")
    if yaml.get("scale") == "":  # Ultralytics' guess_model_scale for a name without n/s/m/l/x: the first scale
        del yaml["scale"]
    return Checkpoint(path, yaml, train_args, classes)

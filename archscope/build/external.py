"""``--builder``: build a model YAML with the user's own code instead of archscope's registry.

``ultralytics`` imports the installed ``ultralytics`` package (or the one a fork puts first on ``PYTHONPATH``);
``ultralytics:/path/to/fork`` puts that folder first on ``sys.path`` for the build only. ``yolov5:/path/to/repo``
(and ``yolov7:``, ``yolov9:``) imports that repository's ``models/yolo.py`` and calls its ``Model(cfg, ch, nc)``.
Nothing here runs unless the user asks for it with ``--builder``.

Their code builds the model on the CPU, as it always does (their Detect heads run a forward to learn their strides,
which a meta tensor cannot answer), with nothing patched; the built model is then moved to the ``meta`` device
(no copy) and its layers ``model.model[i]``, with their ``f`` (sources) and the YAML rows, become an archscope
:class:`~archscope.build.builder.BuiltModel`: the same analysis, report, compare and check run on it. Weights are
never loaded (a checkpoint with ``--builder ultralytics`` is the one exception: the user named the file) and nothing
is downloaded: ``YOLO_OFFLINE=1`` is set before Ultralytics is imported.

A failure inside their code is one line naming the last frame of the traceback that lies in their tree (file and
line) and the exception.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from archscope.build.builder import BuildOptions, BuiltLayer, BuiltModel, shape_of
from archscope.errors import ArchscopeError, Interrupted
from archscope.spec.model_spec import ModelSpec
from archscope.util.shapes import feature_stride
from archscope.util.text import one_line

KINDS = ("native", "ultralytics", "yolov5", "yolov7", "yolov9")
REPO_KINDS = ("yolov5", "yolov7", "yolov9")  # the YOLOv5 repository's layout: models/yolo.py with Model
BUILDER_HELP = "native (archscope's blocks), ultralytics[:PATH], yolov5:PATH, yolov7:PATH or yolov9:PATH"


@dataclass(frozen=True)
class Builder:
    kind: str = "native"
    path: str | None = None

    @property
    def native(self) -> bool:
        return self.kind == "native"

    def __str__(self) -> str:
        return self.kind + (f":{self.path}" if self.path else "")


def parse_builder(value: str | Builder | None) -> Builder:
    """``"ultralytics"``, ``"ultralytics:/fork"``, ``"yolov5:/repo"`` ... -> Builder; None or ``"native"`` -> native.
    A repository kind needs its path; the path must be a folder with that layout (checked here, before any import)."""
    if value is None or isinstance(value, Builder):
        return value or Builder()
    text = str(value).strip()
    kind, sep, path = text.partition(":")
    kind = kind.lower()
    if kind not in KINDS:
        raise ArchscopeError(f"--builder must be {BUILDER_HELP}, got {text!r}")
    if kind == "native":
        if sep:
            raise ArchscopeError(f"--builder native takes no path, got {text!r}")
        return Builder()
    if kind in REPO_KINDS and not path:
        raise ArchscopeError(f"--builder {kind} needs the repository's folder: --builder {kind}:/path/to/{kind}")
    if sep and not path:
        raise ArchscopeError(f"--builder {kind}: empty path after ':'")
    if path:
        path = os.path.abspath(os.path.expanduser(path))
        marker = os.path.join("ultralytics", "nn", "tasks.py") if kind == "ultralytics" else os.path.join(
            "models", "yolo.py")
        if not os.path.isdir(path):
            raise ArchscopeError(f"--builder {kind}:{path}: no such folder")
        if not os.path.isfile(os.path.join(path, marker)):
            raise ArchscopeError(f"--builder {kind}:{path}: not a {kind} repository (it has no {marker})")
    return Builder(kind, path or None)


# ------------------------------------------------------------------------------------------ their failures, as theirs

def their_tree(builder: Builder) -> str:
    """The folder whose frames are the user's code: the fork or repository, else the installed package."""
    if builder.path:
        return builder.path
    found = importlib.util.find_spec("ultralytics")
    locations = list(found.submodule_search_locations or []) if found is not None else []
    return locations[0] if locations else ""


def their_failure(exc: BaseException, tree: str, builder: Builder, doing: str) -> ArchscopeError:
    """One line: the last traceback frame inside ``tree`` (file:line), then the exception."""
    root = os.path.realpath(tree) + os.sep if tree else None
    where = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if root and os.path.realpath(frame.filename).startswith(root):
            where = (frame.filename, frame.lineno)
    what = (f"your code called sys.exit({exc.code!r})" if isinstance(exc, SystemExit)
            else one_line(exc, with_type=True))
    message = f"{what} (in the {builder.kind} code, {doing})"
    if where is None:
        return ArchscopeError(f"--builder {builder}: {message}")
    return ArchscopeError(message, file=where[0], line=where[1])


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Their code prints model summaries; a JSON report on stdout must stay clean, so fd 1 goes to stderr."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except (OSError, ValueError):
        saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


@contextlib.contextmanager
def _their_modules(path: str | None, names: tuple[str, ...]) -> Iterator[None]:
    """Import the top-level packages ``names`` from ``path`` (first on sys.path) for the build only: modules of
    those names already imported are set aside and put back afterwards."""
    def ours(module: str) -> bool:
        return any(module == n or module.startswith(n + ".") for n in names)

    if path is None:
        yield
        return
    saved = {k: v for k, v in sys.modules.items() if ours(k)}
    for k in saved:
        del sys.modules[k]
    sys.path.insert(0, path)
    importlib.invalidate_caches()
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(path)
        for k in [k for k in sys.modules if ours(k)]:
            del sys.modules[k]
        sys.modules.update(saved)


def _import(builder: Builder, module: str, tree: str) -> Any:
    try:
        return importlib.import_module(module)
    except Interrupted:
        raise
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name) and not builder.path:
            raise ArchscopeError(f"--builder {builder}: no {exc.name} package is installed (pip install "
                                 f"{exc.name}, or give --builder {builder.kind}:/path/to/fork)") from None
        raise their_failure(exc, tree, builder, f"importing {module}") from None
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - their code, reported as theirs
        raise their_failure(exc, tree, builder, f"importing {module}") from None


# ------------------------------------------------------------------------------------------ building

_TASK_CLASSES = {"detect": "DetectionModel", "segment": "SegmentationModel", "semantic": "SemanticSegmentationModel",
                 "pose": "PoseModel", "obb": "OBBModel", "depth": "DepthModel", "classify": "ClassificationModel"}


def _ultralytics_class(tasks: Any, d: dict[str, Any], name: str) -> Any:
    stem = os.path.basename(name).lower()
    if "rtdetr" in stem and hasattr(tasks, "RTDETRDetectionModel"):
        return tasks.RTDETRDetectionModel
    if "yoloe" in stem and hasattr(tasks, "YOLOEModel"):
        return tasks.YOLOESegModel if "seg" in stem and hasattr(tasks, "YOLOESegModel") else tasks.YOLOEModel
    if "world" in stem and hasattr(tasks, "WorldModel"):
        return tasks.WorldModel
    task = tasks.guess_model_task(d) if hasattr(tasks, "guess_model_task") else "detect"
    return getattr(tasks, _TASK_CLASSES.get(task, "DetectionModel"), tasks.DetectionModel)


def their_model(builder: Builder, source: str, *, scale: str | None, nc: int | None, ch: int | None,
                fuse: bool = False, checkpoint: bool = False) -> Any:
    """Build (or, for a checkpoint, load) the model with their code, on the CPU; return it in eval mode."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    tree = their_tree(builder)
    if builder.kind == "ultralytics" and not builder.path and not tree:
        raise ArchscopeError("--builder ultralytics: no ultralytics package is installed (pip install ultralytics, "
                             "or give --builder ultralytics:/path/to/fork)")
    names = ("ultralytics",) if builder.kind == "ultralytics" else ("models", "utils")
    with _their_modules(builder.path, names), _stdout_to_stderr():
        if builder.kind == "ultralytics":
            tasks = _import(builder, "ultralytics.nn.tasks", tree)
        else:
            tasks = _import(builder, "models.yolo", tree)
        doing = f"loading {source}" if checkpoint else f"building {source}"
        try:
            model = _make(builder, tasks, source, scale=scale, nc=nc, ch=ch, checkpoint=checkpoint)
            if fuse and hasattr(model, "fuse"):
                model = model.fuse(verbose=False) if builder.kind == "ultralytics" else model.fuse()
        except (ArchscopeError, Interrupted):
            raise
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - their code, reported as theirs
            raise their_failure(exc, tree, builder, doing) from None
    return model.eval()


def _make(builder: Builder, tasks: Any, source: str, *, scale: str | None, nc: int | None, ch: int | None,
          checkpoint: bool) -> Any:
    import torch

    if checkpoint:
        ckpt = torch.load(source, map_location="cpu", weights_only=False)  # the user asked: their classes, theirs
        model = ckpt
        if isinstance(ckpt, dict):
            model = ckpt.get("ema") if ckpt.get("ema") is not None else ckpt.get("model")
        if model is None or not hasattr(model, "model"):
            raise ArchscopeError("no model in this checkpoint (neither 'ema' nor 'model')", file=source)
        return model.float()
    if builder.kind == "ultralytics":
        d = tasks.yaml_model_load(source)
        if scale is not None:
            d["scale"] = scale
        cls = _ultralytics_class(tasks, d, source)
        return cls(d, ch=ch or d.get("channels", d.get("ch", 3)), nc=nc, verbose=False)
    if scale is not None:
        raise ArchscopeError(f"--builder {builder.kind}: a YOLOv5-style YAML has no scales; drop ':{scale}'",
                             file=source)
    return tasks.Model(source, ch=ch or 3, nc=nc)


def build_external(spec: ModelSpec, source: str, options: BuildOptions, builder: Builder, *,
                   fuse: bool = False, checkpoint: bool = False) -> BuiltModel:
    """Build ``source`` with ``builder``'s code and return it as archscope's BuiltModel (on meta)."""
    spec.scaling(options.scale)  # an unknown scale is said before their code runs
    model = their_model(builder, source, scale=options.scale, nc=options.nc, ch=options.ch, fuse=fuse,
                        checkpoint=checkpoint)
    layers = getattr(model, "model", None)
    if layers is None or not hasattr(layers, "__len__") or not all(hasattr(m, "f") for m in layers):
        raise ArchscopeError(f"--builder {builder}: the model it built has no model.model[i] layers with their "
                             f"'f' (sources)", file=spec.path)
    return built_from_layers(spec, list(layers), options, builder=builder, fused=fuse,
                             nc=int(getattr(model, "nc", None) or getattr(layers[-1], "nc", 0) or options.nc
                                    or spec.nc),
                             ch=options.ch or spec.ch)


def built_from_layers(spec: ModelSpec, modules: list[Any], options: BuildOptions, *, builder: Builder, nc: int,
                      ch: int, fused: bool = False) -> BuiltModel:
    """Their ``model.model`` layers (each with ``f``, relative as Ultralytics writes it) -> BuiltModel on meta."""
    from archscope.build.graph import ArchModel

    scaling = spec.scaling(options.scale)
    sources, multi = [], []
    for i, m in enumerate(modules):
        f = m.f
        listed = [f] if isinstance(f, int) else list(f)
        sources.append(tuple(j if j >= 0 else i + j if i + j >= 0 else -1 for j in listed))
        multi.append(not isinstance(f, int))
    rows = {row.index: row for row in spec.layers}
    model = ArchModel([m.to("meta") for m in modules], sources, multi).eval()
    shapes = _shapes(model, spec, options, ch, modules, builder)
    layers = []
    for i, m in enumerate(model.layers):
        row = rows.get(i)
        n = row.repeats if row is not None else 1
        if n > 1 and scaling.depth != 1.0:
            n = max(round(n * scaling.depth), 1)
        shape = shapes.get(i)
        stride = (feature_stride(options.imgsz[0], shape[2]) if isinstance(shape, list) and len(shape) == 4
                  and all(isinstance(d, int) for d in shape) else None)
        layers.append(BuiltLayer(
            index=i, from_=row.from_ if row is not None else m.f, sources=sources[i], n=n,
            module=row.module if row is not None else type(m).__name__,
            args=list(row.args) if row is not None else [],
            params=sum(p.numel() for p in m.parameters()),
            c_out=shape[1] if isinstance(shape, list) and len(shape) >= 2 and isinstance(shape[1], int) else None,
            line=row.line if row is not None else 0, section=row.section if row is not None else "head",
            output_shape=shape, stride=stride, family=builder.kind))
    max_stride = max((layer.stride for layer in layers if layer.stride), default=1)
    return BuiltModel(spec, scaling, nc, ch, options.imgsz, options.batch, model, layers, max_stride, fused=fused)


def _shapes(model: Any, spec: ModelSpec, options: BuildOptions, ch: int, modules: list[Any],
            builder: Builder) -> dict[int, Any]:
    """Output shapes from one meta forward; a failure is their layer's, named by its row and their file."""
    import torch

    from archscope.build.graph import LayerFailure
    from archscope.build.meta import shape_only

    shapes: dict[int, Any] = {}
    x = torch.empty(options.batch, ch, *options.imgsz, device="meta")
    try:
        with torch.no_grad(), shape_only():
            model.run(x, on_layer=lambda i, out: shapes.__setitem__(i, shape_of(out)))
    except LayerFailure as failure:
        error = their_failure(failure.error, their_tree(builder), builder,
                              f"layer {failure.index} ({type(modules[failure.index]).__name__}) on the meta device "
                              f"at {options.imgsz[0]}x{options.imgsz[1]}")
        raise error from None
    return shapes

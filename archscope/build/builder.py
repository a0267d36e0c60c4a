"""ModelSpec + registry -> ArchModel, with Ultralytics' scaling rules and shape checking at a given image size.

Models are built on the ``meta`` device by default: every shape and parameter count is known, nothing is
allocated and no value is initialised. :mod:`archscope.build.materialize` turns a meta model into a real one with
deterministic random weights when a real forward is wanted.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Any

from archscope.build.arguments import check_arguments
from archscope.build.catalog import default_registry
from archscope.build.registry import DIALECT_SOURCES, WAYS_OUT, ChannelContext, HeadInputs, Registry
from archscope.errors import ArchscopeError, UnknownModulesError
from archscope.spec.model_spec import LayerSpec, ModelSpec, Scaling
from archscope.util.shapes import feature_stride
from archscope.vocab import ACTIVATIONS

# Limits that refuse a build before it runs out of time or memory (the README's "Errors" section lists them; the
# YAML-side limits -- file size, nesting, repeats, layers, multiples -- live in archscope.spec.model_spec).
MAX_BATCH = 65_536
MAX_IMGSZ = 16_384  # pixels per side
MAX_CHANNELS = 65_536  # a layer's output channels after width scaling (official models: at most 2048)
MAX_SCALED_REPEATS = 1_000  # a row's repeat count after depth scaling
MAX_UNKNOWN_LINE = 380  # characters of the message that lists a file's unknown modules (the CLI's line: <= 400)
MAX_MODULES = 40_000  # modules + parameters registered for one model (largest official, yolov9e-seg: 3,505)


@dataclass(frozen=True)
class BuildOptions:
    scale: str | None = None
    nc: int | None = None
    ch: int | None = None
    imgsz: tuple[int, int] = (640, 640)
    batch: int = 1


@dataclass(frozen=True)
class BuiltLayer:
    index: int
    from_: Any  # as written in the YAML
    sources: tuple[int, ...]  # absolute indices, -1 = model input
    n: int  # repeats after depth scaling
    module: str
    args: list[Any]  # constructor args after channel resolution, as Ultralytics prints them
    params: int
    c_out: Any
    line: int
    section: str
    output_shape: Any = None
    stride: int | None = None
    notice: str | None = None  # set when the block is borrowed from another family (see Registry.borrowed)
    family: str | None = None  # the registry family of the block built ("user" for --blocks files)


@dataclass
class BuiltModel:
    spec: ModelSpec
    scaling: Scaling
    nc: int
    ch: int
    imgsz: tuple[int, int]
    batch: int
    model: Any  # ArchModel
    layers: list[BuiltLayer]
    max_stride: int
    fused: bool = False  # the deployed view (archscope.build.fuse.deploy_built)

    @property
    def params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def build_model(spec: ModelSpec, options: BuildOptions = BuildOptions(), registry: Registry | None = None,
                *, device: str = "meta") -> BuiltModel:
    import torch

    from archscope.blocks.common import BuildContext, build_context
    from archscope.build.graph import ArchModel

    _check_options(options)
    registry = registry or default_registry()
    scaling = spec.scaling(options.scale)
    nc = options.nc or spec.nc
    ch_in = options.ch or spec.ch
    _check_known_modules(spec, registry)
    context = BuildContext(default_act=_activation(spec, device), reg_max=spec.reg_max, end2end=spec.end2end)

    modules, sources, multi, infos = [], [], [], []
    channels: list[Any] = []  # output channels of each built layer
    with build_context(context), torch.device(device), _module_budget(spec):
        for row in spec.layers:
            try:
                module, info, src, is_multi = _build_layer(row, spec, scaling, nc, ch_in, channels, registry, context)
            except ArchscopeError as exc:
                raise exc.located(file=spec.path, line=row.line or None, layer=row.index, module=row.module) from None
            modules.append(module)
            sources.append(src)
            multi.append(is_multi)
            infos.append(info)
            channels.append(info.c_out)
    model = ArchModel(modules, sources, multi).eval()
    shapes, strides, max_stride = _propagate(model, spec, infos, options, ch_in)
    layers = [_with_shape(info, shapes.get(info.index), strides.get(info.index)) for info in infos]
    _hand_strides_to_heads(model, layers)
    return BuiltModel(spec, scaling, nc, ch_in, options.imgsz, options.batch, model, layers, max_stride)


def _check_known_modules(spec: ModelSpec, registry: Registry) -> None:
    """Every module name of the file has a block, or one error lists them all (with line and layer), so that a
    file with five unknown names is not fixed one run at a time."""
    unknown: dict[str, list[LayerSpec]] = {}
    for row in spec.layers:
        if registry.find(row.module, spec.dialect) is None:
            unknown.setdefault(row.module, []).append(row)
    if not unknown:
        return
    reasons = {name: registry.unknown_reason(name, spec.dialect) for name in unknown}
    if len(unknown) == 1 and len(next(iter(unknown.values()))) == 1:
        (name, (row,)), = unknown.items()
        raise UnknownModulesError(registry.unknown_message(name, spec.dialect), (name,), file=spec.path,
                                  line=row.line or None, layer=row.index, module=name)
    rows = sum(len(r) for r in unknown.values())
    head = f"{len(unknown)} unknown module{'s' if len(unknown) > 1 else ''}"
    head += f" in {rows} rows" if rows > len(unknown) else ""
    budget = MAX_UNKNOWN_LINE - len(spec.path) - len(head) - len(WAYS_OUT) - 6
    for style in ("full", "lines", "first", "names"):
        text = ", ".join(_unknown_item(name, found, reasons[name], style) for name, found in unknown.items())
        if len(text) <= budget:
            break
    else:  # even the bare names are too many for one line: as many as fit, and a count of the rest
        names, used = [], 0
        for name in unknown:
            if used + len(_short(name)) + 2 > budget - 20:
                break
            names.append(_short(name))
            used += len(names[-1]) + 2
        text = ", ".join(names) + f" and {len(unknown) - len(names)} more"
    raise UnknownModulesError(f"{head}: {text}; {WAYS_OUT}", tuple(unknown), file=spec.path)


def _unknown_item(name: str, rows: list[LayerSpec], reason: str, style: str) -> str:
    """One unknown name for the list: where it is (every row, or only lines, or the first row) and why."""
    if style == "full":
        where = "; ".join((f"line {r.line}, " if r.line else "") + f"layer {r.index}" for r in rows)
    elif style == "lines":
        where = ("lines " if len(rows) > 1 else "line ") + ", ".join(str(r.line or f"layer {r.index}") for r in rows)
    elif style == "first":
        first = rows[0]
        where = (f"line {first.line}" if first.line else f"layer {first.index}") + (
            f" and {len(rows) - 1} more" if len(rows) > 1 else "")
    else:
        return _short(name)
    return f"{_short(name)} ({where}{f'; {reason}' if reason else ''})"
def resized(built: BuiltModel, imgsz: tuple[int, int], batch: int) -> BuiltModel:
    """The same modules at another image size and batch: no module is built again (a block's construction never
    depends on the image size), only the shape pass runs, with the errors ``build_model`` gives at that size.
    The modules are shared with ``built``: use one of the two at a time (``archscope sweep`` walks a model's sizes
    one after the other)."""
    from dataclasses import replace

    options = BuildOptions(scale=built.scaling.scale, nc=built.nc, ch=built.ch, imgsz=imgsz, batch=batch)
    _check_options(options)
    shapes, strides, max_stride = _propagate(built.model, built.spec, built.layers, options, built.ch)
    layers = [_with_shape(info, shapes.get(info.index), strides.get(info.index)) for info in built.layers]
    _hand_strides_to_heads(built.model, layers)
    return replace(built, imgsz=imgsz, batch=batch, layers=layers, max_stride=max_stride)


def _check_options(options: BuildOptions) -> None:
    from archscope.spec.model_spec import MAX_CHANNELS as MAX_INPUT_CHANNELS
    from archscope.spec.model_spec import MAX_CLASSES

    for name, value, limit in (("--batch", options.batch, MAX_BATCH), ("--nc", options.nc, MAX_CLASSES),
                               ("--ch", options.ch, MAX_INPUT_CHANNELS)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ArchscopeError(f"{name} must be a positive integer, got {_short(value)}")
        if value is not None and value > limit:
            raise ArchscopeError(f"{name} {value} is over archscope's limit of {limit}")
    h, w = options.imgsz
    if h < 1 or w < 1:
        raise ArchscopeError(f"--imgsz must be positive, got {h}x{w}")
    if h > MAX_IMGSZ or w > MAX_IMGSZ:
        raise ArchscopeError(f"--imgsz {h}x{w} is over archscope's limit of {MAX_IMGSZ} pixels a side")


class _module_budget:
    """Count every module and parameter registered while a model is built; past MAX_MODULES the build stops (a
    YAML count such as ``n: 100000`` inside args would otherwise build for minutes)."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.count = 0
        self.handles: list[Any] = []

    def _tick(self, *_: Any) -> None:
        self.count += 1
        if self.count > MAX_MODULES:
            raise ArchscopeError(f"the model is over archscope's limit of {MAX_MODULES} modules and parameters "
                                 "(a repeat count or an argument too large?)")

    def __enter__(self) -> _module_budget:
        from torch.nn.modules import module as torch_module

        self.handles = [torch_module.register_module_module_registration_hook(self._tick),
                        torch_module.register_module_parameter_registration_hook(self._tick)]
        return self

    def __exit__(self, *_: Any) -> None:
        for handle in self.handles:
            handle.remove()


def _activation(spec: ModelSpec, device: str = "meta"):
    """Parse ``activation: nn.ReLU()`` safely: an allow-listed torch.nn class with literal arguments only, built on
    the meta device first so nothing from the YAML allocates memory (``nn.PReLU(num_parameters=6e8)``)."""
    if spec.activation is None:
        return None
    import torch
    from torch import nn

    from archscope.spec.model_spec import MAX_CHANNELS as MAX_ACT_PARAMETERS

    text = spec.activation.strip()
    error = ArchscopeError(
        f"activation {text!r} is not an allowed torch.nn activation call such as nn.ReLU() or nn.LeakyReLU(0.1)",
        file=spec.path,
    )
    try:
        call = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise error from None
    if not isinstance(call, ast.Call):
        raise error
    name = ast.unparse(call.func)
    short = name.removeprefix("torch.").removeprefix("nn.")
    if name not in (f"nn.{short}", f"torch.nn.{short}") or short not in ACTIVATIONS:
        raise error
    try:
        args = [ast.literal_eval(a) for a in call.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg is not None}
        if any(k.arg is None for k in call.keywords):  # a **mapping argument: not a literal keyword
            raise error
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise error from None
    if not all(isinstance(v, (bool, int, float)) and (not isinstance(v, float) or math.isfinite(v))
               and abs(v) <= 1e6 for v in (*args, *kwargs.values())):
        raise ArchscopeError(f"activation {_short(text)}: arguments must be plain finite numbers or booleans",
                             file=spec.path)
    try:
        with torch.device("meta"):
            probe = getattr(nn, short)(*args, **kwargs)
    except Exception:  # noqa: BLE001 - torch's own words (e.g. a negative size) are not the user's
        raise ArchscopeError(f"activation {_short(text)}: nn.{short} does not accept these arguments",
                             file=spec.path) from None
    count = sum(p.numel() for p in probe.parameters())
    if count > MAX_ACT_PARAMETERS:
        raise ArchscopeError(f"activation {_short(text)} has {count} parameters; at most {MAX_ACT_PARAMETERS}",
                             file=spec.path)
    if device == "meta":
        return probe
    with torch.device(device):
        return getattr(nn, short)(*args, **kwargs)


def _resolve_names(value: Any, spec: ModelSpec, nc: int) -> Any:
    """YAML strings that name model-level values (``nc``, ``anchors``, ``kpt_shape``, ``None``) become data."""
    if isinstance(value, list):
        return [_resolve_names(v, spec, nc) for v in value]
    if not isinstance(value, str):
        return value
    names: dict[str, Any] = {"nc": nc, "None": None, "True": True, "False": False}
    if spec.anchors is not None:
        names["anchors"] = spec.anchors
    if spec.kpt_shape is not None:
        names["kpt_shape"] = list(spec.kpt_shape)
    return names.get(value, value)


def _absolute_sources(row: LayerSpec) -> tuple[tuple[int, ...], bool]:
    is_multi = isinstance(row.from_, tuple)
    raw = row.from_ if isinstance(row.from_, tuple) else (row.from_,)
    out: list[int] = []
    for f in raw:
        if f >= row.index:
            raise ArchscopeError(f"'from' {f} points forward (a layer may only take earlier layers)")
        j = f if f >= 0 else row.index + f
        if j < -1 or (j == -1 and f != -1):  # only the first layer's -1 reaches the model input
            raise ArchscopeError(f"'from' {f} points before the first layer")
        out.append(j)
    return tuple(out), is_multi


def _build_layer(row, spec, scaling, nc, ch_in, channels, registry, context):
    block = registry.lookup(row.module, spec.dialect)
    sources, is_multi = _absolute_sources(row)
    c_in = []
    for j in sources:
        c = ch_in if j == -1 else channels[j]
        if c is None:
            raise ArchscopeError(f"takes input from layer {j}, a head, whose outputs cannot feed another layer")
        c_in.append(c)
    args = _resolve_names(list(row.args), spec, nc)
    args = yaml_args = _dialect_args(block, args, spec, sources)
    n = max(round(row.repeats * scaling.depth), 1) if row.repeats > 1 else row.repeats
    if n > MAX_SCALED_REPEATS:
        raise ArchscopeError(f"{row.repeats} repeats at depth {scaling.depth:g} make {n}, over archscope's limit "
                             f"of {MAX_SCALED_REPEATS}")
    ctx = ChannelContext(c_in, is_multi, args, nc, scaling.width, scaling.max_channels, scaling.scale, spec.dialect,
                         anchors=spec.anchors)
    resolved = block.channels.resolve(ctx, row.module)
    _check_channels(resolved.c_out)
    args = resolved.args
    if block.repeat.kind == "inner":
        args = [*args[: block.repeat.position], n, *args[block.repeat.position:]]
    if block.scale_args is not None:
        args = block.scale_args(list(args), scaling.scale)
    check_arguments(block, row.module, yaml_args, resolved.args, args)
    if block.modern:
        context.legacy_heads = False
    module = _construct(block, args, n, row.module)
    params = sum(p.numel() for p in module.parameters())
    info = BuiltLayer(row.index, row.from_ if not isinstance(row.from_, tuple) else list(row.from_), sources,
                      n, row.module, args, params, resolved.c_out, row.line, row.section,
                      notice=_borrowed_notice(registry, block, row.module, spec.dialect), family=block.family)
    return module, info, sources, is_multi


def _borrowed_notice(registry, block, name, dialect) -> str | None:
    """One line when a dialect with blocks of its own gets a built-in block of another family for ``name``."""
    if not registry.borrowed(block, dialect):
        return None
    return (f"{name} is not a block of the {DIALECT_SOURCES.get(dialect, dialect)}: built archscope's {name} (the "
            f"{block.family} family's published definition); forks often define their own {name}: to build yours, "
            f"register it with @archscope.block({name!r}, dialect={dialect!r}, ...) in a file given with --blocks")


def _dialect_args(block, args, spec, sources):
    """YOLOv5-repo heads accept an anchor count instead of anchor lists: expand it the way that repo does."""
    if (spec.dialect == "yolov5" and block.dialect == "yolov5" and isinstance(block.channels, HeadInputs)
            and len(args) > 1 and isinstance(args[1], int) and not isinstance(args[1], bool)):
        args = [args[0], [list(range(args[1] * 2))] * len(sources), *args[2:]]
    return args


def _check_channels(c_out) -> None:
    values = c_out if isinstance(c_out, (list, tuple)) else [c_out]
    for c in values:
        if isinstance(c, (int, float)) and not isinstance(c, bool) and c > MAX_CHANNELS:
            raise ArchscopeError(f"{_short(c)} output channels is over archscope's limit of {MAX_CHANNELS}")


def _construct(block, args, n, name):
    import torch.nn as nn

    def make():
        return block.factory(*args)

    try:
        return nn.Sequential(*(make() for _ in range(n))) if (n > 1 and block.repeat.kind == "outer") else make()
    except ArchscopeError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - said in archscope's words below, never torch's
        from archscope.errors import Interrupted

        if isinstance(exc, Interrupted):
            raise
        from archscope.build.plugins import USER_FAMILY, user_code_problem

        if block.family == USER_FAMILY:  # the user's own block: their words are theirs to read
            raise ArchscopeError(f"your block {name} raised while being built from args {_short(args)}: "
                                 f"{user_code_problem(exc)}") from None
        raise ArchscopeError(
            f"cannot build {name}{block.display_signature()} from resolved args {_short(args)}: "
            f"{_construct_problem(exc)}"
        ) from None


def _own_words(exc: BaseException) -> str | None:
    """The message of an error archscope's own block code raised (an ArchscopeError, or ``raise ValueError("cannot
    split ...")`` in archscope's blocks and helpers): those are written for the user. None for anything torch or
    Python raised."""
    import os

    if isinstance(exc, ArchscopeError):
        return exc.message
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if not isinstance(exc, ValueError) or tb is None:
        return None
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    where = os.path.abspath(tb.tb_frame.f_code.co_filename)
    if not where.startswith(package) or where.startswith(os.path.join(package, "build") + os.sep):
        return None
    text = " ".join(str(exc).split())
    return text[:200] if text else None


def _construct_problem(exc: BaseException) -> str:
    """Why a built-in block refused its arguments, in archscope's words (torch's and Python's stay out)."""
    own = _own_words(exc)
    if own:
        return own
    text = str(exc)
    if isinstance(exc, TypeError) and ("positional argument" in text or "keyword argument" in text
                                       or "required" in text):
        return "the number or names of the arguments do not fit this block"
    if isinstance(exc, (TypeError, AttributeError)):
        return "an argument has the wrong type (a number, a list or a name where another was expected)"
    if isinstance(exc, (IndexError, KeyError)):
        return "an argument list is too short or a name is unknown"
    if isinstance(exc, ZeroDivisionError) or "divisible" in text or "multiple of" in text:
        return "the channels do not divide as the block needs (groups, heads or splits)"
    if isinstance(exc, (OverflowError, MemoryError)) or "overflow" in text:
        return "an argument is far too large"
    if "negative" in text or "non-positive" in text or "must be positive" in text or "greater than" in text:
        return "a size or count is zero or negative"
    return "the block does not accept these values"


def _short(args) -> str:
    from archscope.spec.model_spec import brief

    return brief(args, 120)


# ------------------------------------------------------------------------------------------- shapes




def shape_of(value: Any) -> Any:
    """A tensor's shape as a list, or nested lists for tuples/lists of tensors."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return list(value.shape)
    if isinstance(value, (list, tuple)):
        return [shape_of(v) for v in value]
    if isinstance(value, dict):
        return {k: shape_of(v) for k, v in value.items()}
    return None


def _propagate(model, spec, infos, options, ch_in):
    """Meta forward at the requested size: output shapes, per-layer strides, and clear errors where it breaks."""
    import torch

    from archscope.build.graph import LayerFailure

    h, w = options.imgsz
    shapes: dict[int, Any] = {}
    strides: dict[int, int] = {}

    def record(i, out):
        shapes[i] = shape_of(out)
        if isinstance(shapes[i], list) and len(shapes[i]) == 4 and all(isinstance(d, int) for d in shapes[i]):
            strides[i] = feature_stride(h, shapes[i][2])

    from archscope.build.meta import shape_only  # answers common ops from shapes: keeps torch._dynamo unimported

    x = torch.empty(options.batch, ch_in, h, w, device="meta")
    try:
        with torch.no_grad(), shape_only():
            model.run(x, on_layer=record)
    except LayerFailure as failure:
        max_stride = max(_probe_max_stride(model, options, ch_in), max(strides.values(), default=1))
        if h % max_stride or w % max_stride:
            raise _stride_error(options, max_stride, spec) from None
        info = infos[failure.index]
        detail = _describe_failure(failure.error, infos, info, shapes)
        raise ArchscopeError(detail, file=spec.path, line=info.line or None, layer=info.index,
                             module=info.module) from None
    max_stride = max(strides.values(), default=1)
    if h % max_stride or w % max_stride:
        raise _stride_error(options, max_stride, spec)
    return shapes, strides, max_stride


def _probe_max_stride(model, options, ch_in) -> int:
    """The model's max stride, from a meta forward at a size every power-of-two stride up to 256 divides."""
    import torch

    from archscope.build.graph import LayerFailure
    from archscope.build.meta import shape_only

    h, w = (-(-d // 256) * 256 for d in options.imgsz)
    found = [1]

    def record(_, out):
        shape = shape_of(out)
        if isinstance(shape, list) and len(shape) == 4 and all(isinstance(d, int) for d in shape):
            found.append(feature_stride(h, shape[2]))

    try:
        with torch.no_grad(), shape_only():
            model.run(torch.empty(1, ch_in, h, w, device="meta"), on_layer=record)
    except LayerFailure:
        pass  # the model is broken at any size: report the layer instead
    return max(found)


def _stride_error(options, max_stride, spec):
    h, w = options.imgsz
    ok_h = max(max_stride, round(h / max_stride) * max_stride)
    ok_w = max(max_stride, round(w / max_stride) * max_stride)
    return ArchscopeError(
        f"image size {h}x{w} is not divisible by the model's max stride {max_stride}; try --imgsz {ok_h}x{ok_w}",
        file=spec.path,
    )


def _describe_failure(error, infos, info, shapes):
    inputs = [("input", None) if j == -1 else (f"layer {j}", shapes.get(j)) for j in info.sources]
    listed = ", ".join(name if shape is None else f"{name} {shape}" for name, shape in inputs)
    if info.family == "user":
        from archscope.build.plugins import user_code_problem

        return f"your block {info.module} failed on inputs {listed}: {user_code_problem(error)}"
    return f"cannot run {info.module} on inputs {listed}: {_run_problem(error)}"


def _run_problem(error: BaseException) -> str:
    """Why a layer's forward failed on the meta device, in archscope's words."""
    own = _own_words(error)
    if own:
        return own
    text = str(error)
    if "size" in text and ("match" in text or "expected" in text or "shape" in text) or "channels" in text:
        return "its input shapes or channels do not fit its arguments"
    if isinstance(error, (TypeError, AttributeError)):
        return "its arguments or inputs have the wrong kind (a tensor, list or number where another was expected)"
    if isinstance(error, (IndexError, KeyError)):
        return "it takes more inputs, or other ones, than its 'from' gives it"
    if "too small" in text or "smaller than" in text or "non-positive" in text or "negative" in text:
        return "the feature map is too small for its kernel or stride at this image size (try a larger --imgsz)"
    return "its arguments do not fit its inputs"


def _with_shape(info: BuiltLayer, shape, stride) -> BuiltLayer:
    from dataclasses import replace

    return replace(info, output_shape=shape, stride=stride)


def _hand_strides_to_heads(model, layers: list[BuiltLayer]) -> None:
    """Heads learn their per-input strides from shapes, never from a forward's values (which meta has not)."""
    by_index = {layer.index: layer for layer in layers}
    for layer, module in zip(layers, model.layers):
        setter = getattr(module, "set_strides", None)
        if setter is not None:
            setter(tuple(by_index[j].stride if j >= 0 else 1 for j in layer.sources))

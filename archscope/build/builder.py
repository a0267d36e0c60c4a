"""ModelSpec + registry -> ArchModel, with Ultralytics' scaling rules and shape checking at a given image size.

Models are built on the ``meta`` device by default: every shape and parameter count is known, nothing is
allocated and no value is initialised. :mod:`archscope.build.materialize` turns a meta model into a real one with
deterministic random weights when a real forward is wanted.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from archscope.build.arguments import check_arguments
from archscope.build.catalog import default_registry
from archscope.build.registry import DIALECT_SOURCES, ChannelContext, HeadInputs, Registry
from archscope.errors import ArchscopeError
from archscope.spec.model_spec import LayerSpec, ModelSpec, Scaling
from archscope.util.shapes import feature_stride
from archscope.vocab import ACTIVATIONS


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
    context = BuildContext(default_act=_activation(spec), reg_max=spec.reg_max, end2end=spec.end2end)

    modules, sources, multi, infos = [], [], [], []
    channels: list[Any] = []  # output channels of each built layer
    with build_context(context), torch.device(device):
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


def _check_options(options: BuildOptions) -> None:
    for name, value in (("--batch", options.batch), ("--nc", options.nc), ("--ch", options.ch)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ArchscopeError(f"{name} must be a positive integer, got {value!r}")
    h, w = options.imgsz
    if h < 1 or w < 1:
        raise ArchscopeError(f"--imgsz must be positive, got {h}x{w}")


def _activation(spec: ModelSpec):
    """Parse ``activation: nn.ReLU()`` safely: an allow-listed torch.nn class with literal arguments only."""
    if spec.activation is None:
        return None
    from torch import nn

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
        return getattr(nn, short)(*args, **kwargs)
    except (ValueError, TypeError):
        raise error from None


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
    ctx = ChannelContext(c_in, is_multi, args, nc, scaling.width, scaling.max_channels, scaling.scale, spec.dialect,
                         anchors=spec.anchors)
    resolved = block.channels.resolve(ctx, row.module)
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
                      notice=_borrowed_notice(registry, block, row.module, spec.dialect))
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


def _construct(block, args, n, name):
    import torch.nn as nn

    def make():
        return block.factory(*args)

    try:
        return nn.Sequential(*(make() for _ in range(n))) if (n > 1 and block.repeat.kind == "outer") else make()
    except ArchscopeError:
        raise
    except (TypeError, ValueError, RuntimeError, IndexError, KeyError, ZeroDivisionError, AssertionError) as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise ArchscopeError(
            f"cannot build {name}{block.display_signature()} from resolved args {_short(args)}: {detail}"
        ) from None


def _short(args) -> str:
    text = repr(args)
    return text if len(text) <= 120 else text[:117] + "..."


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
    inputs = [("input" if j == -1 else f"layer {j}", shapes.get(j)) for j in info.sources]
    listed = ", ".join(f"{name} {shape}" for name, shape in inputs)
    text = " ".join(str(error).split())
    if len(text) > 160:
        text = text[:157] + "..."
    return f"cannot run {info.module} on inputs {listed}: {text}"


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

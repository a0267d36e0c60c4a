"""Any ``nn.Module`` as archscope's layered model: ``archscope.profile(module, input_size=(1, 3, 640, 640))``.

The layers are the module's top-level children (or the sub-modules the user names, dotted paths such as
``backbone.stage1``), each with its sub-modules down to ``depth``; the module's own ``forward`` runs, so whatever it
does between its children (residual adds, reshapes, a final mean) is counted too, as the model's "outside the
layers" part of the totals. The module is counted on the ``meta`` device without allocating: a factory named on the
command line is called inside ``torch.device("meta")``; a module already built is copied structure-only, every
parameter and buffer replaced by a meta tensor of its shape (the caller's module and its weights are left as they
are).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

from archscope.build.builder import BuildOptions, BuiltLayer, BuiltModel, shape_of
from archscope.errors import ArchscopeError
from archscope.spec.model_spec import LayerSpec, ModelSpec, Scaling
from archscope.util.text import one_line

MAX_INPUT_DIMS = 8


class ModuleModel:
    """What the analysis needs of a model (``layers``, ``layer_sources``, ``run``, ``parameters``, ...), for a user's
    module whose own forward is run. Not an ``nn.Module`` itself, so the module tracker sees the named layers as the
    top of every call stack."""

    def __init__(self, root: Any, names: Sequence[str], inputs: tuple[tuple[Any, ...], dict[str, Any]]):
        from torch import nn

        self.root = root
        self.names = list(names)
        self.layers = nn.ModuleList([root.get_submodule(n) for n in self.names])
        self.layer_sources = [(i - 1,) for i in range(len(self.layers))]  # as a chain, for live memory
        self.inputs = inputs
        first = next((a for a in inputs[0] if hasattr(a, "numel")), None)
        self.input_numel = first.numel() if first is not None else None

    # the nn.Module surface the analysis and report use: the whole module's parameters, buffers, modules
    def parameters(self, recurse: bool = True) -> Any:
        return self.root.parameters(recurse)

    def buffers(self, recurse: bool = True) -> Any:
        return self.root.buffers(recurse)

    def modules(self) -> Any:
        return self.layers.modules()

    def eval(self) -> ModuleModel:
        self.root.eval()
        return self

    def run(self, x: Any = None, on_layer: Callable[[int, Any], None] | None = None, wrap: Callable | None = None):
        """The module's own forward on its example inputs (on ``x``'s device); ``on_layer(i, out)`` sees each named
        layer's output as it finishes. An ``x`` of another size is refused (a ValueError): the module runs on its own
        inputs only, so the analysis's small proxy forward (legacy GFLOPs) falls back to the full size, as it does
        for a model that fails at the proxy size."""
        if x is not None and self.input_numel is not None and x.numel() != self.input_numel:
            raise ValueError("the module runs on its own example inputs only")
        args, kwargs = _inputs_on(self.inputs, getattr(x, "device", None))
        handles = []
        if on_layer is not None:
            for i, layer in enumerate(self.layers):
                handles.append(layer.register_forward_hook(lambda _m, _a, out, i=i: on_layer(i, out)))
        try:
            return self.root(*args, **kwargs)
        finally:
            for handle in handles:
                handle.remove()


def _inputs_on(inputs: tuple[tuple[Any, ...], dict[str, Any]], device: Any) -> tuple[tuple[Any, ...], dict]:
    import torch

    def move(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            if device is None or value.device == device:
                return value
            return torch.empty(value.shape, dtype=value.dtype, device=device)
        if isinstance(value, (list, tuple)):
            return type(value)(move(v) for v in value)
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        return value

    args, kwargs = inputs
    return move(args), move(kwargs)


def to_meta(module: Any) -> Any:
    """A structure-only copy of ``module`` on meta: no parameter or buffer byte is copied or allocated."""
    import torch

    memo: dict[int, Any] = {}
    for tensor in [*module.parameters(), *module.buffers()]:
        if id(tensor) in memo or tensor.device.type == "meta":
            continue
        empty = torch.empty_like(tensor, device="meta")
        memo[id(tensor)] = (torch.nn.Parameter(empty, requires_grad=tensor.requires_grad)
                            if isinstance(tensor, torch.nn.Parameter) else empty)
    return copy.deepcopy(module, memo)


def example_inputs(input_size: Any, inputs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``input_size=(1, 3, 640, 640)`` -> one meta float tensor; ``inputs`` (a tensor, a tuple of args, or
    ``(args, kwargs)``) -> their meta twins (tensors keep shape and dtype)."""
    import torch

    if (input_size is None) == (inputs is None):
        raise ArchscopeError("give the module's input: input_size=(1, 3, 640, 640) or example_inputs=(tensor, ...)")
    if input_size is not None:
        size = parse_input_size(input_size)
        return (torch.empty(size, device="meta"),), {}
    if isinstance(inputs, torch.Tensor):
        inputs = ((inputs,), {})
    elif not (isinstance(inputs, tuple) and len(inputs) == 2 and isinstance(inputs[1], dict)):
        inputs = (tuple(inputs) if isinstance(inputs, (list, tuple)) else (inputs,), {})
    return _inputs_on(inputs, torch.device("meta"))


def parse_input_size(value: Any) -> tuple[int, ...]:
    """``(1, 3, 224, 224)`` or ``"1,3,224,224"`` -> a shape of positive ints."""
    parts = value.replace("x", ",").split(",") if isinstance(value, str) else value
    try:
        size = tuple(int(str(p).strip()) for p in parts)
    except (TypeError, ValueError):
        size = ()
    if not size or len(size) > MAX_INPUT_DIMS or min(size) < 1 or any(isinstance(p, bool) for p in parts):
        raise ArchscopeError(f"--input-size must be a shape of positive integers such as 1,3,224,224, got "
                             f"{value!r}")
    return size


def layer_names(root: Any, layers: Sequence[str] | None) -> list[str]:
    if layers is None:
        names = [name for name, _ in root.named_children()]
        if not names:
            raise ArchscopeError(f"the module ({type(root).__name__}) has no child modules to list as layers; "
                                 f"name the layers, or wrap it in nn.Sequential")
        return names
    known = dict(root.named_modules())
    for name in layers:
        if not name or name not in known:
            raise ArchscopeError(f"no sub-module named {name!r} in {type(root).__name__} (layers are dotted paths "
                                 f"such as backbone.stage1)")
    return list(layers)


def build_module(module: Any, *, input_size: Any = None, inputs: Any = None, layers: Sequence[str] | None = None,
                 name: str | None = None, on_meta: bool = False) -> BuiltModel:
    """``module`` (already on meta when ``on_meta``, else copied there) -> BuiltModel whose layers are its
    children (or ``layers``); output shapes from one meta forward."""
    import torch

    if not isinstance(module, torch.nn.Module):
        raise ArchscopeError(f"expected an nn.Module, got {type(module).__name__}")
    root = module if on_meta else to_meta(module)
    root.eval()
    names = layer_names(root, layers)
    example = example_inputs(input_size, inputs)
    model = ModuleModel(root, names, example)
    shapes: dict[int, Any] = {}
    with torch.no_grad():
        try:
            model.run(on_layer=lambda i, out: shapes.__setitem__(i, shape_of(out)))
        except ArchscopeError:
            raise
        except Exception as exc:  # noqa: BLE001 - the user's module, in one line
            raise ArchscopeError(f"the module's forward failed on the meta device: "
                                 f"{one_line(exc, with_type=True)}") from None
    first = next((a for a in example[0] if isinstance(a, torch.Tensor)), None)
    shape = tuple(first.shape) if first is not None else (1,)
    batch = int(shape[0]) if shape else 1
    ch = int(shape[1]) if len(shape) == 4 else 1
    imgsz = (int(shape[2]), int(shape[3])) if len(shape) == 4 else (max(1, math.prod(shape[1:])), 1)
    label = name or type(root).__name__
    rows = tuple(LayerSpec(index=i, from_=-1, repeats=1, module=type(m).__name__, args=(), line=0, section="module")
                 for i, m in enumerate(model.layers))
    spec = ModelSpec(path=label, name=label, dialect="module", nc=0, ch=ch, layers=rows)
    built_layers = [
        BuiltLayer(index=i, from_=-1, sources=(i - 1,), n=1, module=type(m).__name__, args=[names[i]],
                   params=sum(p.numel() for p in m.parameters()), c_out=None, line=0, section="module",
                   output_shape=shapes.get(i), family="module")
        for i, m in enumerate(model.layers)]
    options = BuildOptions(imgsz=imgsz, batch=batch)
    return BuiltModel(spec, Scaling(None, 1.0, 1.0, math.inf), 0, ch, options.imgsz, options.batch, model,
                      built_layers, max_stride=1)


def call_factory(target: str) -> Any:
    """``pkg.module:factory`` -> the module the callable returns, called inside ``torch.device("meta")``."""
    import importlib

    import torch

    module_name, _, attr = target.partition(":")
    try:
        owner = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ArchscopeError(f"{target}: no importable module {module_name} (and no such file)") from None
        raise ArchscopeError(f"{target}: importing {module_name} failed: {one_line(exc, with_type=True)}") from None
    except Exception as exc:  # noqa: BLE001 - the user's module
        raise ArchscopeError(f"{target}: importing {module_name} failed: {one_line(exc, with_type=True)}") from None
    factory: Any = owner
    for part in attr.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise ArchscopeError(f"{target}: {module_name} has no {attr}")
    if isinstance(factory, torch.nn.Module):
        return factory
    if not callable(factory):
        raise ArchscopeError(f"{target}: {attr} is neither an nn.Module nor a callable that returns one")
    try:
        with torch.device("meta"):
            made = factory()
    except Exception as exc:  # noqa: BLE001 - the user's factory
        raise ArchscopeError(f"{target}: calling {attr}() failed: {one_line(exc, with_type=True)}") from None
    if not isinstance(made, torch.nn.Module):
        raise ArchscopeError(f"{target}: {attr}() returned {type(made).__name__}, not an nn.Module")
    return made

"""Cross-check archscope's counts against third-party counters (optional extras), and explain the gap from what
the other tool counted.

Every counter runs a *real* forward on CPU (``--counter fvcore|thop|ptflops|calflops|torchinfo``), so give it a
model built on ``cpu`` with real weights, and an input tensor. Each reports multiply-adds (MACs); archscope counts a
multiply-add as 2 FLOPs, so the figure set beside archscope's ``mac_flops`` is ``2 x`` theirs (``flops_x2``).

The explanation is not a canned sentence: each tool is asked what it counted *per module* (fvcore's
``by_module_and_operator()`` and ``uncalled_modules()``, thop's per-module ``total_ops`` tree from
``ret_layer_info=True``, ptflops' per-module ``__flops__``, calflops' per-module ``__macs__``, torchinfo's per-layer
``macs``), and that is set against archscope's own per-op records (:class:`~archscope.analysis.records.OpRecord`: op
name, YAML layer, sub-module path) module by module. The modules where the two differ make up the gap, grouped by
cause:

* ``not-run``: modules archscope counted that the tool never saw run (fvcore's TorchScript trace drops a branch
  whose output is unused, e.g. YOLOv10's one-to-many head in eval);
* ``missed``: modules where archscope counts products the tool gives nothing for (functional ``@``/``bmm``/SDPA
  inside a module no hook rule covers), named by archscope's op names;
* ``functional``: products the tool counts outside every module (ultralytics-thop's and ptflops' functional
  counters) against archscope's products in modules the tool has no rule for;
* ``extra``: modules the tool charges where archscope's ``mac_flops`` has nothing (norms, upsample, pools,
  activations: archscope files them under ``other_flops``), named by module class;
* ``differs``: modules both count, differently (bias adds counted as MACs, a different rule), by module class.

thop comes in two packagings that install the same module ``thop``: PyPI's ``thop`` 0.1.1 (module hooks only, blind
to functional matmuls) and ``ultralytics-thop`` 2.x (what ``pip install ultralytics`` brings: it also counts
functional products, and its total equals archscope's ``gflops_ultralytics`` at batch 1). Which one is installed is
read from the distribution metadata, and the report names it.
"""

from __future__ import annotations

import copy
import importlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from archscope.errors import ArchscopeError

COUNTERS = ("fvcore", "thop", "ptflops", "calflops", "torchinfo")

#: archscope op names (ATen overload packets) that are matrix products: what functional counters look for
_PRODUCTS = frozenset({"mm", "bmm", "matmul", "addmm", "baddbmm", "einsum", "linear", "_scaled_dot_product_attention",
                       "scaled_dot_product_attention", "_scaled_dot_product_flash_attention_for_cpu",
                       "_scaled_dot_product_efficient_attention", "_scaled_dot_product_flash_attention"})


@dataclass(frozen=True)
class GapItem:
    """One cause of the difference, on archscope's scale (2 FLOPs per multiply-add), signed as tool minus archscope."""

    kind: str  # "not-run", "missed", "functional", "extra", "differs", "rest"
    flops: float
    what: str  # archscope op names or the tool's module classes
    modules: tuple[tuple[str, float], ...] = ()  # the biggest modules of this cause: (path, signed flops)
    archscope_other: float = 0.0  # "extra": archscope's other_flops there; "functional": archscope's products

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "flops": self.flops, "what": self.what,
                "modules": [list(m) for m in self.modules], "archscope_other_flops": self.archscope_other}


@dataclass(frozen=True)
class ToolCount:
    """What one tool counted: its total (MACs) and, per module path, its own MACs (not its children's)."""

    total_macs: float
    own: dict[str, float]  # module path -> MACs the tool attributes to that module itself
    unattributed: float = 0.0  # MACs the tool counted outside every module (functional counters)
    unrun: frozenset[str] = frozenset()  # module paths the tool never saw run (fvcore's uncalled modules)
    unsupported: dict[str, int] = field(default_factory=dict)  # ops the tool skipped (fvcore)
    classes: dict[str, str] = field(default_factory=dict)  # module path -> class name


@dataclass(frozen=True)
class CrossCheck:
    counter: str  # one of COUNTERS
    version: str
    macs: float  # the package's own figure: multiply-adds (fvcore calls them "flops")
    flops_x2: float  # macs x 2, on archscope's scale (a multiply-add = 2 FLOPs)
    explanation: str  # one line, computed: the modules and ops that make up the gap, with their figures
    unsupported_ops: dict[str, int]  # ops the counter skipped (fvcore), empty for the others
    package: str = ""  # the distribution: "fvcore", "thop", "ultralytics-thop", "ptflops", "calflops", "torchinfo"
    gap: tuple[GapItem, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "counter": self.counter,
            "package": self.package,
            "version": self.version,
            "macs": self.macs,
            "flops_x2": self.flops_x2,
            "explanation": self.explanation,
            "unsupported_ops": dict(self.unsupported_ops),
            "gap": [g.to_dict() for g in self.gap],
        }


# ----------------------------------------------------------------------------------------- packages


def _require(counter: str, module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as e:
        missing = getattr(e, "name", None)
        if missing and missing.split(".")[0] not in (counter, module.split(".")[0]):
            # calflops 0.3.2 imports transformers at import time without depending on it
            raise ArchscopeError(f"--counter {counter}: the installed {counter} needs '{missing}', which is not "
                                 f"installed: pip install {missing.split('.')[0]}") from None
        raise ArchscopeError(
            f"--counter {counter} needs the optional package: pip install 'archscope-yolo[{counter}]'"
        ) from None


def _version(dist: str) -> str:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:  # noqa: BLE001 - a version string is nice to have, never required
        return "unknown"


def thop_packaging() -> tuple[str, str]:
    """Which distribution provides the module ``thop``: ("ultralytics-thop", "2.2.3") or ("thop", "0.1.1...")."""
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("ultralytics-thop", "thop"):
        try:
            return dist, version(dist)
        except PackageNotFoundError:
            continue
    return "thop", "unknown"


def _check_real(model: Any, inputs: tuple[Any, ...]) -> None:
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if t.device.type != "cpu":
            raise ArchscopeError(
                f"cross-checking needs a model on cpu with real weights; '{name}' is on {t.device.type}"
            )
    for i, x in enumerate(inputs):
        device = getattr(getattr(x, "device", None), "type", "cpu")
        if device != "cpu":
            raise ArchscopeError(f"cross-checking needs cpu inputs; input {i} is on {device}")


def _as_tuple(inputs: Any) -> tuple[Any, ...]:
    return tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)


def _classes(model: Any) -> dict[str, str]:
    return {name: type(m).__name__ for name, m in model.named_modules()}


def _paths(model: Any) -> dict[int, str]:
    return {id(m): name for name, m in model.named_modules()}


def _failed(counter: str, e: Exception) -> ArchscopeError:
    text = " ".join(str(e).split())[:200]
    return ArchscopeError(f"{counter} could not count this model: {type(e).__name__}: {text}")


# ----------------------------------------------------------------------------------------- the tools


def fvcore_tool(model: Any, args: tuple[Any, ...]) -> ToolCount:
    """fvcore's ``FlopCountAnalysis``: total, per-module own counts, uncalled modules and unsupported ops."""
    nn_mod = _require("fvcore", "fvcore.nn")
    import torch

    was_training = model.training
    model.eval()
    fv_logger = logging.getLogger("fvcore")  # fvcore logs a warning per unsupported op; they are collected instead
    old_level = fv_logger.level
    fv_logger.setLevel(logging.ERROR)
    try:
        with torch.no_grad():
            analysis = nn_mod.FlopCountAnalysis(model, args)
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            total = float(analysis.total())
            by_module = {k: float(v) for k, v in analysis.by_module().items()}
            unsupported = {str(k): int(v) for k, v in analysis.unsupported_ops().items()}
            uncalled = frozenset(analysis.uncalled_modules())
    except ArchscopeError:
        raise
    except Exception as e:  # noqa: BLE001 - tracing failures are the model's, report them as input problems
        raise _failed("fvcore", e) from None
    finally:
        fv_logger.setLevel(old_level)
        model.train(was_training)
    # by_module() aggregates every sub-tree; a module's own count is its figure less its direct children's
    own = dict(by_module)
    for name, value in by_module.items():
        if name:
            parent = name.rpartition(".")[0]
            if parent in own:
                own[parent] -= value
    return ToolCount(total, {k: v for k, v in own.items() if v}, 0.0, uncalled, unsupported, _classes(model))


def thop_tool(model: Any, args: tuple[Any, ...]) -> ToolCount:
    """``thop.profile`` on a deep copy (thop leaves attributes on modules), with its per-module tree."""
    thop = _require("thop", "thop")
    import torch

    work = copy.deepcopy(model).eval()
    try:
        with torch.no_grad():
            result = thop.profile(work, inputs=args, verbose=False, ret_layer_info=True)
    except Exception as e:  # noqa: BLE001
        raise _failed("thop", e) from None
    macs, tree = float(result[0]), result[2]
    own: dict[str, float] = {}

    def walk(prefix: str, children: dict[str, Any]) -> float:
        subtotal = 0.0
        for name, (ops, _params, sub) in children.items():
            path = f"{prefix}.{name}" if prefix else name
            ops = float(ops)
            inner = walk(path, sub)
            if ops - inner:
                own[path] = own.get(path, 0.0) + ops - inner
            subtotal += ops
        return subtotal

    in_modules = walk("", tree)
    # ultralytics-thop adds the functional products (matmul, @, bmm, einsum, F.linear, SDPA) to the total only
    return ToolCount(macs, own, macs - in_modules, frozenset(), {}, _classes(model))


def ptflops_tool(model: Any, args: tuple[Any, ...]) -> ToolCount:
    """ptflops' ``get_model_complexity_info`` (pytorch backend): its total and each module's ``__flops__``."""
    ptflops = _require("ptflops", "ptflops")
    engine: Any = importlib.import_module("ptflops.pytorch_engine")
    import io

    import torch

    if len(args) != 1:
        raise ArchscopeError("--counter ptflops counts models with one input tensor")
    x = args[0]
    paths = _paths(model)
    own: dict[str, float] = {}
    original = engine.print_model_with_flops

    def collect(flops_model, *a, **k):  # runs while ptflops' per-module counters are still on the modules
        batches = max(int(getattr(flops_model, "__batch_counter__", 1)), 1)
        for m in flops_model.modules():
            if engine.is_supported_instance(m) and getattr(m, "__flops__", 0):
                own[paths[id(m)]] = own.get(paths[id(m)], 0.0) + float(m.__flops__) / batches

    was_training = model.training
    engine.print_model_with_flops = collect
    try:
        with torch.no_grad():
            macs, _params = ptflops.get_model_complexity_info(
                model, tuple(x.shape[1:]), input_constructor=lambda _res: x, as_strings=False,
                print_per_layer_stat=True, backend="pytorch", ost=io.StringIO())
    except Exception as e:  # noqa: BLE001
        raise _failed("ptflops", e) from None
    finally:
        engine.print_model_with_flops = original
        model.train(was_training)
    if macs is None:  # ptflops prints the exception and returns None
        raise ArchscopeError("ptflops could not count this model (its forward failed)")
    macs = float(macs)
    return ToolCount(macs, own, macs - sum(own.values()), frozenset(), {}, _classes(model))


def calflops_tool(model: Any, args: tuple[Any, ...]) -> ToolCount:
    """calflops' pipeline (what ``calculate_flops`` runs): its total MACs and each module's own ``__macs__``."""
    _require("calflops", "calflops")
    pipeline = importlib.import_module("calflops.calculate_pipline")
    import torch

    paths = _paths(model)
    was_training = model.training
    model.eval()
    p = pipeline.CalFlopsPipline(model=model, include_backPropagation=False, compute_bp_factor=2.0)
    try:
        p.start_flops_calculate(ignore_list=None)
        with torch.no_grad():
            model(*args)
        macs = float(p.get_total_macs())
        own = {paths[id(m)]: float(m.__macs__) for m in model.modules() if getattr(m, "__macs__", 0)}
    except Exception as e:  # noqa: BLE001
        raise _failed("calflops", e) from None
    finally:
        p.end_flops_calculate()
        model.train(was_training)
    return ToolCount(macs, own, macs - sum(own.values()), frozenset(), {}, _classes(model))


def torchinfo_tool(model: Any, args: tuple[Any, ...]) -> ToolCount:
    """torchinfo's ``summary``: ``total_mult_adds`` and the ``macs`` of each leaf layer it lists."""
    torchinfo = _require("torchinfo", "torchinfo")
    import torch

    paths = _paths(model)
    was_training = model.training
    try:
        with torch.no_grad():
            stats = torchinfo.summary(model, input_data=list(args), verbose=0, mode="eval", device="cpu")
    except Exception as e:  # noqa: BLE001
        raise _failed("torchinfo", e) from None
    finally:
        model.train(was_training)
    own: dict[str, float] = defaultdict(float)
    for info in stats.summary_list:
        if info.is_leaf_layer and info.macs:
            own[paths.get(id(info.module), info.var_name)] += float(info.macs)
    macs = float(stats.total_mult_adds)
    return ToolCount(macs, dict(own), macs - sum(own.values()), frozenset(), {}, _classes(model))


_TOOLS = {"fvcore": fvcore_tool, "thop": thop_tool, "ptflops": ptflops_tool, "calflops": calflops_tool,
          "torchinfo": torchinfo_tool}


def _package(counter: str) -> tuple[str, str]:
    if counter == "thop":
        return thop_packaging()
    return counter, _version(counter)


# ----------------------------------------------------------------------------------------- archscope's side


def archscope_by_module(ops, *, layers: str | None = "layers") -> dict[str, dict[str, float]]:
    """archscope's ``mac_flops`` per module path and op name, from its per-op records. ``layers`` is the name of
    the model's ModuleList of YAML layers (an ArchModel's ``layers``); ``None`` when the records' paths are already
    full paths (a hand-written model counted with :func:`count_module`)."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for op in ops:
        if layers is None:
            path = op.path
        else:
            path = f"{layers}.{op.layer}" if op.layer >= 0 else ""
            path = f"{path}.{op.path}" if op.path and path else (op.path or path)
        out[path]["mac"] += op.mac_flops
        out[path]["other"] += op.other_flops
        if op.mac_flops:
            out[path]["op:" + op.op] += op.mac_flops
    return out


def count_module(model: Any, inputs: Any):
    """archscope's per-op records for any ``nn.Module`` (paths relative to it), counted on the inputs given."""
    import torch
    from torch import nn

    from archscope.analysis.mode import CountingMode, ModuleTracker, Recorder

    class _One(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.layers = nn.ModuleList([inner])

    recorder = Recorder(4)
    wrapper = _One(model)
    with torch.no_grad(), ModuleTracker(wrapper, recorder), CountingMode(recorder, shape_only=False):
        model(*_as_tuple(inputs))
    return recorder.ops


# ----------------------------------------------------------------------------------------- the comparison


def _under(path: str, roots: frozenset[str]) -> str | None:
    """The outermost module of ``roots`` that is ``path`` or one of its ancestors."""
    parts = path.split(".")
    for i in range(1, len(parts) + 1):
        head = ".".join(parts[:i])
        if head in roots:
            return head
    return None


def compare(tool: ToolCount, arch: dict[str, dict[str, float]]) -> tuple[GapItem, ...]:
    """Module by module, what the tool counted (x2) against archscope's ``mac_flops``; the differences by cause."""
    groups: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    other: dict[tuple[str, str], float] = defaultdict(float)
    unrun = frozenset(p for p in tool.unrun if p)
    functional_arch: dict[str, float] = defaultdict(float)  # op -> archscope products in modules the tool leaves at 0
    functional_mods: dict[str, float] = defaultdict(float)
    for path in set(arch) | set(tool.own):
        a = arch.get(path, {})
        mine = a.get("mac", 0.0)
        theirs = 2.0 * tool.own.get(path, 0.0)
        if theirs == mine:
            continue
        cls = tool.classes.get(path, "?")
        root = _under(path, unrun) if not theirs else None
        if root is not None:
            groups[("not-run", "")][root] -= mine  # one cause, named by the outermost modules that never ran
            continue
        if not theirs:
            ops = sorted((k[3:] for k, v in a.items() if k.startswith("op:") and v), key=lambda o: -a["op:" + o])
            if tool.unattributed and all(o in _PRODUCTS for o in ops):
                for o in ops:
                    functional_arch[o] += a["op:" + o]
                functional_mods[path] -= mine
                continue
            groups[("missed", ", ".join(ops))][path] -= mine
        elif not mine:
            groups[("extra", cls)][path] += theirs
            other[("extra", cls)] += a.get("other", 0.0)
        else:
            groups[("differs", cls)][path] += theirs - mine
    items = []
    for (kind, what), mods in groups.items():
        ranked = tuple(sorted(mods.items(), key=lambda kv: -abs(kv[1]))[:3])
        items.append(GapItem(kind, sum(mods.values()), what, ranked, other.get((kind, what), 0.0)))
    if tool.unattributed or functional_arch:
        names = ", ".join(sorted(functional_arch, key=lambda o: -functional_arch[o])) or "products"
        ranked = tuple(sorted(functional_mods.items(), key=lambda kv: kv[1])[:3])
        items.append(GapItem("functional", 2.0 * tool.unattributed - sum(functional_arch.values()), names, ranked,
                             sum(functional_arch.values())))
    rest = 2.0 * tool.total_macs - sum(v.get("mac", 0.0) for v in arch.values()) - sum(i.flops for i in items)
    if abs(rest) > 0.5:
        items.append(GapItem("rest", rest, "not attributed to a module"))
    return tuple(sorted(items, key=lambda i: -abs(i.flops)))


def _g(value: float) -> str:
    """Signed, two decimals, in the unit that keeps small causes visible: G from 0.1 G, M from 0.1 M, K from 0.1 K."""
    for threshold, scale, unit in ((1e8, 1e9, "G"), (1e5, 1e6, "M"), (100, 1e3, "K")):
        if abs(value) >= threshold:
            return f"{value / scale:+.2f} {unit}"
    return f"{value:+.0f}"


def _mods(item: GapItem) -> str:
    return ", ".join(f"{p or 'the model itself'} {_g(v)}" for p, v in item.modules)


def _g_abs(value: float) -> str:
    return _g(abs(value))[1:]


def explain(counter: str, tool: ToolCount, items: tuple[GapItem, ...], archscope_mac: float, limit: int = 4) -> str:
    """One line: the gap, then its causes biggest first, each with its figure and its biggest modules."""
    gap = 2.0 * tool.total_macs - archscope_mac
    if not items:
        return f"{counter} agrees with archscope's mac_flops module by module"
    parts = []
    for item in items[:limit]:
        if item.kind == "not-run":
            parts.append(f"{_g(item.flops)} in modules {counter} never ran ({_mods(item)}): not in its trace, a "
                         f"branch whose output is unused")
        elif item.kind == "missed":
            parts.append(f"{_g(item.flops)} of {item.what} it does not count ({_mods(item)})")
        elif item.kind == "functional":
            where = ", ".join(f"{p} {_g_abs(-v)}" for p, v in item.modules)
            parts.append(f"{_g(item.flops)} on what it counts outside every module (functional calls): "
                         f"{_g_abs(2.0 * tool.unattributed)}, against archscope's {item.what} "
                         f"{_g_abs(item.archscope_other)} in modules it has no rule for"
                         + (f" ({where})" if where else ""))
        elif item.kind == "extra":
            parts.append(f"{_g(item.flops)} it charges for {item.what} (archscope: other_flops "
                         f"{_g_abs(item.archscope_other)}; {_mods(item)})")
        elif item.kind == "differs":
            parts.append(f"{_g(item.flops)} counted differently in {item.what} ({_mods(item)})")
        else:
            parts.append(f"{_g(item.flops)} {item.what}")
    more = len(items) - limit
    tail = f"; {more} smaller cause{'s' if more > 1 else ''}" if more > 0 else ""
    return f"gap {_g(gap)}: " + "; ".join(parts) + tail


# ----------------------------------------------------------------------------------------- entry points

_IMPORTS = {"fvcore": "fvcore.nn", "thop": "thop", "ptflops": "ptflops", "calflops": "calflops",
            "torchinfo": "torchinfo"}


def require(counter: str) -> None:
    """Fail now, in one line, when the counter's package (or what it imports) is missing: before any counting."""
    key = counter.strip().lower()
    if key not in _IMPORTS:
        raise ArchscopeError(f"unknown counter '{counter}': choose from {', '.join(COUNTERS)}")
    _require(key, _IMPORTS[key])



def crosscheck(model: Any, inputs: Any, counter: str, ops=None, *, layers: str | None = "layers") -> CrossCheck:
    """Run one third-party counter on a real CPU model and input; with archscope's per-op records ``ops`` (from
    :func:`~archscope.analysis.analyze.analyze` or :func:`count_module`), explain the gap module by module."""
    key = counter.strip().lower()
    if key not in _TOOLS:
        raise ArchscopeError(f"unknown counter '{counter}': choose from {', '.join(COUNTERS)}")
    args = _as_tuple(inputs)
    require(key)
    _check_real(model, args)
    tool = _TOOLS[key](model, args)
    package, version = _package(key)
    if ops is None:
        ops = count_module(model, args)
        layers = None
    arch = archscope_by_module(ops, layers=layers)
    items = compare(tool, arch)
    archscope_mac = sum(v.get("mac", 0.0) for v in arch.values())
    return CrossCheck(key, version, tool.total_macs, 2.0 * tool.total_macs,
                      explain(package, tool, items, archscope_mac), dict(tool.unsupported), package, items)


def fvcore_count(model: Any, inputs: Any) -> CrossCheck:
    return crosscheck(model, inputs, "fvcore")


def thop_count(model: Any, inputs: Any) -> CrossCheck:
    return crosscheck(model, inputs, "thop")

"""A row's arguments, checked against the block's constructor before anything is built.

The builder hands over the arguments as the YAML row gave them and as they will reach the constructor (after the
block's channel rule, the inserted repeat count and any scale tweak). They are bound to the constructor's
signature (``inspect.signature(...).bind``); too many arguments, a missing one, or a value of the wrong type is
one :class:`~archscope.errors.ArchscopeError` naming the argument by its position in the YAML row and its
parameter name, e.g. ``argument 4 'g' must be an int, got True``, never torch's or Python's own text.

What a parameter accepts is declared by the block itself, with no list of blocks here:

* its **annotation** on ``__init__`` where it has one of ``int``, ``float``, ``bool``, ``str``, ``None``,
  ``tuple``/``list``/``Sequence`` (any element types), ``dict``/``Mapping``, ``Literal[...]``, or a union of those
  (``int | None``, ``Union[int, tuple[int, int]]``); any other annotation (``nn.Module``, ``Any``, ...) is not
  checked;
* otherwise the **type of its default**: ``g=1`` takes an int, ``e=0.5`` a number, ``shortcut=True`` True or False,
  ``mode="nearest"`` a string, ``k=(3, 3)`` a list; a default of ``None`` or a module says nothing.

The rules: ``True``/``False`` are not ints (nor numbers); an int may stand where a float is expected; ``None`` only
where the default is ``None`` or the annotation allows it; a YAML mapping is never read as keyword arguments (rows
are positional), so it is refused unless the parameter is annotated as a mapping. A constructor that takes only
``*args, **kwargs`` (``nn.Identity``, ``nn.Tanh``) ignores what it is given, so it takes no arguments here.

Which constructor arguments come from the YAML row is the channel rule's ``computed`` (positions it fills itself,
such as ``c1``) plus the block's inner repeat position; the rest follow the row in order.
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import types
import typing
from typing import Any

from archscope.build.registry import BlockSpec
from archscope.errors import ArchscopeError

_SET_BY_ARCHSCOPE = -1  # origin of an argument archscope fills in (input channels, repeat count, scale tweaks)


def check_arguments(block: BlockSpec, name: str, yaml_args: list[Any], rule_args: list[Any], args: list[Any]) -> None:
    """Raise an ArchscopeError unless ``args`` (what ``block.factory`` will get) bind to its signature with the
    declared types. ``yaml_args``: the row's args (names resolved); ``rule_args``: the channel rule's output."""
    signature, hints = _signature(block.factory)
    if signature is None:
        return  # a factory without a readable signature (a C builtin): nothing to check against
    origins, dropped = _origins(block, len(yaml_args), len(rule_args), len(args))
    params = list(signature.parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    takes_any = any(p.kind is p.VAR_POSITIONAL for p in params)
    if params and all(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):  # (*args, **kwargs): ignored
        if yaml_args:
            raise ArchscopeError(f"{name} takes no arguments, got {len(yaml_args)}: {_short(yaml_args)}")
        return
    visible = [p for p, o in zip(positional, origins) if o != _SET_BY_ARCHSCOPE]
    if dropped or (not takes_any and len(args) > len(positional)):
        cap = len(yaml_args) - dropped if dropped else len(visible)
        shown = f"{name}({_params_text(visible)})"
        if cap == 0:
            raise ArchscopeError(f"{name} takes no arguments, got {len(yaml_args)}: {_short(yaml_args)}")
        raise ArchscopeError(
            f"too many arguments for {shown}: it takes at most {cap}, got {len(yaml_args)}: {_short(yaml_args)}"
        )
    try:
        bound = signature.bind(*args)
    except TypeError:
        raise _missing(name, positional, origins, args, params, yaml_args) from None
    for param_name, value in bound.arguments.items():
        param = signature.parameters[param_name]
        if param.kind is param.VAR_POSITIONAL:
            continue
        index = positional.index(param)
        problem = _type_problem(param, hints.get(param_name, inspect.Parameter.empty), value)
        if problem:
            origin = origins[index]
            which = (f"argument {origin + 1} '{param_name}'" if origin != _SET_BY_ARCHSCOPE
                     else f"argument '{param_name}' (set by archscope)")
            raise ArchscopeError(f"{which} {problem}")


def _origins(block: BlockSpec, n_yaml: int, n_rule: int, n_args: int) -> tuple[list[int], int]:
    """For each constructor argument, the index of the YAML arg it comes from (or _SET_BY_ARCHSCOPE), and how many
    YAML args the channel rule did not pass on at all."""
    computed = {i if i >= 0 else n_rule + i for i in getattr(block.channels, "computed", ())}
    consumed = set(getattr(block.channels, "consumed", ()))
    passed_on = [j for j in range(n_yaml) if j not in consumed]  # the row's args that reach the constructor
    origins: list[int] = []
    k = 0
    for i in range(n_rule):
        if i in computed:
            origins.append(_SET_BY_ARCHSCOPE)
        else:  # beyond the row: a default the rule filled in
            origins.append(passed_on[k] if k < len(passed_on) else _SET_BY_ARCHSCOPE)
            k += 1
    dropped = max(len(passed_on) - k, 0)
    if block.repeat.kind == "inner":
        origins.insert(block.repeat.position, _SET_BY_ARCHSCOPE)
    origins = origins[:n_args] + [_SET_BY_ARCHSCOPE] * (n_args - len(origins))  # scale tweaks append
    return origins, dropped


def _missing(name, positional, origins, args, params, yaml_args) -> ArchscopeError:
    visible = [p for p, o in zip(positional, origins + [0] * len(positional)) if o != _SET_BY_ARCHSCOPE]
    for i, p in enumerate(positional):
        if i >= len(args) and p.default is p.empty:
            position = sum(1 for v in visible if positional.index(v) < i) + 1
            return ArchscopeError(f"missing argument {position} '{p.name}' of {name}({_params_text(visible)}), "
                                  f"got {len(yaml_args)}: {_short(yaml_args)}")
    required = [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.default is p.empty]
    return ArchscopeError(f"{name} needs the keyword argument(s) {', '.join(required)}, which a YAML row cannot give")


# ------------------------------------------------------------------------------------------- types


@functools.cache
def _signature(factory) -> tuple[inspect.Signature | None, dict[str, Any]]:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return None, {}
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # an annotation that does not evaluate: fall back to the defaults' types
        hints = {}
    return signature, hints


_KIND_TEXT = {"int": "an int", "float": "a number", "bool": "True or False", "str": "a string", "list": "a list",
              "dict": "a mapping"}


def _accepted(hint: Any) -> tuple[frozenset[str], tuple[Any, ...]] | None:
    """The kinds of YAML value an annotation accepts (and Literal values), or None when it is not one we check."""
    if hint is type(None) or hint is None:
        return frozenset({"none"}), ()
    for kind in (bool, int, float, str):
        if hint is kind:
            return frozenset({kind.__name__}), ()
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        kinds: set[str] = set()
        literals: tuple[Any, ...] = ()
        for member in typing.get_args(hint):
            accepted = _accepted(member)
            if accepted is None:
                return None
            kinds |= accepted[0]
            literals += accepted[1]
        return frozenset(kinds), literals
    if origin is typing.Literal:
        return frozenset(), typing.get_args(hint)
    base = origin or hint
    if base in (tuple, list, collections.abc.Sequence):
        return frozenset({"list"}), ()
    if base in (dict, collections.abc.Mapping):
        return frozenset({"dict"}), ()
    return None


def _from_default(default: Any) -> frozenset[str] | None:
    for kind in (bool, int, float, str):
        if type(default) is kind:
            return frozenset({kind.__name__})
    if isinstance(default, (tuple, list)):
        return frozenset({"list"})
    return None


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "dict"
    return "other"


def _type_problem(param: inspect.Parameter, hint: Any, value: Any) -> str | None:
    """Why ``value`` does not fit ``param`` ("must be an int, got True"), or None when it fits."""
    kinds: frozenset[str] | None
    literals: tuple[Any, ...] = ()
    if _is_module(value):  # put there by archscope's own rules (a YOLOv7 Conv's activation): YAML gives only data
        return None
    if hint is not inspect.Parameter.empty:
        accepted = _accepted(hint)
        if accepted is None:
            return None  # an annotation this module does not check (nn.Module, Any, a callable, ...)
        kinds, literals = accepted
    else:
        kinds = _from_default(param.default)
    known = kinds is not None and bool(kinds or literals)
    none_ok = param.default is None or (kinds is not None and "none" in kinds)
    if value is None:
        if none_ok:
            return None
        return f"must be {_describe(kinds, literals)}, got None" if known else "must not be None"
    if isinstance(value, dict) and not (kinds and "dict" in kinds):
        what = f"must be {_describe(kinds, literals, none_ok)}, got" if known else "got"
        return (f"{what} the mapping {value!r} (YAML arguments are positional: write the values in order, "
                "not as name: value)")
    if not known:
        return None
    if any(value == v and type(value) is type(v) for v in literals):
        return None
    kind = _kind_of(value)
    if kinds and (kind in kinds or (kind == "int" and "float" in kinds)):
        return None
    return f"must be {_describe(kinds, literals, none_ok)}, got {value!r}"


def _is_module(value: Any) -> bool:
    return any(c.__name__ == "Module" and c.__module__ == "torch.nn.modules.module" for c in type(value).__mro__)


def _describe(kinds, literals, none_ok: bool = False) -> str:
    order = ("int", "float", "bool", "str", "list", "dict")
    words = [_KIND_TEXT[k] for k in order if kinds and k in kinds]
    if literals:
        words.append("one of " + ", ".join(repr(v) for v in literals))
    if none_ok:
        words.append("None")
    return " or ".join(words) if len(words) < 3 else ", ".join(words[:-1]) + " or " + words[-1]


def _params_text(params: list[inspect.Parameter]) -> str:
    return ", ".join(p.name if p.default is p.empty else f"{p.name}={p.default!r}" for p in params)


def _short(args) -> str:
    text = repr(list(args))
    return text if len(text) <= 120 else text[:117] + "..."

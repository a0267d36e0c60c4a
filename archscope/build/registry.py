"""The block registry: which YAML names map to which nn.Module, and how each takes its channels and repeats.

Every block declares, on itself, the rule that turns a YAML row into constructor arguments:

* a *channel rule* (``channels=``): where the input channels come from, whether the first arg is an output
  channel count that the scale's width and channel cap apply to, and what the layer's output channels are;
* a *repeat rule* (``repeat=``): ``"inner"`` passes the (depth-scaled) repeat count to the block as its ``n``
  argument, ``"outer"`` stacks ``n`` copies of the block in an ``nn.Sequential`` (Ultralytics' default);
* optional scale-dependent argument tweaks (``scale_args=``) and whether the block marks a model as "modern",
  which switches Detect-family heads from their legacy classification branch.

The builder only ever asks the registry; it never tests ``if module is X``. A plugin block is declared the same way.
This module does not import torch, so listing or looking up names stays cheap.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from archscope.errors import ArchscopeError
from archscope.util.text import close_spellings


def make_divisible(x: float, divisor: int = 8) -> int:
    """Smallest multiple of ``divisor`` that is >= x (Ultralytics' channel rounding)."""
    return int(math.ceil(x / divisor) * divisor)


@dataclass
class ChannelContext:
    """What a channel rule sees for one YAML row."""

    c_in: list[Any]  # output channels of each source layer (an int, or a list for multi-output layers)
    from_is_list: bool
    args: list[Any]  # the row's args, names such as nc already resolved
    nc: int
    width: float
    max_channels: float
    scale: str | None
    dialect: str
    anchors: Any = None  # the YAML's ``anchors`` (YOLOv5 dialect): a list of per-level lists, or a count

    def scale_channels(self, c: int) -> int:
        """Apply the width multiple and channel cap to an output-channel count (Ultralytics 8.4 scales every
        channel-bearing block this way; only Classify keeps its nc, through its own rule)."""
        return make_divisible(min(c, self.max_channels) * self.width, 8)

    def single_input(self, block: str) -> int:
        if self.from_is_list and len(self.c_in) != 1:
            raise ArchscopeError(f"{block} takes one input, but 'from' lists {len(self.c_in)} layers")
        c = self.c_in[0]
        if not isinstance(c, int):
            raise ArchscopeError(f"{block} needs a single tensor input, but its source has outputs {c}")
        return c


@dataclass(frozen=True)
class Resolved:
    args: list[Any]
    c_out: Any  # int, list of ints (multi-output), or None (a head: nothing may follow)


class ChannelRule:
    """Base class: ``resolve`` maps a row to constructor args and output channels; ``describe`` is for humans.

    ``computed`` lists the positions in the resolved args that the rule fills itself (the input channels, say; a
    negative position counts from the end); ``consumed`` the positions of the YAML row that the rule reads and does
    not pass on (an output channel count written first, say); the row's other args fill the other positions in
    order. The argument check (:mod:`archscope.build.arguments`) uses both to name an argument by its place in the
    YAML row.
    """

    description = ""
    computed: tuple[int, ...] = ()
    consumed: tuple[int, ...] = ()

    def resolve(self, ctx: ChannelContext, block: str) -> Resolved:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> str:
        return self.description


class ScaledOut(ChannelRule):
    """``args[0]`` is the output channel count: width-scaled, then ``[c_in, c_out, *args[1:]]``."""

    description = "c1=in, c2=args[0]*width (cap, /8)"
    computed = (0,)

    def resolve(self, ctx, block):
        if not ctx.args:
            raise ArchscopeError(f"{block} needs its output channels as the first argument")
        c2 = _channel_arg(ctx.args[0], block)
        c1 = ctx.single_input(block)
        c2 = ctx.scale_channels(c2)
        return Resolved([c1, c2, *ctx.args[1:]], c2)


class FixedOut(ChannelRule):
    """``args[0]`` is the output channel count (or a list of them), taken as written: ``[c_in, *args]``."""

    description = "c1=in, c2=args[0] as written"
    computed = (0,)

    def resolve(self, ctx, block):
        if not ctx.args:
            raise ArchscopeError(f"{block} needs its output channels as the first argument")
        c1 = ctx.single_input(block)
        c2 = ctx.args[0]
        if isinstance(c2, list):
            for c in c2:
                _channel_arg(c, block)
        else:
            _channel_arg(c2, block)
        return Resolved([c1, *ctx.args], c2)


class SameAsInput(ChannelRule):
    """Shape-preserving in channels (upsample, pooling, identity): args as written, out = in."""

    description = "out = in, args as written"

    def __init__(self, prepend_input: bool = False):
        self.prepend_input = prepend_input
        if prepend_input:
            self.description = "c1=in, out = in"
            self.computed = (0,)

    def resolve(self, ctx, block):
        c = ctx.c_in[0] if ctx.from_is_list else ctx.single_input(block)
        args = [c, *ctx.args] if self.prepend_input else list(ctx.args)
        return Resolved(args, c)


class InputOnly(ChannelRule):
    """The block takes only the input channels (``nn.BatchNorm2d``)."""

    description = "args = [in], out = in"
    computed = (0,)

    def resolve(self, ctx, block):
        c = ctx.single_input(block)
        return Resolved([c], c)


class ConcatChannels(ChannelRule):
    description = "out = sum of inputs"

    def resolve(self, ctx, block):
        total = 0
        for c in ctx.c_in:
            if not isinstance(c, int):
                raise ArchscopeError(f"{block} inputs must be single tensors, got a source with outputs {c}")
            total += c
        return Resolved(list(ctx.args), total)


class LastInput(ChannelRule):
    """Fuse-style blocks (``CBFuse``): out = channels of the last source."""

    description = "out = last input"

    def resolve(self, ctx, block):
        return Resolved(list(ctx.args), ctx.c_in[-1])


class HeadInputs(ChannelRule):
    """Heads: the list of input channels is appended as the last argument; nothing may follow them."""

    def __init__(self, scaled_arg: int | None = None):
        self.scaled_arg = scaled_arg
        self.computed = (-1,)
        self.description = "args + [in channels]" + (f", args[{scaled_arg}]*width" if scaled_arg is not None else "")

    def resolve(self, ctx, block):
        args = list(ctx.args)
        if self.scaled_arg is not None and len(args) > self.scaled_arg:
            args[self.scaled_arg] = make_divisible(
                min(_channel_arg(args[self.scaled_arg], block), ctx.max_channels) * ctx.width, 8
            )
        return Resolved([*args, list(ctx.c_in)], None)


class CustomRule(ChannelRule):
    """A rule given as a function ``(ctx, block) -> Resolved`` plus a description, for unusual blocks."""

    def __init__(self, fn: Callable[[ChannelContext, str], Resolved], description: str,
                 computed: tuple[int, ...] = (), consumed: tuple[int, ...] = ()):
        self.fn = fn
        self.description = description
        self.computed = computed
        self.consumed = consumed

    def resolve(self, ctx, block):
        return self.fn(ctx, block)


def _channel_arg(value: Any, block: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArchscopeError(f"{block}: channel count must be an integer, got {value!r}")
    if value < 1:
        raise ArchscopeError(f"{block}: channel count must be positive, got {value}")
    return value


@dataclass(frozen=True)
class RepeatRule:
    """How a YAML repeat count ``n`` reaches the block."""

    kind: str  # "inner" or "outer"
    position: int = 2  # for "inner": index in the constructor args where n is inserted

    def describe(self) -> str:
        return f"inner (n -> arg {self.position})" if self.kind == "inner" else "outer (n copies)"


INNER = RepeatRule("inner", 2)
OUTER = RepeatRule("outer")


@dataclass(frozen=True)
class BlockSpec:
    name: str
    factory: Callable[..., Any]
    family: str
    channels: ChannelRule
    repeat: RepeatRule = OUTER
    aliases: tuple[str, ...] = ()
    dialect: str | None = None  # None: every dialect; "yolov5": only that dialect (overrides the plain name)
    modern: bool = False  # seeing this block switches Detect-family heads off their legacy branch
    scale_args: Callable[[list, str | None], list] | None = None
    summary: str = ""
    signature: str = field(default="")

    def display_signature(self) -> str:
        return self.signature or _signature_of(self.factory)


def _signature_of(factory: Callable[..., Any]) -> str:
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return "(...)"
    shown = []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL,):
            shown.append("*" + p.name)
        elif p.kind in (p.VAR_KEYWORD,):
            shown.append("**" + p.name)
        elif p.default is inspect.Parameter.empty:
            shown.append(p.name)
        else:
            shown.append(f"{p.name}={p.default!r}")
    return "(" + ", ".join(shown) + ")"


class Registry:
    def __init__(self) -> None:
        self._blocks: dict[tuple[str, str | None], BlockSpec] = {}
        # asked for a name no block has, before giving up (the default registry: installed plugin packages)
        self.fallback: Callable[[str, Registry], bool] | None = None

    def add(self, spec: BlockSpec) -> None:
        for name in (spec.name, *spec.aliases):
            key = (name, spec.dialect)
            if key in self._blocks and self._blocks[key].factory is not spec.factory:
                raise ValueError(f"block name {name!r} registered twice")
            self._blocks[key] = spec

    def find(self, name: str, dialect: str = "ultralytics") -> BlockSpec | None:
        """The block ``name`` builds in ``dialect``, or None (installed plugin packages are asked first)."""
        spec = self._blocks.get((name, dialect)) or self._blocks.get((name, None))
        if spec is None and self.fallback is not None:
            if self.fallback(name, self):
                spec = self._blocks.get((name, dialect)) or self._blocks.get((name, None))
        return spec

    def lookup(self, name: str, dialect: str = "ultralytics") -> BlockSpec:
        spec = self.find(name, dialect)
        if spec is None:
            raise ArchscopeError(self.unknown_message(name, dialect))
        return spec

    def unknown_message(self, name: str, dialect: str = "ultralytics") -> str:
        """The message for one name that has no block: why (see :meth:`unknown_reason`) and the ways out."""
        reason = self.unknown_reason(name, dialect)
        shown = repr(name if len(name) <= 80 else name[:77] + "...")
        if reason.startswith("the ") and "dialect" in reason:
            return (f"{shown} is {reason} (a YOLOv5-repository file has 'anchors:'); load a block of that name for "
                    f"it with --blocks my_blocks.py")
        return f"unknown module {shown}{f' ({reason})' if reason else ''}; {WAYS_OUT}"

    def unknown_reason(self, name: str, dialect: str = "ultralytics") -> str:
        """Why ``name`` has no block here, in a few words (``""`` when there is nothing to add): another
        dialect's block, a known block of a repository archscope does not cover, or a close spelling of a known
        name -- never a similar name that is another block (see :func:`archscope.util.text.close_spellings`)."""
        elsewhere = sorted(d for n, d in self._blocks if n == name and d is not None)
        if elsewhere and name in KNOWN_ELSEWHERE:  # e.g. YOLOv9's heads, built for YOLOv5-dialect files
            return f"a block of {KNOWN_ELSEWHERE[name]}, built for files in its dialect (with 'anchors:')"
        if elsewhere:
            where = ", ".join(f"the {DIALECT_SOURCES.get(d, d)}'s" for d in elsewhere)
            return f"{where} block, but this file is read in the {dialect} dialect"
        if name in KNOWN_ELSEWHERE:
            return f"a block of {KNOWN_ELSEWHERE[name]}"
        close = close_spellings(name, sorted({n for n, _ in self._blocks}))
        return f"did you mean {' or '.join(repr(c) for c in close)}?" if close else ""

    def borrowed(self, spec: BlockSpec, dialect: str) -> bool:
        """True when ``dialect`` has blocks of its own (some are registered for it), this name has none for it, and
        the block built instead is one of archscope's own families (not a ``torch.nn`` layer, not a user's block)."""
        return (spec.dialect is None and spec.family not in ("torch.nn", "user")
                and getattr(spec.factory, "__module__", "").startswith("archscope.blocks")
                and any(d == dialect for _, d in self._blocks))

    def blocks(self) -> list[BlockSpec]:
        seen, out = set(), []
        for spec in self._blocks.values():
            if id(spec) not in seen:
                seen.add(id(spec))
                out.append(spec)
        return sorted(out, key=lambda s: (s.family, s.name, s.dialect or ""))


REGISTRY = Registry()

#: The two ways past names archscope has no block for (every unknown-module message ends with them).
WAYS_OUT = "define them with --blocks my_blocks.py, or build with their code: --builder ultralytics"

#: Names of public blocks, with where they come from: an unknown-module message names the source instead of
#: guessing at a similar name (``DDetect`` is not a misspelt ``Detect``). Some are built in one dialect only
#: (YOLOv9's and YOLOv7's heads: the ``yolov5`` dialect, as their repositories read their files).
KNOWN_ELSEWHERE = {
    "DDetect": "YOLOv9",
    "DualDDetect": "YOLOv9",
    "DualDetect": "YOLOv9",
    "TripleDDetect": "YOLOv9",
    "Silence": "YOLOv9",
    "IDetect": "YOLOv7",
    "IAuxDetect": "YOLOv7",
    "IKeypoint": "YOLOv7",
    "ASFF_Detect": "ASFF forks (each defines its own)",
}

#: What each dialect's own blocks are written from (for messages).
DIALECT_SOURCES = {"yolov5": "YOLOv5 repository", "ultralytics": "Ultralytics package"}


def block(
    name: str | None = None,
    *,
    family: str,
    channels: ChannelRule,
    repeat: RepeatRule = OUTER,
    aliases: Sequence[str] = (),
    dialect: str | None = None,
    modern: bool = False,
    scale_args: Callable[[list, str | None], list] | None = None,
    signature: str = "",
    registry: Registry | None = None,
):
    """Class decorator that registers a block (see the module docstring for what each rule means)."""

    def register(cls):
        doc = (inspect.getdoc(cls) or "").strip().splitlines()
        (registry or REGISTRY).add(
            BlockSpec(
                name=name or cls.__name__,
                factory=cls,
                family=family,
                channels=channels,
                repeat=repeat,
                aliases=tuple(aliases),
                dialect=dialect,
                modern=modern,
                scale_args=scale_args,
                summary=doc[0] if doc else "",
                signature=signature,
            )
        )
        return cls

    return register

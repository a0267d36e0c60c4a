"""YAML -> ModelSpec: safe loading, the two dialects, scale selection, and errors with file:line.

Nothing from a YAML is ever evaluated or imported. PyYAML composes the document into nodes (which carry line
numbers); this module converts those nodes to plain Python itself, accepting only the standard scalar tags, and
refusing alias bombs by counting the nodes it expands.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypedDict

import yaml

from archscope.errors import ArchscopeError
from archscope.spec.sources import find_model_file
from archscope.util.text import positive_int

MAX_YAML_BYTES = 2_000_000
MAX_EXPANDED_NODES = 200_000
MAX_NESTING = 50  # containers inside containers (an official model nests 4 deep)
MAX_INT_DIGITS = 20  # a YAML integer longer than this (about 2**64) is no model figure
MAX_LAYERS = 5_000  # rows in backbone + head (the largest official model has under 100)
MAX_REPEATS = 1_000  # a row's repeat count (official models: at most 9)
MAX_MULTIPLE = 100.0  # depth and width multiples (official: at most 1.5)
MAX_CLASSES = 1_000_000  # nc
MAX_CHANNELS = 65_536  # input channels (ch) and a scale's max_channels (official: at most 2048)
_STANDARD_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:map",
}
_SCALAR_CONSTRUCTOR = yaml.SafeLoader("")  # only used for its scalar constructors (no stream is read)


@dataclass(frozen=True)
class LayerSpec:
    """One row of ``backbone`` or ``head``: ``[from, repeats, module, args]``."""

    index: int
    from_: int | tuple[int, ...]
    repeats: int
    module: str
    args: tuple[Any, ...]
    line: int
    section: str


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model file, before any scale, width or channel rule is applied."""

    path: str  # as given by the user, for messages
    name: str
    dialect: str  # "ultralytics" or "yolov5"
    nc: int
    ch: int
    layers: tuple[LayerSpec, ...]
    scales: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    default_scale: str | None = None
    depth_multiple: float = 1.0
    width_multiple: float = 1.0
    anchors: Any = None
    kpt_shape: tuple[int, ...] | None = None
    reg_max: int = 16  # DFL bins of the Detect-family heads (YOLO26: 1, plain box regression)
    end2end: bool = False  # Detect-family heads get a one-to-one (NMS-free) twin of their branches (YOLO26)
    activation: str | None = None
    activation_line: int | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def scaling(self, scale: str | None) -> Scaling:
        """Depth, width and channel cap for ``scale`` (default: the YAML's ``scale`` key, else the first scale)."""
        if not self.scales:
            if scale is not None:
                raise ArchscopeError(f"--scale {brief(scale)} given, but the model has no 'scales' section",
                                     file=self.path)
            return Scaling(None, self.depth_multiple, self.width_multiple, math.inf)
        chosen = scale if scale is not None else (self.default_scale or next(iter(self.scales)))
        if chosen not in self.scales:
            known = _names(self.scales)
            raise ArchscopeError(f"unknown scale {brief(chosen)}; this model defines: {known}", file=self.path)
        depth, width, max_channels = self.scales[chosen]
        return Scaling(chosen, depth, width, max_channels)


@dataclass(frozen=True)
class Scaling:
    scale: str | None
    depth: float
    width: float
    max_channels: float


# ----------------------------------------------------------------------------------------------- loading


def load_spec(source: str | os.PathLike | dict, *, name: str | None = None) -> ModelSpec:
    """Parse a model file (path) or an already-loaded dict into a ModelSpec."""
    if isinstance(source, dict):
        return _parse_document(source, lines={}, path=name or "<dict>")
    found = find_model_file(str(source))  # a name Ultralytics knows (yolo11n.yaml) may live in its package
    path = found.path
    text = _read_text(path)
    root = _compose(text, path)
    data, lines = _to_python(root, path)
    spec = _parse_document(data, lines=lines, path=path)
    if found.scale or found.name:
        spec = replace(spec, default_scale=found.scale or spec.default_scale, name=found.name or spec.name)
    return spec


def _read_text(path: str) -> str:
    """A regular file of at most MAX_YAML_BYTES, size-checked before it is read (never a device or FIFO)."""
    from archscope.util.files import read_input

    raw = read_input(path, "a model YAML file", MAX_YAML_BYTES)
    if b"\x00" in raw:
        raise ArchscopeError("is a binary file, expected a model YAML file", file=path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ArchscopeError("is not UTF-8 text, expected a model YAML file", file=path) from None
    if not text.strip():
        raise ArchscopeError("file is empty", file=path)
    return text


def _compose(text: str, path: str) -> yaml.Node:
    _check_whitespace(text, path)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise ArchscopeError(f"YAML nests too deep (a model file nests at most {MAX_NESTING} levels)",
                             file=path) from None
    except yaml.MarkedYAMLError as exc:
        line, why = yaml_problem(exc)
        raise ArchscopeError(f"malformed YAML: {why}", file=path, line=line) from None
    except yaml.YAMLError as exc:
        raise ArchscopeError(f"malformed YAML: {exc}", file=path) from None
    if node is None:
        raise ArchscopeError("file holds no YAML document", file=path)
    return node


#: Space-like characters that a YAML file copied from a web page, a PDF or a word processor carries where a plain
#: space was meant. YAML does not take them for spaces: outside quotes they end up inside names and numbers
#: (``80\u00a0`` is a string) or break the structure, so a model file may not have them outside quotes and comments.
_ODD_SPACES = {
    "\u00a0": "a non-breaking space (U+00A0)",
    "\u2002": "an en space (U+2002)",
    "\u2003": "an em space (U+2003)",
    "\u2009": "a thin space (U+2009)",
    "\u200b": "a zero-width space (U+200B)",
    "\u202f": "a narrow non-breaking space (U+202F)",
    "\u3000": "an ideographic (full-width) space (U+3000)",
    "\ufeff": "a byte-order mark (U+FEFF) inside the text",
}


def _check_whitespace(text: str, path: str) -> None:
    """Refuse a space-like character that is not a space outside quotes and comments, with its line and column."""
    if not any(c in text for c in _ODD_SPACES):
        return
    for number, line in enumerate(text.splitlines(), 1):
        quote = None
        for column, char in enumerate(line, 1):
            if quote:
                if char == quote:
                    quote = None
            elif char in "'\"" and (column == 1 or not line[column - 2].isalnum()):
                quote = char
            elif char == "#" and (column == 1 or line[column - 2] in " \t"):
                break
            elif char in _ODD_SPACES:
                raise ArchscopeError(
                    f"malformed YAML: column {column} holds {_ODD_SPACES[char]}, which YAML does not read as a space "
                    "(text copied from a web page or a document?); replace it with a plain space",
                    file=path, line=number)


def yaml_problem(exc: yaml.MarkedYAMLError) -> tuple[int | None, str]:
    """PyYAML's parse error as (1-based line, plain words with the column), for the cases PyYAML can tell apart:
    a tab, an unclosed bracket or quote, a bracket too many, an indentation that does not line up."""
    problem = exc.problem or exc.context or "invalid YAML"
    context = exc.context or ""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    at = f"column {mark.column + 1}" if mark else "here"
    opened = exc.context_mark
    where_opened = f"line {opened.line + 1}, column {opened.column + 1}" if opened else "earlier"
    found = problem.rsplit("but got ", 1)[-1].rsplit("but found ", 1)[-1].strip("'")
    if "'\\t'" in problem or "'\t'" in problem:
        why = f"a tab at {at}, where YAML takes no tab (indentation and the gaps in a row must be spaces)"
    elif "while scanning a quoted scalar" in context:
        why = f"the quote opened at {where_opened} is never closed"
    elif "while parsing a flow sequence" in context or "while parsing a flow mapping" in context:
        bracket, close = ("[", "]") if "sequence" in context else ("{", "}")
        if found in ("]", "}") and found != close:
            why = f"{at} closes with {found!r} the {bracket!r} opened at {where_opened}, which needs {close!r}"
        else:
            why = (f"the {bracket!r} opened at {where_opened} is not closed: a ',' or {close!r} was expected "
                   f"before {'the end of the file' if found == '<stream end>' else at}")
    elif found in ("]", "}"):
        why = f"{found!r} at {at} closes nothing (one bracket too many?)"
    elif "expected <block end>" in problem:
        why = (f"the text at {at} does not line up with the lines above (an item or key indented more or less "
               "than the ones beside it, or a missing '-'?)")
    elif "mapping values are not allowed here" in problem:
        why = (f"a ':' at {at} where YAML allows none (a 'key: value' on the line of another value, or a value "
               "indented under a key that already has one?)")
    elif "could not find expected ':'" in problem:
        why = (f"a line that is neither a 'key: value' nor a '- item' ends before {at} (a stray word, or "
               f"indentation that does not line up, from {where_opened} on?)")
    else:
        why = f"{problem} ({at})"
    return line, why


def _to_python(root: yaml.Node, path: str) -> tuple[Any, dict[int, int]]:
    """Convert composed nodes to Python, recording each container's line by ``id``."""
    lines: dict[int, int] = {}
    budget = [MAX_EXPANDED_NODES]
    active: set[int] = set()  # the containers being converted: an alias to one of them is a cycle

    def convert(node: yaml.Node) -> Any:
        if len(active) > MAX_NESTING:
            raise ArchscopeError(f"YAML nests more than {MAX_NESTING} levels deep", file=path,
                                 line=node.start_mark.line + 1)
        if id(node) in active:
            raise ArchscopeError("recursive YAML alias (an anchor used inside itself)", file=path,
                                 line=node.start_mark.line + 1)
        budget[0] -= 1
        if budget[0] < 0:
            raise ArchscopeError(
                f"YAML expands to more than {MAX_EXPANDED_NODES} nodes (alias bomb?)",
                file=path, line=node.start_mark.line + 1,
            )
        if node.tag not in _STANDARD_TAGS:
            raise ArchscopeError(
                f"YAML tag {node.tag!r} is not allowed in a model file", file=path, line=node.start_mark.line + 1
            )
        if isinstance(node, yaml.ScalarNode):
            return _scalar(node, path)
        active.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            value: Any = [convert(child) for child in node.value]
        else:
            value = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise ArchscopeError("mapping keys must be plain scalars", file=path,
                                         line=key_node.start_mark.line + 1)
                key = convert(key_node)
                value[key] = convert(value_node)
        active.discard(id(node))
        lines[id(value)] = node.start_mark.line + 1
        return value

    return convert(root), lines


def _scalar(node: yaml.ScalarNode, path: str) -> Any:
    """One scalar through PyYAML's safe constructors, refusing what they would choke on (or take forever over)."""
    line = node.start_mark.line + 1
    text = str(node.value)
    if node.tag == "tag:yaml.org,2002:int" and sum(c.isdigit() for c in text) > MAX_INT_DIGITS:
        raise ArchscopeError(f"integer of {sum(c.isdigit() for c in text)} digits is too large for a model file "
                             f"(at most {MAX_INT_DIGITS} digits)", file=path, line=line)
    if node.tag == "tag:yaml.org,2002:float" and len(text) > 100:
        raise ArchscopeError(f"number of {len(text)} characters is too long for a model file", file=path, line=line)
    try:
        return _SCALAR_CONSTRUCTOR.construct_object(node, deep=True)
    except (ValueError, TypeError, OverflowError, yaml.YAMLError):
        kind = node.tag.rsplit(":", 1)[-1]
        raise ArchscopeError(f"{brief(text)} is not a valid YAML {kind}", file=path, line=line) from None


def brief(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters (nested lists cut too, never built whole): what an error message
    may quote of the user's input."""
    import reprlib

    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict, short.maxstring, short.maxother = 3, 6, 4, limit, limit
    short.maxlong = 24
    text = " ".join(short.repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ----------------------------------------------------------------------------------------------- parsing

_KNOWN_TOP_KEYS = {
    "nc", "scales", "scale", "activation", "backbone", "head", "kpt_shape", "ch", "anchors",
    "depth_multiple", "width_multiple", "channels", "end2end", "reg_max", "yaml_file",
}


def _parse_document(data: Any, *, lines: dict[int, int], path: str) -> ModelSpec:
    if not isinstance(data, dict):
        kind = type(data).__name__ if data is not None else "nothing"
        raise ArchscopeError(f"a model YAML must be a mapping with 'backbone' and 'head', got {kind}", file=path)
    if "backbone" not in data:
        raise ArchscopeError("missing required key 'backbone'", file=path)
    # Both dialects may carry depth_multiple/width_multiple (Ultralytics' v3 files do); anchors mark the
    # YOLOv5 repository's anchor-based heads.
    dialect = "yolov5" if data.get("anchors") is not None else "ultralytics"
    nc = _bounded_int(data.get("nc", 80), "nc", MAX_CLASSES, path, lines.get(id(data)))
    ch = _bounded_int(data.get("ch", data.get("channels", 3)), "ch", MAX_CHANNELS, path, None)
    layers: list[LayerSpec] = []
    for section in ("backbone", "head"):
        rows = data.get(section, [] if section == "head" else None)
        if rows is None:
            rows = []
        if not isinstance(rows, list):
            raise ArchscopeError(f"'{section}' must be a list of [from, repeats, module, args] rows", file=path,
                                 line=lines.get(id(rows)))
        for row in rows:
            if len(layers) >= MAX_LAYERS:
                raise ArchscopeError(f"more than {MAX_LAYERS} layers; archscope builds at most {MAX_LAYERS}",
                                     file=path, line=lines.get(id(row)))
            layers.append(_parse_row(row, len(layers), section, path, lines))
    if not layers:
        raise ArchscopeError("'backbone' has no layers", file=path)

    scales = _parse_scales(data.get("scales"), path, lines)
    default_scale = data.get("scale")
    if default_scale is not None and (isinstance(default_scale, bool) or not isinstance(default_scale, (str, int,
                                                                                                         float))):
        raise ArchscopeError(f"'scale' must be a scale name such as n, got {brief(default_scale)}", file=path)
    if default_scale is not None:
        default_scale = str(default_scale)
    if default_scale is not None and scales and default_scale not in scales:
        raise ArchscopeError(f"'scale: {brief(default_scale)}' is not one of the scales ({_names(scales)})",
                             file=path)
    depth = _positive_number(data.get("depth_multiple", 1.0), "depth_multiple", path)
    width = _positive_number(data.get("width_multiple", 1.0), "width_multiple", path)
    kpt = data.get("kpt_shape")
    reg_max = _bounded_int(data.get("reg_max", 16), "reg_max", MAX_CHANNELS, path, None)
    if isinstance(kpt, list) and not (kpt and len(kpt) <= 4 and all(
            isinstance(k, int) and not isinstance(k, bool) and 0 < k <= MAX_CHANNELS for k in kpt)):
        raise ArchscopeError(f"'kpt_shape' must be [keypoints, dims] of positive integers, got {brief(kpt)}",
                             file=path, line=lines.get(id(kpt)))
    end2end = data.get("end2end")
    if end2end is not None and not isinstance(end2end, bool):
        raise ArchscopeError(f"'end2end' must be true or false, got {brief(end2end)}", file=path)
    activation = data.get("activation")
    if activation is not None and not isinstance(activation, str):
        raise ArchscopeError("'activation' must be a string such as nn.ReLU()", file=path)
    return ModelSpec(
        path=path,
        name=Path(path).stem if path != "<dict>" else "model",
        dialect=dialect,
        nc=nc,
        ch=ch,
        layers=tuple(layers),
        scales=scales,
        default_scale=default_scale if scales else None,
        depth_multiple=depth,
        width_multiple=width,
        anchors=data.get("anchors"),
        kpt_shape=tuple(kpt) if isinstance(kpt, list) else None,
        reg_max=reg_max,
        end2end=bool(end2end),
        activation=activation,
        extras={k: v for k, v in data.items() if k not in _KNOWN_TOP_KEYS},
    )


class _Where(TypedDict):
    """The location keywords every row error carries."""

    file: str
    line: int | None
    layer: int


def _parse_row(row: Any, index: int, section: str, path: str, lines: dict[int, int]) -> LayerSpec:
    line = lines.get(id(row))
    where = _Where(file=path, line=line, layer=index)
    if not isinstance(row, list) or len(row) != 4:
        raise ArchscopeError(f"each {section} row must be [from, repeats, module, args], got {brief(row)}",
                             **where)
    frm, repeats, module, args = row
    if isinstance(frm, bool) or not (isinstance(frm, int) or (isinstance(frm, list) and frm and all(
            isinstance(f, int) and not isinstance(f, bool) for f in frm))):
        raise ArchscopeError(f"'from' must be an int or a list of ints, got {brief(frm)}", **where)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ArchscopeError(f"repeats must be a positive integer, got {brief(repeats)}", **where)
    if repeats > MAX_REPEATS:
        raise ArchscopeError(f"repeats {brief(repeats)} is over archscope's limit of {MAX_REPEATS}", **where)
    if not isinstance(module, str) or not module:
        raise ArchscopeError(f"module must be a name such as Conv or nn.Upsample, got {brief(module)}", **where)
    if len(module) > 200:
        raise ArchscopeError(f"module name of {len(module)} characters; expected a name such as Conv", **where)
    if args is None:
        args = []
    if not isinstance(args, list):
        raise ArchscopeError(f"args must be a list, got {brief(args)}", module=module, **where)
    from_ = tuple(frm) if isinstance(frm, list) else frm
    return LayerSpec(index, from_, repeats, module, tuple(args), line or 0, section)


def _parse_scales(raw: Any, path: str, lines: dict[int, int]) -> dict[str, tuple[float, float, float]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        raise ArchscopeError("'scales' must map scale names to [depth, width, max_channels]", file=path,
                             line=lines.get(id(raw)))
    scales = {}
    for name, value in raw.items():
        if not (isinstance(value, list) and len(value) == 3 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
                for v in value)):
            raise ArchscopeError(f"scale {brief(name)} must be [depth, width, max_channels] of positive finite "
                                 f"numbers, got {brief(value)}", file=path, line=lines.get(id(value)))
        depth, width, cap = (float(v) for v in value)
        if depth > MAX_MULTIPLE or width > MAX_MULTIPLE or cap > MAX_CHANNELS:
            raise ArchscopeError(f"scale {brief(name)}: {brief(value)} is over archscope's limits (depth and width "
                                 f"at most {MAX_MULTIPLE:g}, max_channels at most {MAX_CHANNELS})", file=path,
                                 line=lines.get(id(value)))
        scales[str(name)] = (depth, width, cap)
    return scales


def _positive_int(value: Any, key: str, path: str, line: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ArchscopeError(f"'{key}' must be a positive integer, got {brief(value)}", file=path, line=line)
    return positive_int(value, f"'{key}'", file=path, line=line)


def _bounded_int(value: Any, key: str, limit: int, path: str, line: int | None) -> int:
    number = _positive_int(value, key, path, line)
    if number > limit:
        raise ArchscopeError(f"'{key}' {number} is over archscope's limit of {limit}", file=path, line=line)
    return number


def _names(scales: dict[str, Any]) -> str:
    names = ", ".join(scales)
    return names if len(names) <= 80 else names[:77] + "..."


def _positive_number(value: Any, key: str, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ArchscopeError(f"'{key}' must be a positive finite number, got {brief(value)}", file=path)
    if value > MAX_MULTIPLE:
        raise ArchscopeError(f"'{key}' {value:g} is over archscope's limit of {MAX_MULTIPLE:g}", file=path)
    return float(value)

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
                raise ArchscopeError(f"--scale {scale!r} given, but the model has no 'scales' section", file=self.path)
            return Scaling(None, self.depth_multiple, self.width_multiple, math.inf)
        chosen = scale if scale is not None else (self.default_scale or next(iter(self.scales)))
        if chosen not in self.scales:
            known = ", ".join(self.scales)
            raise ArchscopeError(f"unknown scale {chosen!r}; this model defines: {known}", file=self.path)
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
    p = Path(path)
    if not p.exists():
        raise ArchscopeError("no such file", file=path)
    if p.is_dir():
        raise ArchscopeError("is a directory, expected a model YAML file", file=path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ArchscopeError(f"cannot read file ({exc.strerror})", file=path) from None
    if len(raw) > MAX_YAML_BYTES:
        raise ArchscopeError(f"file is {len(raw)} bytes; a model YAML is far smaller", file=path)
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
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ArchscopeError(f"malformed YAML: {problem}", file=path, line=line) from None
    except yaml.YAMLError as exc:
        raise ArchscopeError(f"malformed YAML: {exc}", file=path) from None
    if node is None:
        raise ArchscopeError("file holds no YAML document", file=path)
    return node


def _to_python(root: yaml.Node, path: str) -> tuple[Any, dict[int, int]]:
    """Convert composed nodes to Python, recording each container's line by ``id``."""
    lines: dict[int, int] = {}
    budget = [MAX_EXPANDED_NODES]

    def convert(node: yaml.Node) -> Any:
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
            return _SCALAR_CONSTRUCTOR.construct_object(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            value: Any = [convert(child) for child in node.value]
        else:
            value = {}
            for key_node, value_node in node.value:
                key = convert(key_node)
                if isinstance(key, (list, dict)):
                    raise ArchscopeError("mapping keys must be plain scalars", file=path,
                                         line=key_node.start_mark.line + 1)
                value[key] = convert(value_node)
        lines[id(value)] = node.start_mark.line + 1
        return value

    return convert(root), lines


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
    nc = _positive_int(data.get("nc", 80), "nc", path, lines.get(id(data)))
    ch = _positive_int(data.get("ch", data.get("channels", 3)), "ch", path, None)
    layers: list[LayerSpec] = []
    for section in ("backbone", "head"):
        rows = data.get(section, [] if section == "head" else None)
        if rows is None:
            rows = []
        if not isinstance(rows, list):
            raise ArchscopeError(f"'{section}' must be a list of [from, repeats, module, args] rows", file=path,
                                 line=lines.get(id(rows)))
        for row in rows:
            layers.append(_parse_row(row, len(layers), section, path, lines))
    if not layers:
        raise ArchscopeError("'backbone' has no layers", file=path)

    scales = _parse_scales(data.get("scales"), path, lines)
    default_scale = data.get("scale")
    if default_scale is not None and scales and default_scale not in scales:
        raise ArchscopeError(f"'scale: {default_scale}' is not one of the scales ({', '.join(scales)})", file=path)
    depth = _positive_number(data.get("depth_multiple", 1.0), "depth_multiple", path)
    width = _positive_number(data.get("width_multiple", 1.0), "width_multiple", path)
    kpt = data.get("kpt_shape")
    reg_max = _positive_int(data.get("reg_max", 16), "reg_max", path, None)
    end2end = data.get("end2end")
    if end2end is not None and not isinstance(end2end, bool):
        raise ArchscopeError(f"'end2end' must be true or false, got {end2end!r}", file=path)
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
        raise ArchscopeError(f"each {section} row must be [from, repeats, module, args], got {row!r}", **where)
    frm, repeats, module, args = row
    if isinstance(frm, bool) or not (isinstance(frm, int) or (isinstance(frm, list) and frm and all(
            isinstance(f, int) and not isinstance(f, bool) for f in frm))):
        raise ArchscopeError(f"'from' must be an int or a list of ints, got {frm!r}", **where)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ArchscopeError(f"repeats must be a positive integer, got {repeats!r}", **where)
    if not isinstance(module, str) or not module:
        raise ArchscopeError(f"module must be a name such as Conv or nn.Upsample, got {module!r}", **where)
    if args is None:
        args = []
    if not isinstance(args, list):
        raise ArchscopeError(f"args must be a list, got {args!r}", module=module, **where)
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
                isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in value)):
            raise ArchscopeError(f"scale {name!r} must be [depth, width, max_channels] of positive numbers, "
                                 f"got {value!r}", file=path, line=lines.get(id(value)))
        scales[str(name)] = (float(value[0]), float(value[1]), float(value[2]))
    return scales


def _positive_int(value: Any, key: str, path: str, line: int | None) -> int:
    return positive_int(value, f"'{key}'", file=path, line=line)


def _positive_number(value: Any, key: str, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ArchscopeError(f"'{key}' must be a positive number, got {value!r}", file=path)
    return float(value)

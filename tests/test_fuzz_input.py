"""Property-based fuzzing of every kind of bad input (issue 16, part 8): mutated model YAMLs (structure and raw
text) from the small seeds in fuzz_support, and mutated command-line options. Whatever comes in, ``archscope
profile`` exits 0, or 2 with one line in its own words; never 1, never a traceback, never torch's or Python's text.

Bounded: ``max_examples`` keeps the whole file under about a minute here. Each run draws new examples (no example
database is kept), so CI keeps fuzzing with inputs the tests have never seen; a failure prints its example."""

from __future__ import annotations

import copy
import json
import os
import tempfile

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from fuzz_support import SEEDS, assert_clean, invoke  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FUZZ = settings(max_examples=int(os.environ.get("ARCHSCOPE_FUZZ_EXAMPLES", "60")), deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

MODULE_NAMES = ["Conv", "C2f", "C3k2", "C3", "SPPF", "Concat", "Detect", "Classify", "nn.Upsample", "C2PSA", "A2C2f",
                "RepNCSPELAN4", "ADown", "SCDown", "PSA", "AIFI", "RTDETRDecoder", "Segment", "Pose", "OBB", "DWConv",
                "Bottleneck", "nn.Identity", "HGStem", "HGBlock", "ResNetLayer", "C2fAttn", "ImagePoolingAttn",
                "WorldDetect", "v10Detect", "TorchVision", "Index", "CBLinear", "CBFuse", "Focus", "GhostConv",
                "os.system", "__import__", "", "conv", "nn.Conv2d", "nn.BatchNorm2d", "nn.Linear"]

scalars = st.one_of(
    st.integers(min_value=-3, max_value=70),
    st.sampled_from([0, -1, 2**31, 2**63, 10**19, 10**12, 100_000, 1024 * 1024]),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from([0.0, -0.5, 1e30, 1e-30, 0.25, 1.5]),
    st.booleans(),
    st.none(),
    st.sampled_from(MODULE_NAMES + ["nc", "anchors", "None", "nearest", "bilinear", "True", "kpt_shape"]),
    st.text(max_size=12),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                      st.dictionaries(st.sampled_from(["a", "n", "nc", "s"]), inner,
                                                                      max_size=3)),
                      max_leaves=12)


def _paths(node, prefix=()):
    """Every place in a loaded YAML that a mutation may replace."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


def _set(root, path, value):
    if not path:
        return value
    target = root
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return root


def _delete(root, path):
    if path:
        target = root
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]
    return root


@st.composite
def mutated_models(draw):
    """A seed with a few structural mutations: a value replaced, a key or row deleted, a row duplicated."""
    data = yaml.safe_load(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = list(_paths(data))
        path = draw(st.sampled_from(paths))
        kind = draw(st.sampled_from(["replace", "replace", "replace", "delete", "duplicate", "grow"]))
        if kind == "replace" or not path:
            data = _set(data, path, draw(values))
        elif kind == "delete":
            data = _delete(data, path)
        else:
            parent = data
            for step in path[:-1]:
                parent = parent[step]
            if isinstance(parent, list):
                item = copy.deepcopy(parent[path[-1]])
                count = 1 if kind == "duplicate" else draw(st.sampled_from([2, 50, 3000]))
                parent[path[-1]:path[-1]] = [item] * count
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


RAW_SNIPPETS = [
    '!!float "abc"', "!!int 0x", "&a [*a]", "*nowhere", ".inf", "-.inf", ".nan", "0x1F", "0o17", "1e30", "~",
    "!!binary aGVsbG8=", "!!timestamp 2001-12-14", "!!python/object/apply:os.system ['echo hi']", "{a: 1}",
    "[" * 60 + "]" * 60, "9" * 400, "9" * 5000, '"\\x00"', "!!set {a, b}", "!!omap [a: 1]", "? [1, 2]\n  : 3",
    "[1, 2", "'unterminated", "\t", "%YAML 1.1", "---\n---", "<<: {a: 1}", "!!str", "-1", "0", "1000000",
    "nn.PReLU(-1)", "nn.PReLU(num_parameters=6e8)", "nn.ReLU(inplace=True)", "__import__('os')",
]


@st.composite
def raw_texts(draw):
    """A seed with raw text spliced in: tags, aliases, special floats, huge numbers, broken syntax."""
    lines = draw(st.sampled_from(SEEDS)).splitlines()
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        snippet = draw(st.sampled_from(RAW_SNIPPETS) | st.text(max_size=8))
        line = lines[i]
        where = draw(st.sampled_from(["value", "append", "line"]))
        if where == "value" and ":" in line and not line.lstrip().startswith("-"):
            lines[i] = line.split(":", 1)[0] + ": " + snippet
        elif where == "value" and "[" in line:
            cut = draw(st.integers(min_value=line.index("["), max_value=len(line)))
            lines[i] = line[:cut] + snippet + line[cut:]
        elif where == "append":
            lines[i] = line + " " + snippet
        else:
            lines[i] = snippet
    return "\n".join(lines) + "\n"


OPTION_VALUES = {
    "--imgsz": st.sampled_from(["64", "64x96", "0", "-64", "64x", "x", "abc", "99999999", "64x64x64", "1e3", "63",
                                "16384x16385", "9223372036854775807", "nan", " 64", "64.0"]),
    "--batch": st.sampled_from(["1", "2", "0", "-1", "9223372036854775807", "1e9", "abc", "65537", ""]),
    "--scale": st.sampled_from(["n", "s", "t", "x", "", "N", "{a: 1}", "[n]", "n" * 500]),
    "--nc": st.sampled_from(["1", "0", "-3", "80", "1000001", "1e9", "abc"]),
    "--ch": st.sampled_from(["1", "3", "0", "4", "65537", "abc"]),
    "--depth": st.sampled_from(["0", "1", "3", "-1", "1000", "abc"]),
    "--dtype": st.sampled_from(["fp32", "fp16", "int8", "float", ""]),
    "-f": st.sampled_from(["json", "csv", "md", "table", "html", "xml", ""]),
    "--device-spec": st.sampled_from(["cpu", "orin-nano", "nope", "/dev/zero", "/nonexistent.yaml", ""]),
}


@st.composite
def option_lists(draw):
    chosen = draw(st.lists(st.sampled_from(sorted(OPTION_VALUES)), max_size=4, unique=True))
    out: list[str] = []
    for name in chosen:
        out += [name, draw(OPTION_VALUES[name])]
    if draw(st.booleans()):
        out.append(draw(st.sampled_from(["--fuse", "--no-fuse", "--nope", "--", "-", "--batch"])))
    return out


def _profile(text: str, options: list[str]):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.yaml")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        args = ["profile", path, *options]
        assert_clean(invoke(args), args)


@FUZZ
@given(text=mutated_models())
def test_mutated_yaml_structures(text):
    _profile(text, ["--imgsz", "64"])


@FUZZ
@given(text=raw_texts())
def test_mutated_yaml_text(text):
    _profile(text, ["--imgsz", "64"])


@FUZZ
@given(seed=st.sampled_from(SEEDS), options=option_lists())
def test_mutated_options(seed, options):
    if "--imgsz" not in options:
        options = [*options, "--imgsz", "64"]
    _profile(seed, options)


_BASELINE: dict[str, str] = {}


def _baseline_text() -> str:
    """One snapshot of the detector seed (made once per session), the JSON the baseline mutations start from."""
    if not _BASELINE:
        with tempfile.TemporaryDirectory() as folder:
            model, out = os.path.join(folder, "model.yaml"), os.path.join(folder, "base.json")
            with open(model, "w", encoding="utf-8") as handle:
                handle.write(SEEDS[0])
            result = invoke(["snapshot", model, "--imgsz", "64", "-o", out])
            assert result.exit_code == 0, result.output
            with open(out, encoding="utf-8") as handle:
                _BASELINE["text"] = handle.read()
    return _BASELINE["text"]


json_values = st.one_of(values, st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1", "[]", "{}"]))


@st.composite
def mutated_baselines(draw):
    """A report JSON with values replaced (NaN and Infinity spliced in as raw JSON), keys deleted, or cut short."""
    data = json.loads(_baseline_text())
    raw: list[tuple[str, str]] = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(list(_paths(data))))
        if draw(st.booleans()) and path:
            data = _delete(data, path)
            continue
        value = draw(json_values)
        if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity", "1e999"):
            marker = f"@@{len(raw)}@@"
            raw.append((json.dumps(marker), value))
            value = marker
        data = _set(data, path, value)
    text = json.dumps(data, allow_nan=True, default=str)
    for marker, value in raw:
        text = text.replace(marker, value)
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        text = text[: draw(st.integers(min_value=0, max_value=len(text)))]
    return text


CHECK_OPTIONS = {
    "--max-params": st.sampled_from(["5M", "nan", "inf", "1e400", "-1", "5X", "", "0", "1e6"]),
    "--max-gflops": st.sampled_from(["1", "1.5G", "nan", "1e-400", "abc"]),
    "--tolerance": st.sampled_from(["1%", "0.01", "nan", "nan%", "100%", "-1", "inf"]),
    "--gflops-convention": st.sampled_from(["archscope", "ultralytics", "legacy", "thop", ""]),
}


@st.composite
def check_options(draw):
    out: list[str] = []
    for name in draw(st.lists(st.sampled_from(sorted(CHECK_OPTIONS)), max_size=2, unique=True)):
        out += [name, draw(CHECK_OPTIONS[name])]
    return out


@FUZZ
@given(text=mutated_baselines(), options=check_options())
def test_mutated_baselines_and_budgets(text, options):
    """``check --baseline`` with a damaged report JSON and odd budgets: 0, 2, or 1 only as a gate that failed."""
    with tempfile.TemporaryDirectory() as folder:
        model, base = os.path.join(folder, "model.yaml"), os.path.join(folder, "base.json")
        with open(model, "w", encoding="utf-8") as handle:
            handle.write(SEEDS[0])
        with open(base, "w", encoding="utf-8") as handle:
            handle.write(text)
        args = ["check", model, "--baseline", base, *options]
        result = invoke(args)
        if result.exit_code == 1:  # a gate that failed is exit 1 by design; never an internal error
            assert "internal error" not in result.output and "Traceback" not in result.output, result.output
            return
        assert_clean(result, args)

"""The Python API as an IDE and a notebook see it (real signatures and docstrings, ``print(report)``, a short
``repr``), the distribution's name, and the CSV columns of profile, bench and compare."""

from __future__ import annotations

import ast
import csv
import inspect
import io
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archscope
import archscope.api
from archscope.cli.app import app
from archscope.render.data import to_csv

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = str(ROOT / "sample_configs" / "tiny-detector.yaml")
runner = CliRunner()

# The CSV header of profile before the attention, sub-module and depth columns were added: these keep their places.
FIRST_PROFILE_COLUMNS = [
    "index", "from", "n", "module", "args", "params", "output_shape", "flops", "mac_flops", "other_flops",
    "gflops_ultralytics", "gflops_legacy", "bytes_unfused", "bytes_fused", "ai_unfused", "ai_fused",
    "activation_bytes", "predicted_ms", "bound",
]


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# --------------------------------------------------------------------------------- signatures and docstrings

@pytest.mark.parametrize("name, expected", [
    ("profile", ["source", "scale", "nc", "ch", "imgsz", "batch", "dtype", "device_spec", "depth", "real", "counter",
                 "analyse", "blocks", "fuse"]),
    ("bench", ["source", "scale", "imgsz", "batch", "device", "dtype", "warmup", "runs", "min_time", "per_layer",
               "progress"]),
])
def test_top_level_functions_are_the_api_functions_with_their_parameters(name, expected):
    function = getattr(archscope, name)
    assert function is getattr(archscope.api, name)  # not a (*args, **kwargs) wrapper
    parameters = inspect.signature(function).parameters
    assert set(expected) <= set(parameters)
    assert not [p for p in parameters.values() if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    assert parameters["scale"].default is None and parameters["imgsz"].default == 640
    assert function.__doc__ and "see archscope.api" not in function.__doc__


def test_every_public_function_has_a_real_signature_and_a_docstring():
    functions = [getattr(archscope, n) for n in archscope.__all__ if inspect.isfunction(getattr(archscope, n))]
    assert {f.__name__ for f in functions} >= {"profile", "bench", "load_blocks", "register_op_cost",
                                               "unregister_op_cost", "block"}
    for function in functions:
        kinds = {p.kind for p in inspect.signature(function).parameters.values()}
        assert not kinds & {inspect.Parameter.VAR_POSITIONAL}, function.__name__
        assert (function.__doc__ or "").strip(), function.__name__


def test_ides_read_the_real_definitions():
    """Static tools (Pylance, mypy, jedi) follow the TYPE_CHECKING import to archscope/api.py's definitions."""
    tree = ast.parse((ROOT / "archscope" / "__init__.py").read_text())
    type_only = [n for t in ast.walk(tree) if isinstance(t, ast.If) and "TYPE_CHECKING" in ast.unparse(t.test)
                 for n in ast.walk(t) if isinstance(n, ast.ImportFrom) and n.module == "archscope.api"]
    assert type_only and {a.name for a in type_only[0].names} >= {"profile", "bench"}
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert not defined & {"profile", "bench"}  # no second definition to drift from the real one


def test_import_and_inspection_stay_torch_free_and_lazy():
    code = ("import sys, inspect, archscope\n"
            "assert 'archscope.api' not in sys.modules, 'archscope.api imported at import time'\n"
            "assert 'scale' in inspect.signature(archscope.profile).parameters\n"
            "assert 'per_layer' in inspect.signature(archscope.bench).parameters\n"
            "import pydoc; assert 'device_spec' in pydoc.render_doc(archscope.profile)\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'profiel'"):
        archscope.profiel  # noqa: B018


# ------------------------------------------------------------------------------------ print(report) and repr

@pytest.fixture(scope="module")
def report():
    return archscope.profile(SAMPLE, imgsz=64, depth=1, device_spec="a100")


def test_print_report_renders_the_table(report):
    text = str(report)
    lines = text.splitlines()
    header = lines[0].split()
    assert {"#", "params", "module", "bound"} <= set(header)
    assert {"0", "464", "Conv"} <= set(lines[1].split())  # layer 0: Conv(3, 16, 3, 2) = 432 + 32 (BatchNorm)
    assert {"432", "conv", "Conv2d"} <= set(lines[2].split())  # its depth-1 sub-modules follow it
    assert "2,593,740 parameters" in text
    assert "ModelReport(" not in text and "LayerReport(" not in text  # not the dataclass dump


def test_repr_is_one_short_line(report):
    text = repr(report)
    assert text.startswith("<ModelReport ") and "\n" not in text and len(text) < 200
    assert "tiny-detector.yaml:n" in text and "2,593,740 params" in text and "24 layers" in text


def test_a_report_read_back_prints_the_same(report):
    again = archscope.ModelReport.from_dict(report.to_dict())
    assert str(again) == str(report)


@pytest.fixture(scope="module")
def timed(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARCHSCOPE_DEVICE_FILE", str(tmp_path_factory.mktemp("cfg") / "device.yaml"))  # none saved
        return archscope.bench(SAMPLE, imgsz=32, batch="1,2", device="cpu", runs=2, warmup=0, per_layer=True)


def test_print_bench_report_renders_its_tables(timed):
    text = str(timed)
    assert "median ms" in text and "per layer, batch 1" in text and "per layer, batch 2" in text
    assert "BatchStats(" not in text
    short = repr(timed)
    assert short.startswith("<BenchReport ") and "\n" not in short and len(short) < 200
    assert f"batch 2 median {timed.batch(2).median_ms:.4g} ms" in short


# ------------------------------------------------------------------------------------------------ CSV columns

def test_profile_csv_has_the_attention_columns_after_the_first_ones(report):
    rows = rows_of(to_csv(report, depth=0))
    assert list(rows[0])[:len(FIRST_PROFILE_COLUMNS)] == FIRST_PROFILE_COLUMNS
    assert {"attention_flops", "attention_bytes", "attention_bytes_fused", "score_bytes", "score_shape",
            "submodule", "depth"} <= set(rows[0])
    assert len(rows) == len(report.layers)
    by_index = {int(r["index"]): r for r in rows}
    attention = [layer for layer in report.layers if layer.attention_flops]
    assert attention  # C2PSA: QK^T and PV
    for layer in attention:
        row = by_index[layer.index]
        assert int(row["attention_flops"]) == layer.attention_flops
        assert int(row["attention_bytes"]) == layer.attention_bytes
        assert int(row["score_bytes"]) == layer.score_bytes and row["score_shape"] == str(layer.score_shape)


def test_profile_csv_depth_rows_follow_their_layer():
    rows = rows_of(cli("profile", SAMPLE, "--imgsz", "64", "--depth", "1", "-f", "csv"))
    layer0 = [r for r in rows if r["index"] == "0"]
    assert [(r["submodule"], r["module"], r["depth"]) for r in layer0] == [
        ("", "Conv", "0"), ("conv", "Conv2d", "1"), ("bn", "BatchNorm2d", "1"), ("act", "SiLU", "1")]
    assert int(layer0[1]["params"]) + int(layer0[2]["params"]) == int(layer0[0]["params"]) == 464
    # Conv2d(3, 16, 3, stride 2) on 64x64: 16*32*32 outputs x 27 multiply-adds x 2
    assert int(layer0[1]["flops"]) == int(layer0[1]["mac_flops"]) == 2 * 27 * 16 * 32 * 32
    assert layer0[1]["output_shape"] == "" and layer0[1]["args"] == ""
    plain = rows_of(cli("profile", SAMPLE, "--imgsz", "64", "-f", "csv"))
    assert all(r["depth"] == "0" for r in plain) and len(plain) == 24


def test_profile_csv_depth_filters_what_the_report_holds():
    deep = archscope.profile(SAMPLE, imgsz=64, depth=2)
    every = rows_of(to_csv(deep))
    one = rows_of(to_csv(deep, depth=1))
    assert {r["depth"] for r in every} == {"0", "1", "2"} and {r["depth"] for r in one} == {"0", "1"}
    assert len(one) == len(every) - sum(r["depth"] == "2" for r in every)


def test_bench_per_layer_csv_keeps_the_whole_model_figures(timed):
    from archscope.render.bench import to_csv as bench_csv

    rows = rows_of(bench_csv(timed))
    assert list(rows[0])[:4] == ["batch", "index", "from", "module"]
    for stats in timed.batches:
        mine = [r for r in rows if r["batch"] == str(stats.batch)]
        assert len(mine) == len(stats.layers)
        assert {float(r["model_median_ms"]) for r in mine} == {stats.median_ms}
        assert {float(r["model_mean_ms"]) for r in mine} == {stats.mean_ms}
        assert float(mine[0]["layers_sum_ms"]) == pytest.approx(sum(float(r["median_ms"]) for r in mine))
        assert float(mine[0]["layer_overhead"]) == pytest.approx(float(mine[0]["layers_sum_ms"]) / stats.median_ms - 1)


def test_compare_csv_value_column_is_numeric_and_text_has_its_own(tmp_path):
    rows = rows_of(cli("compare", f"{SAMPLE}:n", f"{SAMPLE}:s", "--imgsz", "64", "-f", "csv"))
    assert list(rows[0]) == ["section", "key", "model", "figure", "value", "delta", "ratio", "text"]
    for row in rows:
        for column in ("value", "delta", "ratio"):
            if row[column]:
                float(row[column])  # a number, or empty
    modules = [r for r in rows if r["section"] == "layer" and r["key"] == "2" and r["figure"] == "modules"]
    assert [(r["value"], r["text"]) for r in modules] == [("", "C3k2"), ("", "C3k2")]
    output = [r["text"] for r in rows if r["section"] == "layer" and r["key"] == "0" and r["figure"] == "output"]
    assert output == ["1x16x32x32", "1x32x32x32"]  # Conv 64 x width 0.25 (n) and 0.5 (s), stride 2 on 64x64
    params = [r for r in rows if r["section"] == "totals" and r["figure"] == "params"]
    assert [r["value"] for r in params] == ["2593740", "9435532"] and all(r["text"] == "" for r in params)


# ----------------------------------------------------------------------------------------- the distribution

def test_the_distribution_name_is_used_wherever_an_install_is_suggested():
    """PyPI's "archscope" is another project: every install line names archscope-yolo (import, command: archscope)."""
    import re

    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "archscope-yolo" and project["scripts"] == {"archscope": "archscope.cli.entry:main"}
    assert "numpy" in " ".join(project["dependencies"])  # torch warns "Failed to initialize NumPy" without it
    texts = {str(p.relative_to(ROOT)): p.read_text() for p in [*(ROOT / "archscope").rglob("*.py"),
                                                                ROOT / "README.md", ROOT / "setup.sh"]}
    wrong = {name: found for name, text in texts.items()
             if (found := re.findall(r"pip install '?archscope(?!-yolo)\b[^`\n]*", text))
             and not all("unrelated project" in text.split(f)[1][:80] for f in found)}
    assert not wrong, wrong
    assert "pip install archscope-yolo" in texts["README.md"]

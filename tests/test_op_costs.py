"""The op-cost registry (archscope.analysis.costs): keyed by operator packets, refusing what is not one, open to a
user's own operators (archscope.register_op_cost), and the operators without a cost listed in the report.

The user model: tests/fixtures/plugins/custom_op_blocks.py, a 1x1 conv 4 -> 8 (no bias) followed by two calls of
the custom operator ``archscope_test::scaled_gate``; at 6x10, batch 1, every figure below is derived by hand.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch._ops import OpOverloadPacket
from typer.testing import CliRunner

import archscope
from archscope.analysis import costs
from archscope.cli.app import app
from archscope.reports.profile import ModelReport
from archscope.render.data import to_markdown
from archscope.render.table import export

aten = torch.ops.aten
BLOCKS = str(Path(__file__).resolve().parent / "fixtures" / "plugins" / "custom_op_blocks.py")
MODEL = """\
nc: 1
ch: 4
backbone:
  - [-1, 1, GatedConv, [8]]
head: []
"""
CONV_MAC = 2 * 6 * 10 * 4 * 8  # 60 positions, 4 -> 8 channels, 2 FLOPs per multiply-add
GATE_ELEMENTS = 8 * 6 * 10  # each call's output: 1x8x6x10
GATE_PER_ELEMENT = 6  # the user's figure for x * sigmoid(2x): multiply 1 + sigmoid 4 + multiply 1
runner = CliRunner()


@pytest.fixture
def user_yaml(tmp_path) -> Path:
    archscope.load_blocks(BLOCKS)  # defines the custom op (once per process)
    path = tmp_path / "gated.yaml"
    path.write_text(MODEL)
    return path


@pytest.fixture
def gate_cost():
    """Registers the user's formula for the custom op, and takes it back afterwards."""
    archscope.load_blocks(BLOCKS)
    op = torch.ops.archscope_test.scaled_gate
    archscope.register_op_cost(op, lambda args, kwargs, outs: GATE_PER_ELEMENT * outs[0].numel())
    yield op
    archscope.unregister_op_cost(op)


# ------------------------------------------------------------------------------------------ the registry


def test_every_key_is_an_operator_packet():
    registry = costs.registered_ops()
    assert len(registry) > 200
    for op, cost in registry.items():
        assert isinstance(op, OpOverloadPacket), op
        assert cost.op is op and cost.kind in costs.KINDS
    for table in (costs.DATA_MOVEMENT, costs.NO_TRAFFIC, costs.FIRST_OUTPUT_ONLY, costs.ACTIVATION_MATMULS):
        assert table and all(isinstance(op, OpOverloadPacket) for op in table)
    # the dispatcher's func.overloadpacket is the very object the registry holds: an identity-hash lookup
    assert aten.mm.default.overloadpacket is aten.mm and costs.cost_of(aten.mm.default.overloadpacket).kind == "mac"


def test_elementwise_names_resolve_and_in_place_variants_are_real():
    for name in costs.ELEMENTWISE:
        assert costs.classify(getattr(aten, name)) == "other"
        if name in costs.NO_INPLACE_VARIANT:
            assert not hasattr(aten, name + "_"), f"aten.{name}_ exists: register it"
        else:
            assert costs.classify(getattr(aten, name + "_")) == "other"
    for name in costs.RESIZE:
        assert costs.classify(getattr(aten, name)) == "other"


def test_a_name_that_is_not_an_operator_is_an_error():
    with pytest.raises(LookupError, match="aten.clone_"):
        costs._aten("clone_")
    with pytest.raises(AttributeError):
        torch.ops.aten.not_an_operator_at_all


def test_registering_twice_a_string_or_an_overload_raises():
    formula = lambda args, kwargs, outs: 0  # noqa: E731
    with pytest.raises(ValueError, match="already has an op cost"):
        archscope.register_op_cost(aten.mm, formula, kind="mac")
    with pytest.raises(ValueError, match="already has an op cost"):
        costs.op_cost(aten.add, kind="other")(formula)
    with pytest.raises(TypeError, match="not 'mm'"):
        archscope.register_op_cost("mm", formula)
    with pytest.raises(TypeError, match="one overload of aten.mm"):
        archscope.register_op_cost(aten.mm.default, formula)
    with pytest.raises(ValueError, match="kind must be"):
        archscope.register_op_cost(aten.mm, formula, kind="fast", replace=True)
    assert costs.rule_for(aten.mm) is costs._mm  # nothing was changed by the refusals


def test_replace_overrides_a_built_in_and_unregister_restores_it():
    out = [torch.empty(2, 3, device="meta")]
    assert costs.op_flops(aten.sigmoid, (None,), {}, out) == (0, 4 * 6)
    archscope.register_op_cost(aten.sigmoid, lambda args, kwargs, outs: 1 * outs[0].numel(), replace=True)
    try:
        assert costs.op_flops(aten.sigmoid, (None,), {}, out) == (0, 6)
    finally:
        archscope.unregister_op_cost(aten.sigmoid)
    assert costs.op_flops(aten.sigmoid, (None,), {}, out) == (0, 4 * 6)
    with pytest.raises(KeyError):
        archscope.unregister_op_cost(aten.view)  # has no cost to take back


def test_a_formula_may_return_mac_and_other():
    op = torch.ops.aten.cholesky  # an ATen op archscope has no cost for
    assert costs.classify(op) == "unknown"
    archscope.register_op_cost(op, lambda args, kwargs, outs: (10, 3), kind="mac")
    try:
        assert costs.classify(op) == "mac" and costs.op_flops(op, (), {}, []) == (10, 3)
    finally:
        archscope.unregister_op_cost(op)
    assert costs.classify(op) == "unknown"


# ------------------------------------------------------------------------------- a user's own operator


def test_user_formula_changes_the_count_by_exactly_its_figure(user_yaml, gate_cost):
    report = archscope.profile(user_yaml, imgsz="6x10")
    assert report.totals.mac_flops == CONV_MAC
    assert report.totals.other_flops == 2 * GATE_PER_ELEMENT * GATE_ELEMENTS == 5760  # two calls, 480 elements
    assert report.totals.flops == CONV_MAC + 5760
    assert report.totals.uncounted_ops == []


def test_op_without_a_cost_is_listed_in_json_and_table(user_yaml):
    archscope.load_blocks(BLOCKS)
    assert costs.cost_of(torch.ops.archscope_test.scaled_gate) is None
    report = archscope.profile(user_yaml, imgsz="6x10")
    assert (report.totals.mac_flops, report.totals.other_flops) == (CONV_MAC, 0)
    assert report.totals.uncounted_ops == [{"op": "archscope_test.scaled_gate", "calls": 2}]

    result = runner.invoke(app, ["profile", str(user_yaml), "--imgsz", "6x10", "--blocks", BLOCKS, "-f", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["totals"]["uncounted_ops"] == [{"op": "archscope_test.scaled_gate", "calls": 2}]

    note = "no cost rule for 1 operator, counted as 0 FLOPs (bytes still counted): archscope_test.scaled_gate (2 calls)"
    assert note in " ".join(export(report, width=400).split())
    assert note in to_markdown(report)


def test_uncounted_ops_sorted_by_calls_and_old_reports_still_load(user_yaml):
    from archscope.analysis.to_report import uncounted_list

    assert uncounted_list({"aten.b": 1, "aten.a": 1, "aten.c": 5}) == [
        {"op": "aten.c", "calls": 5}, {"op": "aten.a", "calls": 1}, {"op": "aten.b", "calls": 1}]
    archscope.load_blocks(BLOCKS)
    data = archscope.profile(user_yaml, imgsz="6x10").to_dict()
    del data["totals"]["uncounted_ops"]  # a report written before the key existed
    old = ModelReport.from_dict(data)
    assert old.totals.uncounted_ops is None
    assert "no cost rule" not in export(old)


def test_shipped_sample_config_has_nothing_uncounted():
    sample = Path(__file__).resolve().parents[1] / "sample_configs" / "yolov8n-mqa.yaml"
    assert archscope.profile(sample, imgsz=64).totals.uncounted_ops == []


# --------------------------------------------------------------------------------------------- start-up


def test_records_and_the_package_stay_torch_free():
    code = ("import sys, archscope, archscope.analysis.records, archscope.reports.profile, archscope.render.table; "
            "archscope.register_op_cost; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_a_user_op_named_like_an_aten_op_keeps_its_own_shape_on_meta():
    """Shape rules are aten's: a user's ``archscope_meta_test::add`` (here: a sum over the last dim) must not be
    answered with aten's broadcasting ``add`` rule."""
    from archscope.build.meta import shape_only

    @torch.library.custom_op("archscope_meta_test::add", mutates_args=())
    def user_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x + y).sum(-1)

    @user_add.register_fake
    def _(x, y):
        return x.new_empty(x.shape[:-1])

    x = torch.empty(2, 3, 5, device="meta")
    with shape_only():
        out = torch.ops.archscope_meta_test.add(x, x)
    assert tuple(out.shape) == (2, 3)

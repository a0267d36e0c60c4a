"""The optional --counter cross-checks: each tool's figure is the tool's own (checked against calling it directly and
against hand counts from its documented rules), and the explanation is computed module by module from what it
counted. Clear errors when a package is missing (no network, no install)."""

from __future__ import annotations

import copy
import subprocess
import sys
import types

import pytest
from crosscheck_models import branchy_model, small_model
from official_configs import official_cfg_dir
from reference import crosscheck_tools as ref

from archscope.analysis import crosscheck as xc
from archscope.errors import ArchscopeError

MODULES = {"fvcore": ("fvcore", "fvcore.nn"), "thop": ("thop",), "ptflops": ("ptflops",), "calflops": ("calflops",),
           "torchinfo": ("torchinfo",)}


@pytest.mark.parametrize("counter", xc.COUNTERS)
def test_missing_package_names_the_extra(monkeypatch, counter):
    for name in MODULES[counter]:
        monkeypatch.setitem(sys.modules, name, None)  # makes `import name` raise ImportError
    with pytest.raises(ArchscopeError) as e:
        xc.crosscheck(object(), (), counter)
    assert str(e.value) == f"--counter {counter} needs the optional package: pip install 'archscope-yolo[{counter}]'"


def test_calflops_without_transformers_says_so(monkeypatch):
    for name in [m for m in sys.modules if m == "calflops" or m.startswith("calflops.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ArchscopeError) as e:
        xc.crosscheck(object(), (), "calflops")
    assert str(e.value) == ("--counter calflops: the installed calflops needs 'transformers', which is not installed: "
                            "pip install transformers")


def test_unknown_counter():
    with pytest.raises(ArchscopeError, match="choose from fvcore, thop, ptflops, calflops, torchinfo"):
        xc.crosscheck(object(), (), "flopco")


def test_importing_crosscheck_imports_no_counter_nor_torch():
    names = ("fvcore", "thop", "ptflops", "calflops", "torchinfo", "torch")
    code = f"import sys, archscope.analysis.crosscheck; print([m in sys.modules for m in {names!r}])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str([False] * len(names))


# Hand count for the small model (64 pixels / tokens): conv 16*64*3*9 = 27,648 MACs; qkv Linear 64*16*48 = 49,152;
# q@k^T 64*64*16 = 65,536; attn@v 65,536 -> 207,872 MACs = 415,744 FLOPs on archscope's 2-per-MAC scale.
SMALL_MACS = 27_648 + 49_152 + 65_536 + 65_536
BMM_FLOPS = 2 * (65_536 + 65_536)  # archscope's "bmm" records of the two matmuls: 0.26 M


def _gap_adds_up(r: xc.CrossCheck, archscope_mac: float) -> None:
    assert sum(g.flops for g in r.gap) == pytest.approx(r.flops_x2 - archscope_mac)
    assert "\n" not in r.explanation


def test_fvcore_counts_matmuls_and_charges_batchnorm():
    import fvcore  # noqa: F401  (in the dev extra: a missing fvcore fails here instead of skipping)

    model, x = small_model()
    r = xc.crosscheck(model, x, "fvcore")
    assert r.macs == SMALL_MACS + 2 * 16 * 64  # + BatchNorm at 2 per element (eval)
    assert r.flops_x2 == 2 * r.macs
    assert "aten::silu" in r.unsupported_ops
    # the whole gap is the BatchNorm fvcore charges (2 per element, x2), which archscope counts under other_flops
    assert [(g.kind, g.what, g.flops) for g in r.gap] == [("extra", "BatchNorm2d", 4 * 16 * 64)]
    assert r.explanation.startswith("gap +4.10 K: +4.10 K it charges for BatchNorm2d (archscope: other_flops")
    _gap_adds_up(r, 2 * SMALL_MACS)


def test_fvcore_trace_drops_an_unused_branch_and_the_explanation_names_it():
    import fvcore.nn

    model, x = branchy_model()
    r = xc.crosscheck(model, x, "fvcore")
    # by hand: conv 16 px * 8 * 3 = 384 MACs, used 1x1 16*8*8 = 1,024; the unused 3x3 (16*8*8*9 = 9,216) is dropped
    assert r.macs == 384 + 1024 == fvcore.nn.FlopCountAnalysis(model.eval(), x).total()
    assert [(g.kind, g.modules) for g in r.gap] == [("not-run", (("1.unused", -2 * 9216),))]
    assert "-18.43 K in modules fvcore never ran (1.unused -18.43 K): not in its trace" in r.explanation


def test_thop_is_blind_to_functional_matmuls():
    import thop

    model, x = small_model()
    buffers = sorted(n for n, _ in model.named_buffers())
    r = xc.crosscheck(model, x, "thop")
    assert r.macs == 27_648 + 49_152 + 4 * 16 * 64  # conv + Linear + BatchNorm at 4 per element; no matmuls
    assert r.macs == thop.profile(copy.deepcopy(model), inputs=(x,), verbose=False)[0]
    assert sorted(n for n, _ in model.named_buffers()) == buffers  # thop ran on a copy
    assert (r.package, r.version.split(".")[:2]) == ("thop", ["0", "1"])  # the dev extra has PyPI's thop 0.1.1
    kinds = {(g.kind, g.what): g.flops for g in r.gap}
    assert kinds == {("missed", "bmm"): -BMM_FLOPS, ("extra", "BatchNorm2d"): 8 * 16 * 64}
    assert "-0.26 M of bmm it does not count (3 -0.26 M)" in r.explanation
    _gap_adds_up(r, 2 * SMALL_MACS)


def _fake_ultralytics_thop(monkeypatch):
    """ultralytics-thop cannot live in this venv next to PyPI thop (both are the module ``thop``): a stand-in that
    returns what ultralytics-thop 2.2.3 returns for the small model (tests/reference/crosscheck_tools.py, measured by
    scripts/ulthop_crosscheck.py): its per-module tree, and the functional products in the total only."""
    tree = {"0": (27_648.0, 448, {}), "1": (4.0 * 16 * 64, 32, {}), "2": (0.0, 0, {}),
            "3": (49_152.0, 816, {"qkv": (49_152.0, 816, {})})}
    assert sum(ops for ops, _p, _s in tree.values()) == ref.SMALL_MACS - ref.SMALL_FUNCTIONAL_MACS

    def profile(model, inputs, verbose=True, ret_layer_info=False):
        return float(ref.SMALL_MACS), 1312.0, tree

    monkeypatch.setitem(sys.modules, "thop", types.SimpleNamespace(profile=profile))
    monkeypatch.setattr(xc, "thop_packaging", lambda: ("ultralytics-thop", ref.ULTRALYTICS_THOP_VERSION))


def test_ultralytics_thop_counts_the_functional_matmuls(monkeypatch):
    _fake_ultralytics_thop(monkeypatch)
    model, x = small_model()
    r = xc.crosscheck(model, x, "thop")
    assert (r.package, r.version, r.macs) == ("ultralytics-thop", "2.2.3", ref.SMALL_MACS)
    kinds = {(g.kind, g.what): g.flops for g in r.gap}
    # the functional matmuls it counts outside modules are archscope's bmm exactly; only its BatchNorm charge is left
    assert kinds == {("extra", "BatchNorm2d"): 8 * 16 * 64, ("functional", "bmm"): 0}
    assert ("+0 on what it counts outside every module (functional calls): 0.26 M, against archscope's bmm 0.26 M in "
            "modules it has no rule for (3 0.26 M)") in r.explanation
    assert "does not count" not in r.explanation


def test_ultralytics_thop_total_is_archscopes_gflops_ultralytics():
    from archscope import profile

    report = profile(official_cfg_dir() / "v10" / "yolov10n.yaml", analyse=True)
    assert report.totals.gflops_ultralytics == pytest.approx(2 * ref.YOLOV10N_640_MACS / 1e9, abs=1e-9)


def test_ptflops_matches_its_own_figure_and_hand_count():
    from ptflops import get_model_complexity_info

    model, x = small_model()
    r = xc.crosscheck(model, x, "ptflops")
    own, _ = get_model_complexity_info(model, (3, 8, 8), input_constructor=lambda _: x, as_strings=False,
                                       print_per_layer_stat=False, backend="pytorch")
    # by hand (ptflops 0.7 rules): conv + bias 28,672; BN 2/elem 2,048; SiLU 1/elem 1,024; Linear + bias 52,224;
    # the two torch.matmul calls (its functional counter) 131,072
    assert r.macs == own == 28_672 + 2_048 + 1_024 + 52_224 + 131_072
    kinds = {(g.kind, g.what): g.flops for g in r.gap}
    assert kinds[("differs", "Conv2d")] == 2 * 1_024  # the bias, one MAC per output element
    assert kinds[("differs", "Linear")] == 2 * 3_072
    assert kinds[("extra", "BatchNorm2d")] == 2 * 2_048
    assert kinds[("functional", "bmm")] == 2 * (131_072 + 1_024) - BMM_FLOPS  # its functional bucket has SiLU too
    _gap_adds_up(r, 2 * SMALL_MACS)


def test_calflops_matches_its_own_figure_and_archscope():
    from calflops import calculate_flops

    model, x = small_model()
    r = xc.crosscheck(model, x, "calflops")
    _flops, macs, _params = calculate_flops(model, args=[x], output_as_string=False, print_results=False)
    assert r.macs == macs == SMALL_MACS  # calflops' MACs: conv, Linear and both matmuls; no bias or norm
    assert r.gap == ()
    assert r.explanation == "calflops agrees with archscope's mac_flops module by module"


def test_torchinfo_matches_its_own_figure_and_hand_count():
    from torchinfo import summary

    model, x = small_model()
    r = xc.crosscheck(model, x, "torchinfo")
    own = summary(model, input_data=[x], verbose=0).total_mult_adds
    # by hand (torchinfo 1.8 rules): conv (432 weights + 16 biases) x 64 px = 28,672; BatchNorm 32 params x batch 1;
    # Linear 816 params x batch 1 (not x 64 tokens); matmuls not seen
    assert r.macs == own == 28_672 + 32 + 816
    kinds = {(g.kind, g.what): g.flops for g in r.gap}
    assert kinds[("missed", "bmm")] == -BMM_FLOPS
    assert kinds[("differs", "Linear")] == 2 * 816 - 2 * 49_152
    _gap_adds_up(r, 2 * SMALL_MACS)


def _tool_figure(counter, model, x):
    if counter == "fvcore":
        import fvcore.nn

        return fvcore.nn.FlopCountAnalysis(model.eval(), x).total()
    if counter == "thop":
        import thop

        return thop.profile(copy.deepcopy(model).eval(), inputs=(x,), verbose=False)[0]
    if counter == "ptflops":
        from ptflops import get_model_complexity_info

        return get_model_complexity_info(model, tuple(x.shape[1:]), input_constructor=lambda _: x, as_strings=False,
                                         print_per_layer_stat=False, backend="pytorch")[0]
    if counter == "calflops":
        from calflops import calculate_flops

        return calculate_flops(model.eval(), args=[x], output_as_string=False, print_results=False)[1]
    from torchinfo import summary

    return summary(model.eval(), input_data=[x], verbose=0).total_mult_adds


@pytest.mark.parametrize("counter", xc.COUNTERS)
def test_yolo_config_figure_is_the_tools_own(counter):
    """The official yolov10n at 160x160, through profile(counter=...): the tool's figure is what the tool gives when
    called directly on the same model, and the gap items add up to the whole gap."""
    import torch

    from archscope import profile
    from archscope.build.builder import BuildOptions, build_model
    from archscope.build.materialize import materialize
    from archscope.spec.model_spec import load_spec

    cfg = official_cfg_dir() / "v10" / "yolov10n.yaml"
    report = profile(cfg, imgsz=160, counter=counter)
    c = report.crosscheck[0]
    built = build_model(load_spec(cfg), BuildOptions(imgsz=(160, 160)))
    model = materialize(built, device="cpu")
    x = torch.randn(1, 3, 160, 160)
    assert c["macs"] == pytest.approx(float(_tool_figure(counter, model, x)), rel=1e-12)
    assert sum(g["flops"] for g in c["gap"]) == pytest.approx(c["flops_x2"] - c["archscope_mac_flops"], abs=1)
    if counter == "fvcore":  # the one-to-many branch is dead in eval: fvcore's trace drops it, and says so
        not_run = [g for g in c["gap"] if g["kind"] == "not-run"][0]
        assert [m[0] for m in not_run["modules"]] == ["layers.23.cv2", "layers.23.cv3"]
        assert "in modules fvcore never ran (layers.23.cv2 " in c["explanation"]


def test_yolov10n_fvcore_gap_is_the_dead_one_to_many_branch():
    """The issue's case: fvcore 6.83 vs archscope 8.63 GFLOPs on yolov10n at 640."""
    from archscope import profile

    c = profile(official_cfg_dir() / "v10" / "yolov10n.yaml", counter="fvcore").crosscheck[0]
    assert f"{c['flops_x2'] / 1e9:.2f} {c['archscope_mac_flops'] / 1e9:.2f}" == "6.83 8.63"
    assert c["explanation"].startswith("gap -1.80 G: -1.87 G in modules fvcore never ran (layers.23.cv2 -1.51 G, "
                                       "layers.23.cv3 -0.35 G): not in its trace")

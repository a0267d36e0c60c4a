"""The true inference peak (archscope.analysis.liveness) against real CPU forwards measured by a tracker written
here, independently of archscope's, and against the figures of tests/reference/peak_memory.py."""

from __future__ import annotations

import json
import textwrap
import weakref
from pathlib import Path

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from archscope.analysis.analyze import analyze
from archscope.analysis.liveness import LiveStorages
from archscope.analysis.mode import _OpInfo
from archscope.analysis.precision import Precision
from archscope.build.builder import BuildOptions, build_model
from archscope.build.materialize import materialize
from archscope.spec.model_spec import load_spec
from tests.reference.peak_memory import SAMPLES, ULTRALYTICS_84

REPO = Path(__file__).resolve().parents[1]
aten = torch.ops.aten


class RealPeak(TorchDispatchMode):
    """Bytes of live storages in a real forward: every op output's storage, from the op until it is freed."""

    def __init__(self, x: torch.Tensor, model: torch.nn.Module):
        super().__init__()
        self.sizes: dict[int, int] = {}
        self.current = self.peak = 0
        # weights are not activations: a view of one (a linear's weight.t()) is no new storage
        self.weights = [t.untyped_storage() for t in [*model.parameters(), *model.buffers()]]
        self.sizes.update((id(s), 0) for s in self.weights)
        self._add(x)

    def _add(self, t: torch.Tensor) -> None:
        s = t.untyped_storage()
        if id(s) not in self.sizes:
            self.sizes[id(s)] = s.nbytes()
            self.current += s.nbytes()
            self.peak = max(self.peak, self.current)
            weakref.finalize(s, self._free, id(s))

    def _free(self, key: int) -> None:
        self.current -= self.sizes.pop(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor):
                self._add(t)
        return out


def real_peak(built) -> int:
    model = materialize(built, device="cpu")
    x = torch.rand(built.batch, built.ch, *built.imgsz)
    mode = RealPeak(x, model)
    with torch.inference_mode(), mode:
        model.run(x)
    return mode.peak


def _built(cfg_dir, source: str, imgsz: int, batch: int = 1):
    path, _, scale = source.partition(":")
    full = REPO / path if path.startswith("sample_configs") else cfg_dir / path
    return build_model(load_spec(full), BuildOptions(scale=scale or None, imgsz=(imgsz, imgsz), batch=batch))


@pytest.mark.parametrize("source,imgsz,batch", [
    ("v8/yolov8.yaml:n", 160, 2),  # conv: the peak is inside a C2f at stride 4
    ("11/yolo11.yaml:n", 192, 1),  # C3k2, and C2PSA attention at stride 32
    ("12/yolo12.yaml:n", 160, 1),  # area attention
    ("rt-detr/rtdetr-l.yaml", 160, 1),  # HGNet, AIFI transformer, the decoder's topk/gather
    ("sample_configs/yolov8n-mhsa.yaml", 160, 1),  # score matrix + softmax copy
    ("sample_configs/yolov10m-C2f_MQA.yaml", 96, 1),
])
def test_peak_within_ten_percent_of_a_real_forward(source, imgsz, batch, cfg_dir):
    built = _built(cfg_dir, source, imgsz, batch)
    ours = analyze(built, legacy=False)
    real = real_peak(built)
    assert ours.peak_activation_bytes == pytest.approx(real, rel=0.10)
    assert ours.peak_activation_bytes > ours.layer_boundary_peak_bytes  # the peak is inside a layer


@pytest.mark.parametrize("name", sorted(ULTRALYTICS_84))
def test_peak_at_640_matches_ultralytics_real_forward(name, cfg_dir):
    source, imgsz, peak = ULTRALYTICS_84[name]
    assert analyze(_built(cfg_dir, source, imgsz), legacy=False).peak_activation_bytes == pytest.approx(peak, rel=0.10)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_peak_of_sample_configs_matches_their_real_forward(name, cfg_dir):
    source, imgsz, peak = SAMPLES[name]
    c = analyze(_built(cfg_dir, source, imgsz), legacy=False)
    assert c.peak_activation_bytes == pytest.approx(peak, rel=0.10)
    assert c.peak_op == "_softmax"  # attention: the score matrix and its softmax copy


C2F_YAML = """
nc: 80
backbone:
  - [-1, 1, C2f, [32, True]]  # c = 16: cv1 Conv(3, 32, 1); m.0 Bottleneck(16, 16, add); cv2 Conv(48, 32, 1)
head: []
"""


def test_c2f_peak_by_hand(tmp_path):
    """y = chunk(cv1(x)) (views); y += m.0(y[-1]); cv2(cat(y)): at cv2's BN the input 3P, cv1's output 32P, the
    bottleneck's 16P, the cat buffer 48P, cv2's conv output 32P and its BN output 32P are live: 163P elements."""
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent(C2F_YAML))
    h, w = 24, 40
    c = analyze(build_model(load_spec(path), BuildOptions(imgsz=(h, w))))
    P = h * w
    assert c.peak_activation_bytes == 4 * 163 * P
    assert (c.peak_layer, c.peak_path) == (0, "cv2.bn")
    assert c.layers[0].peak_activation_bytes == c.peak_activation_bytes
    assert c.layer_boundary_peak_bytes == 4 * (3 * P + 32 * P)


def test_views_and_in_place_ops_allocate_nothing():
    assert not _OpInfo(aten.view.default).allocates and not _OpInfo(aten.relu_.default).allocates
    assert not _OpInfo(aten.add_.Tensor).allocates and _OpInfo(aten.relu.default).allocates
    live = LiveStorages(Precision("fp16"))
    t = torch.empty(4, 8, device="meta")
    live.created([t], "relu", 3, "m.0", False)
    v = t.view(8, 4)
    live.created([v, t[1:]], "cat", 3, "m.0", False)  # views of a tracked storage add nothing
    assert live.current == live.peak.bytes == 2 * 32  # fp16: 2 bytes an element
    idx = torch.empty(5, dtype=torch.int64, device="meta")
    live.created([idx], "topk", 4, "", False)
    assert live.current == 64 + 40 and live.element_bytes(idx) == 8  # an index keeps its own size
    assert (live.peak.layer, live.peak.op) == (4, "topk")
    del t, v
    assert live.current == 40  # freed with its last view
    del idx
    assert live.current == 0 and live.peak.bytes == 104


def test_report_carries_the_peak_and_where(tmp_path):
    from archscope import api
    from archscope.render.cells import summary_line
    from archscope.render.data import to_csv

    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent(C2F_YAML))
    report = api.profile(str(path), imgsz=32)
    t = report.totals
    assert (t.peak_activation_bytes, t.peak_layer, t.peak_path) == (4 * 163 * 1024, 0, "cv2.bn")
    assert t.layer_boundary_peak_bytes == 4 * 35 * 1024
    assert "peak activations 0.7 MB fp32 in layer 0 C2f (cv2.bn: " in summary_line(report)
    data = report.to_dict()
    assert data["schema"] == "archscope.report/2" and data["totals"]["peak_op"] == t.peak_op
    import csv
    import io

    row = next(csv.DictReader(io.StringIO(to_csv(report))))
    assert row["peak_activation_bytes"] == str(4 * 163 * 1024)


def test_report_1_is_read_with_its_peak_under_the_old_name(tmp_path):
    from archscope import api
    from archscope.reports.profile import load_report

    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent(C2F_YAML))
    data = api.profile(str(path), imgsz=32).to_dict()
    old = json.loads(json.dumps(data))
    old["schema"] = "archscope.report/1"
    for key in ("layer_boundary_peak_bytes", "peak_layer", "peak_path", "peak_op"):
        del old["totals"][key]
    old["totals"]["peak_activation_bytes"] = 12345  # what /1 meant: the layer-boundary figure
    report = load_report(old)
    assert report.totals.layer_boundary_peak_bytes == 12345 and report.totals.peak_activation_bytes is None
    assert report.schema == "archscope.report/2"


def test_a_report_1_baseline_is_not_compared_on_a_peak_of_another_meaning(tmp_path):
    from archscope import api
    from archscope.check.gate import check_baseline
    from archscope.reports.profile import load_report

    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent(C2F_YAML))
    now = api.profile(str(path), imgsz=32)
    old = json.loads(json.dumps(now.to_dict()))
    old["schema"] = "archscope.report/1"
    old["totals"]["peak_activation_bytes"] = now.totals.layer_boundary_peak_bytes  # /1's figure, 4.7x smaller
    results = check_baseline(now, load_report(old), 0.01, label="m")
    assert "peak_activation_bytes" not in {r.figure for r in results} and {r.figure for r in results} >= {"params"}
    assert all(r.status == "pass" for r in results)

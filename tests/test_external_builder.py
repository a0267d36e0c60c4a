"""--builder: a YAML built with the user's own code (a YOLOv5-style repository, an Ultralytics fork), written into
tmp_path by the test. The expected per-layer parameters are counted independently: derived by hand from the fake
code (formulas in the comments) and summed over the fake code's own modules built on real CPU tensors in a
subprocess that imports nothing of archscope."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archscope
from archscope import api
from archscope.cli.app import app
from archscope.errors import ArchscopeError

runner = CliRunner()

COMMON = '''\
import os
import torch
from torch import nn

open(os.environ["FAKE_MARKER"], "a").write("imported\\n")  # proves whether this code ran


class Conv(nn.Module):
    def __init__(self, c1, c2, k=1, s=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class FancyBlock(nn.Module):  # a block archscope does not know
    def __init__(self, c1, c2):
        super().__init__()
        self.dw = nn.Conv2d(c1, c1, 5, 1, 2, groups=c1)
        self.pw = nn.Conv2d(c1, c2, 1)
        self.gate = nn.Parameter(torch.zeros(1, c2, 1, 1))

    def forward(self, x):
        return self.pw(self.dw(x)) * torch.sigmoid(self.gate)


class Broken(nn.Module):
    def __init__(self, c1, c2):
        super().__init__()
        raise ValueError("Broken needs a bigger c2")  # BROKEN-LINE
'''

YOLO = '''\
import yaml
import torch
from torch import nn

from models.common import Broken, Conv, FancyBlock


class Concat(nn.Module):
    def forward(self, x):
        return torch.cat(x, 1)


class Detect(nn.Module):
    def __init__(self, nc, ch):
        super().__init__()
        self.nc = nc
        self.m = nn.ModuleList(nn.Conv2d(c, nc + 5, 1) for c in ch)
        self.stride = None

    def forward(self, x):
        return [m(t) for m, t in zip(self.m, x)]


def parse_model(d, ch):
    layers, save, c2 = [], [], ch[-1]
    for i, (f, n, m, args) in enumerate(d["backbone"] + d["head"]):
        m = {"Conv": Conv, "FancyBlock": FancyBlock, "Broken": Broken, "Concat": Concat, "Detect": Detect}[m]
        if m in (Conv, FancyBlock, Broken):
            c1, c2 = ch[f], args[0]
            args = [c1, c2, *args[1:]]
        elif m is Concat:
            c2 = sum(ch[x] for x in f)
        elif m is Detect:
            args = [d["nc"], [ch[x] for x in f]]
        mod = nn.Sequential(*(m(*args) for _ in range(n))) if n > 1 else m(*args)
        mod.i, mod.f, mod.type = i, f, m.__name__
        layers.append(mod)
        if i == 0:
            ch = []
        ch.append(c2)
    return nn.Sequential(*layers), sorted(save)


class Model(nn.Module):
    def __init__(self, cfg="model.yaml", ch=3, nc=None):
        super().__init__()
        with open(cfg) as f:
            self.yaml = yaml.safe_load(f)
        if nc:
            self.yaml["nc"] = nc
        self.model, self.save = parse_model(self.yaml, ch=[ch])
        m = self.model[-1]
        m.stride = torch.tensor([256 / x.shape[-2] for x in self.forward(torch.zeros(1, ch, 256, 256))])
        print(f"fake summary: {sum(p.numel() for p in self.parameters())} parameters")

    def forward(self, x):
        y = []
        for m in self.model:
            if m.f != -1:
                x = y[m.f] if isinstance(m.f, int) else [x if j == -1 else y[j] for j in m.f]
            x = m(x)
            y.append(x)
        return x
'''

MODEL = """\
nc: 4
depth_multiple: 1.0
width_multiple: 1.0
backbone:
  - [-1, 1, Conv, [8, 3, 2]]     # 0
  - [-1, 1, FancyBlock, [16]]    # 1
  - [-1, 1, Conv, [16, 3, 2]]    # 2
head:
  - [[1, 2], 1, Detect, [nc]]    # 3
"""
# By hand, from the fake code above (Conv: c1*c2*k*k weights, no bias, BatchNorm 2*c2; FancyBlock: depthwise 5x5
# with bias c1*25 + c1, pointwise c1*c2 + c2, gate c2; Detect: a 1x1 conv with bias per input to nc + 5 = 9):
HAND = [
    3 * 8 * 9 + 2 * 8,  # 232
    8 * 25 + 8 + 8 * 16 + 16 + 16,  # 368
    16 * 16 * 9 + 2 * 16,  # 2336
    (16 * 9 + 9) + (16 * 9 + 9),  # 306
]


def _write_repo(root: Path, *, broken: bool = False) -> Path:
    (root / "models").mkdir(parents=True)
    (root / "models" / "__init__.py").write_text("")
    (root / "utils").mkdir()
    (root / "utils" / "__init__.py").write_text("")
    (root / "models" / "common.py").write_text(COMMON)
    (root / "models" / "yolo.py").write_text(YOLO)
    model = MODEL.replace("FancyBlock, [16]", "Broken, [16]") if broken else MODEL
    (root / "model.yaml").write_text(model)
    return root / "model.yaml"


@pytest.fixture
def marker(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "ran.txt"
    monkeypatch.setenv("FAKE_MARKER", str(path))
    return path


def _their_counts(repo: Path, cfg: Path, marker: Path) -> list[int]:
    """Per-layer parameters of the fake repository's own model, built on real CPU tensors in a fresh Python that
    imports only the fake code."""
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); from models.yolo import Model; "
            "m = Model(sys.argv[2]); print(json.dumps([sum(p.numel() for p in l.parameters()) for l in m.model]))")
    out = subprocess.run([sys.executable, "-c", code, str(repo), str(cfg)], capture_output=True, text=True,
                         check=True, env={"FAKE_MARKER": str(marker), "PATH": "/usr/bin:/bin"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_yolov5_style_repository_builds_with_its_own_code(tmp_path, marker):
    repo = tmp_path / "repo"
    cfg = _write_repo(repo)
    theirs = _their_counts(repo, cfg, tmp_path / "other-marker.txt")
    assert theirs == HAND
    report = archscope.profile(str(cfg), builder=f"yolov5:{repo}", imgsz=64)
    assert [layer.params for layer in report.layers] == HAND
    assert report.totals.params == sum(HAND) == 3242
    assert [layer.module for layer in report.layers] == ["Conv", "FancyBlock", "Conv", "Detect"]
    assert [layer.from_ for layer in report.layers] == [-1, -1, -1, (1, 2)]
    assert report.layers[1].output_shape == [1, 16, 32, 32]
    # the FLOPs of the layers follow from the shapes: FancyBlock at 32x32, depthwise 8*25 MACs and pointwise 8*16
    # MACs per output pixel, twice for FLOPs
    assert report.layers[1].mac_flops == 2 * 32 * 32 * (8 * 25 + 8 * 16)
    assert "imported" in marker.read_text()


def test_their_printing_stays_off_stdout_and_yolov7_9_read_the_same_layout(tmp_path, marker):
    repo = tmp_path / "repo"
    cfg = _write_repo(repo)
    for kind in ("yolov7", "yolov9"):
        result = runner.invoke(app, ["profile", str(cfg), "--builder", f"{kind}:{repo}", "--imgsz", "64", "-f",
                                     "json"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert [layer["params"] for layer in data["layers"]] == HAND


def test_nothing_of_their_code_runs_without_builder(tmp_path, marker):
    cfg = _write_repo(tmp_path / "repo")
    result = runner.invoke(app, ["profile", str(cfg), "--imgsz", "64"])
    assert result.exit_code == 2
    assert "FancyBlock" in result.output
    assert not marker.exists()


def test_a_failure_inside_their_code_names_their_file_and_line(tmp_path, marker):
    repo = tmp_path / "repo"
    cfg = _write_repo(repo, broken=True)
    line = COMMON.splitlines().index(next(x for x in COMMON.splitlines() if "BROKEN-LINE" in x)) + 1
    result = runner.invoke(app, ["profile", str(cfg), "--builder", f"yolov5:{repo}", "--imgsz", "64"])
    assert result.exit_code == 2
    message = result.output.strip().splitlines()[-1]
    assert f"{repo / 'models' / 'common.py'}:{line}:" in message
    assert "ValueError: Broken needs a bigger c2" in message
    assert "Traceback" not in result.output


def test_builder_paths_and_names_are_checked_in_one_line(tmp_path):
    cfg = _write_repo(tmp_path / "repo")
    for value, words in ((f"yolov5:{tmp_path}", "not a yolov5 repository"), ("yolov5", "needs the repository"),
                         ("darknet", "--builder must be"), (f"yolov5:{tmp_path / 'nope'}", "no such folder")):
        result = runner.invoke(app, ["profile", str(cfg), "--builder", value])
        assert result.exit_code == 2, value
        assert words in result.output and len(result.output.strip().splitlines()) == 1, result.output


def test_compare_sets_a_fork_model_beside_a_native_one(tmp_path, marker):
    repo = tmp_path / "repo"
    cfg = _write_repo(repo)
    native = tmp_path / "native.yaml"
    native.write_text("nc: 4\nbackbone:\n  - [-1, 1, Conv, [8, 3, 2]]\nhead: []\n")
    comparison = api.compare([str(native), str(cfg)], imgsz=64, builder=["native", f"yolov5:{repo}"])
    assert [r.totals.params for r in comparison.reports] == [3 * 8 * 9 + 2 * 8, sum(HAND)]
    with pytest.raises(ArchscopeError, match="once per model"):
        api.compare([str(native), str(cfg), str(cfg)], builder=["native", f"yolov5:{repo}"])


ULTRA_TASKS = '''\
import os
import yaml
import torch
from torch import nn

open(os.environ["FAKE_MARKER"], "a").write("fork\\n")


class Stem(nn.Module):  # the fork's own block
    def __init__(self, c1, c2):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, 3, 2, 1)

    def forward(self, x):
        return self.conv(x)


def yaml_model_load(path):
    with open(path) as f:
        d = yaml.safe_load(f)
    d["scale"] = ""
    d["yaml_file"] = str(path)
    return d


def guess_model_task(d):
    return "detect"


class DetectionModel(nn.Module):
    def __init__(self, cfg, ch=3, nc=None, verbose=True):
        super().__init__()
        layers, c = [], ch
        for i, (f, n, m, args) in enumerate(cfg["backbone"] + cfg["head"]):
            layer = Stem(c, args[0])
            layer.i, layer.f, layer.type = i, f, m
            layers.append(layer)
            c = args[0]
        self.model = nn.Sequential(*layers)
'''


def test_ultralytics_fork_path(tmp_path, marker):
    fork = tmp_path / "fork"
    (fork / "ultralytics" / "nn").mkdir(parents=True)
    (fork / "ultralytics" / "__init__.py").write_text("")
    (fork / "ultralytics" / "nn" / "__init__.py").write_text("")
    (fork / "ultralytics" / "nn" / "tasks.py").write_text(ULTRA_TASKS)
    cfg = tmp_path / "fork.yaml"
    cfg.write_text("nc: 2\nbackbone:\n  - [-1, 1, Stem, [8]]\n  - [-1, 1, Stem, [4]]\nhead: []\n")
    report = archscope.profile(str(cfg), builder=f"ultralytics:{fork}", imgsz=32)
    # Stem: a 3x3 conv with bias, c1*c2*9 + c2
    assert [layer.params for layer in report.layers] == [3 * 8 * 9 + 8, 8 * 4 * 9 + 4]
    assert report.layers[1].output_shape == [1, 4, 8, 8]
    assert "fork" in marker.read_text()
    assert "ultralytics" not in sys.modules or "fork" not in str(getattr(sys.modules["ultralytics"], "__file__", ""))


def test_check_and_bench_take_the_builder(tmp_path, marker):
    repo = tmp_path / "repo"
    cfg = _write_repo(repo)
    ok = runner.invoke(app, ["check", str(cfg), "--builder", f"yolov5:{repo}", "--imgsz", "64",
                             "--max-params", "3242"])
    assert ok.exit_code == 0, ok.output
    over = runner.invoke(app, ["check", str(cfg), "--builder", f"yolov5:{repo}", "--imgsz", "64",
                               "--max-params", "3241"])
    assert over.exit_code == 1, over.output
    timed = runner.invoke(app, ["bench", str(cfg), "--builder", f"yolov5:{repo}", "--imgsz", "64", "--runs", "1",
                                "--warmup", "0", "--device", "cpu", "-f", "json"])
    assert timed.exit_code == 0, timed.output
    assert json.loads(timed.stdout)["model"]["params"] == sum(HAND)


def test_missing_ultralytics_is_one_line(tmp_path, monkeypatch):
    cfg = _write_repo(tmp_path / "repo")
    monkeypatch.setattr("archscope.build.external.their_tree", lambda builder: "")  # as where none is installed
    result = runner.invoke(app, ["profile", str(cfg), "--builder", "ultralytics"])
    assert result.exit_code == 2
    assert result.output.strip() == ("archscope: error: --builder ultralytics: no ultralytics package is installed "
                                     "(pip install ultralytics, or give --builder ultralytics:/path/to/fork)")

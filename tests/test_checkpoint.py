"""A trained checkpoint (best.pt): its stored model YAML is read by a restricted unpickler that runs nothing from the
file. The checkpoints are made here with torch.save of an object graph laid out as Ultralytics saves one (a model
object with ``.yaml``, half-precision weights, ``train_args``), one malicious pickle, and files that are no
checkpoint."""

from __future__ import annotations

import os
import pickle
import zipfile

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import archscope
from archscope.cli.app import app
from archscope.errors import ArchscopeError
from archscope.spec.checkpoint import CheckpointRefused, read_checkpoint

runner = CliRunner()

YAML = {
    "nc": 80,
    "scales": {"n": [0.5, 0.25, 1024], "s": [0.5, 0.5, 1024]},
    "backbone": [[-1, 1, "Conv", [64, 3, 2]], [-1, 1, "Conv", [128, 3, 2]]],
    "head": [],
}
# Ultralytics' Conv: a bias-free k x k conv (c1*c2*k*k) and a BatchNorm (2*c2). At scale n (width 0.25) the rows are
# Conv(3, 16) and Conv(16, 32); at scale s (width 0.5) Conv(3, 32) and Conv(32, 64).
N_PARAMS = [3 * 16 * 9 + 2 * 16, 16 * 32 * 9 + 2 * 32]  # [464, 4672]
S_PARAMS = [3 * 32 * 9 + 2 * 32, 32 * 64 * 9 + 2 * 64]  # [928, 18560]


class FakeDetectionModel(nn.Module):
    """Laid out as Ultralytics' DetectionModel is pickled: a module with ``yaml``, ``names`` and layers."""

    def __init__(self, yaml: dict, nc: int):
        super().__init__()
        self.yaml = {**yaml, "nc": nc, "scale": "n", "yaml_file": "yolo-fake-n.yaml", "channels": 3}
        self.model = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16))
        self.names = {i: f"class{i}" for i in range(nc)}
        self.stride = torch.tensor([32.0])


def _save(path, obj) -> str:
    torch.save(obj, path)
    return str(path)


def _ultralytics_like(tmp_path, nc=3) -> str:
    ema = FakeDetectionModel(YAML, nc).half()
    return _save(tmp_path / "best.pt", {
        "epoch": 9, "best_fitness": 0.5, "model": None, "ema": ema, "updates": 10, "optimizer": None,
        "train_args": {"imgsz": 320, "epochs": 10, "data": "coco8.yaml", "model": "yolo-fake-n.yaml"},
        "date": "2026-12-01T00:00:00", "version": "8.4.190", "license": "AGPL-3.0"})


def test_checkpoint_yaml_is_read_and_profiled_natively(tmp_path):
    path = _ultralytics_like(tmp_path)
    ckpt = read_checkpoint(path)
    assert ckpt.yaml["nc"] == 3 and ckpt.yaml["scale"] == "n"
    assert ckpt.train_args == {"imgsz": 320, "epochs": 10, "data": "coco8.yaml", "model": "yolo-fake-n.yaml"}
    assert any(name.endswith("FakeDetectionModel") for name in ckpt.classes)  # named, never imported
    report = archscope.profile(path, imgsz=64)
    assert report.model.nc == 3 and report.model.scale == "n"
    assert [layer.params for layer in report.layers] == N_PARAMS
    assert [layer.params for layer in archscope.profile(path, scale="s", imgsz=64).layers] == S_PARAMS
    result = runner.invoke(app, ["profile", path, "--imgsz", "64", "-f", "json"])
    assert result.exit_code == 0, result.output


def test_model_key_is_read_as_well(tmp_path):
    path = _save(tmp_path / "last.pt", {"model": FakeDetectionModel(YAML, 5), "ema": None})
    assert read_checkpoint(path).yaml["nc"] == 5


def test_an_empty_scale_is_the_first_scale_as_ultralytics_reads_it(tmp_path):
    model = FakeDetectionModel(YAML, 2)
    model.yaml["scale"] = ""  # guess_model_scale("my-net.yaml") gives "", and Ultralytics then builds scale n
    path = _save(tmp_path / "my-net.pt", {"model": model})
    assert [layer.params for layer in archscope.profile(path, imgsz=64).layers] == N_PARAMS


class Evil:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class EvalEvil:
    def __reduce__(self):
        return eval, ("__import__('os').getcwd()",)


@pytest.mark.parametrize("kind", ["system", "eval"])
def test_malicious_pickle_is_refused_without_running(tmp_path, kind):
    marker = tmp_path / "pwned"
    payload = Evil(str(marker)) if kind == "system" else EvalEvil()
    path = _save(tmp_path / "evil.pt", {"model": FakeDetectionModel(YAML, 3), "extra": payload})
    with pytest.raises(CheckpointRefused, match="refused: the checkpoint's pickle asks for"):
        read_checkpoint(path)
    result = runner.invoke(app, ["profile", path])
    assert result.exit_code == 2
    assert ("posix.system" in result.output or "os.system" in result.output) if kind == "system" else (
        "builtins.eval" in result.output)
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not marker.exists()


def test_not_a_checkpoint(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    other_zip = tmp_path / "other.pt"
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("readme.txt", "no pickle here")
    plain = _save(tmp_path / "weights.pt", {"conv.weight": torch.zeros(2, 2)})  # a state dict: no model YAML
    no_yaml = _save(tmp_path / "module.pt", {"model": nn.Linear(2, 2)})
    legacy = tmp_path / "legacy.pt"
    legacy.write_bytes(pickle.dumps({"model": 1}))
    for path, words in ((text, "not a torch zip archive"), (other_zip, "no <name>/data.pkl"),
                        (plain, "holds no 'model' or 'ema'"), (no_yaml, "carries no 'yaml'"),
                        (legacy, "not a torch zip archive")):
        with pytest.raises(ArchscopeError, match=words):
            read_checkpoint(str(path))
        result = runner.invoke(app, ["profile", str(path)])
        assert result.exit_code == 2 and words.split()[0] in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1

"""Every scale of every official detect/segment/pose/obb/classify config: parameters equal Ultralytics' own.

Figures: tests/reference/ultralytics_params.py (Ultralytics 8.4.190 model.info and per-layer parameter sums; its
docstring gives the exact procedure), 152 (config, scale) pairs over v3, v5, v6, v8, v9, v10, 11 and 12, plus the
RT-DETR configs in RTDETR. YOLO26 (every scale, with module counts and shapes): tests/test_parity_yolo26.py.
"""

from __future__ import annotations

import pytest

from archscope.build.builder import BuildOptions, build_model
from archscope.errors import ArchscopeError
from archscope.spec.model_spec import load_spec
from reference.ultralytics_params import PARAMS, RTDETR

# The TorchVision block needs the optional torchvision package (archscope-yolo[torchvision]); without it the config must
# fail with one clear line. YOLO26 (and the same config's shapes and module count): tests/test_parity_yolo26.py.
NEEDS_TORCHVISION = {"11/yolo11-cls-resnet18.yaml"}
try:
    import torchvision  # noqa: F401

    HAVE_TORCHVISION = True
except Exception:  # noqa: BLE001 - missing, or built for another torch
    HAVE_TORCHVISION = False


def _check(cfg_dir, cfg, scale, ref):
    built = build_model(load_spec(cfg_dir / cfg), BuildOptions(scale=scale, imgsz=(640, 640)))
    assert [layer.module.removeprefix("nn.") for layer in built.layers] == ref["types"]
    assert [layer.params for layer in built.layers] == ref["per_layer"]
    assert built.params == ref["params"]


SUPPORTED = sorted((k for k in PARAMS if HAVE_TORCHVISION or k[0] not in NEEDS_TORCHVISION), key=str)


@pytest.mark.parametrize("key", SUPPORTED, ids=[f"{c}:{s}" for c, s in SUPPORTED])
def test_every_scale_matches_ultralytics(key, cfg_dir):
    _check(cfg_dir, *key, PARAMS[key])


def test_coverage_spans_every_family_and_task():
    families = {cfg.split("/")[0] for cfg, _ in SUPPORTED}
    assert families == {"v3", "v5", "v6", "v8", "v9", "v10", "11", "12"}
    assert len(SUPPORTED) >= 140


@pytest.mark.skipif(HAVE_TORCHVISION, reason="torchvision is installed: the config is checked above")
@pytest.mark.parametrize("cfg", sorted(NEEDS_TORCHVISION))
def test_torchvision_config_without_torchvision_fails_clearly(cfg, cfg_dir):
    with pytest.raises(ArchscopeError,
                       match=r"TorchVision needs the torchvision package.*archscope-yolo\[torchvision\]"):
        build_model(load_spec(cfg_dir / cfg), BuildOptions())


RT = sorted(RTDETR, key=str)


@pytest.mark.parametrize("key", RT, ids=[f"{c}:{s}" for c, s in RT])
def test_rtdetr_matches_ultralytics_or_fails_clearly(key, cfg_dir):
    from archscope.build.catalog import default_registry

    try:
        default_registry().lookup("RTDETRDecoder")
    except ArchscopeError:
        with pytest.raises(ArchscopeError, match="RTDETRDecoder"):
            build_model(load_spec(cfg_dir / key[0]), BuildOptions(scale=key[1]))
        return
    _check(cfg_dir, *key, RTDETR[key])

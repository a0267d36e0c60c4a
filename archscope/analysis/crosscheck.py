"""Cross-check archscope's counts against two third-party counters, fvcore and thop (optional extras).

Both run a *real* forward on CPU (``--counter fvcore`` / ``--counter thop``), so give them a model built on ``cpu``
with real weights, and an input tensor. Each reports multiply-adds (MACs); archscope counts a multiply-add as 2
FLOPs, so the figure to set beside archscope's ``mac_flops`` is ``2 x`` theirs (``flops_x2``).

Why they differ from archscope, verified with torch 2.13.0, fvcore 0.1.5.post20221221 and thop 0.1.1.post2209072238 on
small models with a biased conv, BatchNorm, LayerNorm, SiLU, nn.Linear and ``F.linear``, an explicit
``torch.matmul``, ``torch.einsum``, ``softmax``, SDPA and a nearest upsample:

* fvcore (``FlopCountAnalysis``, TorchScript trace): one "flop" per multiply-add for conv, linear (``F.linear`` too),
  matmul, bmm and einsum, so x2 matches archscope's ``mac_flops`` there, explicit matmuls included; conv and linear
  bias adds are not counted; it also charges norms (BatchNorm 2 per element in eval, LayerNorm 5) and upsample (1 per
  output element), which archscope files under ``other_flops``; activations, adds and softmax are skipped (listed as
  unsupported ops), and so is ``scaled_dot_product_attention`` (fvcore 0.1.5 has no handle for it): attention done
  through SDPA is missing.
* thop (``thop.profile``, forward hooks on leaf modules): MACs of nn.Conv/nn.Linear (bias not counted), plus norm
  charges (BatchNorm and LayerNorm 4 per element with affine) and upsample (1 per output element); blind to anything
  called functionally -- ``torch.matmul``, ``@``, ``einsum``, ``F.linear``, SDPA -- so attention matmuls are missing;
  activations count 0.

(Also observed: ``torch.utils.flop_counter.FlopCounterMode`` counts **0** for SDPA on real CPU tensors in torch 2.13,
whose CPU kernel ``_scaled_dot_product_flash_attention_for_cpu`` has no FLOP formula, while on ``meta`` SDPA
decomposes into ``bmm`` and is counted.)
"""

from __future__ import annotations

import copy
import importlib
import logging
from dataclasses import dataclass
from typing import Any

from archscope.errors import ArchscopeError

COUNTERS = ("fvcore", "thop")

EXPLANATIONS = {
    "fvcore": (
        "fvcore counts one flop per multiply-add (x2 = archscope mac_flops for conv/linear/matmul/einsum), skips bias "
        "adds, activations, adds, softmax and SDPA (reported as unsupported ops), but charges norms and upsample"
    ),
    "thop": (
        "thop counts MACs through leaf-module hooks only: conv/linear (no bias) plus norm and upsample charges; "
        "blind to functional matmul/@/einsum/F.linear/SDPA (attention) and counts activations as 0"
    ),
}


@dataclass(frozen=True)
class CrossCheck:
    counter: str  # "fvcore" or "thop"
    version: str
    macs: float  # the package's own figure: multiply-adds (fvcore calls them "flops")
    flops_x2: float  # macs x 2, on archscope's scale (a multiply-add = 2 FLOPs)
    explanation: str  # one line: why it differs from archscope
    unsupported_ops: dict[str, int]  # ops the counter skipped (fvcore), empty for thop

    def to_dict(self) -> dict[str, Any]:
        return {
            "counter": self.counter,
            "version": self.version,
            "macs": self.macs,
            "flops_x2": self.flops_x2,
            "explanation": self.explanation,
            "unsupported_ops": dict(self.unsupported_ops),
        }


def _require(counter: str, module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ArchscopeError(
            f"--counter {counter} needs the optional package: pip install 'archscope-yolo[{counter}]'"
        ) from None


def _version(dist: str) -> str:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:  # noqa: BLE001 - a version string is nice to have, never required
        return "unknown"


def _check_real(model: Any, inputs: tuple[Any, ...]) -> None:
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if t.device.type != "cpu":
            raise ArchscopeError(
                f"cross-checking needs a model on cpu with real weights; '{name}' is on {t.device.type}"
            )
    for i, x in enumerate(inputs):
        device = getattr(getattr(x, "device", None), "type", "cpu")
        if device != "cpu":
            raise ArchscopeError(f"cross-checking needs cpu inputs; input {i} is on {device}")


def _as_tuple(inputs: Any) -> tuple[Any, ...]:
    return tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)


def fvcore_count(model: Any, inputs: Any) -> CrossCheck:
    """fvcore's ``FlopCountAnalysis(model, inputs).total()`` (multiply-adds) and its unsupported ops."""
    nn_mod = _require("fvcore", "fvcore.nn")
    import torch

    args = _as_tuple(inputs)
    _check_real(model, args)
    was_training = model.training
    model.eval()
    # fvcore logs a warning per unsupported op / uncalled module; we collect them instead
    fv_logger = logging.getLogger("fvcore")
    old_level = fv_logger.level
    fv_logger.setLevel(logging.ERROR)
    try:
        with torch.no_grad():
            analysis = nn_mod.FlopCountAnalysis(model, args)
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            total = float(analysis.total())
            unsupported = {str(k): int(v) for k, v in analysis.unsupported_ops().items()}
    except ArchscopeError:
        raise
    except Exception as e:  # noqa: BLE001 - tracing failures are the model's, report them as input problems
        raise ArchscopeError(f"fvcore could not count this model: {type(e).__name__}: {e}") from None
    finally:
        fv_logger.setLevel(old_level)
        model.train(was_training)
    return CrossCheck("fvcore", _version("fvcore"), total, 2.0 * total, EXPLANATIONS["fvcore"], unsupported)


def thop_count(model: Any, inputs: Any) -> CrossCheck:
    """``thop.profile`` MACs. Runs on a deep copy: thop leaves ``total_ops``/``total_params`` buffers on modules."""
    thop = _require("thop", "thop")
    import torch

    args = _as_tuple(inputs)
    _check_real(model, args)
    work = copy.deepcopy(model).eval()
    try:
        with torch.no_grad():
            macs, _params = thop.profile(work, inputs=args, verbose=False)
    except Exception as e:  # noqa: BLE001
        raise ArchscopeError(f"thop could not count this model: {type(e).__name__}: {e}") from None
    # PyPI's thop and ultralytics-thop both install the module "thop" (DESIGN.md, "Two packages, one module name")
    version = str(getattr(thop, "__version__", None) or _version("thop"))
    return CrossCheck("thop", version, float(macs), 2.0 * float(macs), EXPLANATIONS["thop"], {})


def crosscheck(model: Any, inputs: Any, counter: str) -> CrossCheck:
    """Run one third-party counter (``"fvcore"`` or ``"thop"``) on a real CPU model and input."""
    key = counter.strip().lower()
    if key == "fvcore":
        return fvcore_count(model, inputs)
    if key == "thop":
        return thop_count(model, inputs)
    raise ArchscopeError(f"unknown counter '{counter}': choose from {', '.join(COUNTERS)}")

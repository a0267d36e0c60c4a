"""The measured activation peak of one real, untimed forward, to put beside the analysis' estimate
(``peak_activation_bytes``, :mod:`archscope.analysis.liveness`).

Each figure is what the forward added on top of the weights, plus the input (the estimate counts the input too):

* CUDA: the caching allocator's own peak, ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``,
  less what was allocated before the forward (weights, the input), plus the input. It includes what kernels allocate
  for themselves (cuDNN workspaces), which the estimate does not.
* MPS: torch has no peak counter for MPS, so ``torch.mps.current_allocated_memory`` (the allocator's count) is read
  after every ATen operator of the forward and the largest reading is kept, less the reading before it.
* CPU: live tensor storages, each from the operator that makes it until a ``weakref.finalize`` says the program let
  it go (the bookkeeping of :class:`archscope.analysis.liveness.LiveStorages`, here on real tensors; weights and
  views of them are not counted).

The devices' modules are parameters (``cuda=``, ``mps=``) so the tests can give fakes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from archscope.analysis.liveness import LiveStorages
from archscope.analysis.precision import Precision


@dataclass(frozen=True)
class PeakMeasure:
    bytes: int
    method: str  # how it was measured, in words


class _Tensors(TorchDispatchMode):
    """Calls ``on_op(outputs)`` after every ATen operator with the tensors it returned."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:  # as archscope.analysis.mode: keep torch._dynamo out
        return False

    def __init__(self, on_op: Callable[[list[torch.Tensor]], object]):
        super().__init__()
        self.on_op = on_op

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if not any(r.alias_info is not None for r in func._schema.returns):  # views, in-place: nothing new
            self.on_op([t for t in (out if isinstance(out, (tuple, list)) else [out]) if isinstance(t, torch.Tensor)])
        return out


def live_storage_peak(forward: Callable[[], Any], x: torch.Tensor, model: torch.nn.Module) -> PeakMeasure:
    """The most bytes of live tensor storages during ``forward()`` (the input ``x`` included, weights not)."""
    live = LiveStorages(Precision(None))  # each real tensor at its own element size
    live.add_parameters([*model.parameters(), *model.buffers()])
    live.add_input(x)
    with _Tensors(lambda outs: live.created(outs, "", -1, "")):
        forward()
    return PeakMeasure(live.peak.bytes, "a live-storage tracker")


def cuda_peak(forward: Callable[[], Any], x: torch.Tensor, device: str, cuda: Any = None) -> PeakMeasure:
    """The CUDA caching allocator's peak during ``forward()``, less what was there before, plus the input."""
    cuda = cuda if cuda is not None else torch.cuda
    dev = torch.device(device)
    cuda.synchronize(dev)
    before = cuda.memory_allocated(dev)
    cuda.reset_peak_memory_stats(dev)
    forward()
    cuda.synchronize(dev)
    peak = cuda.max_memory_allocated(dev) - before + x.numel() * x.element_size()
    return PeakMeasure(int(peak), "torch.cuda.max_memory_allocated")


def mps_peak(forward: Callable[[], Any], x: torch.Tensor, mps: Any = None) -> PeakMeasure | None:
    """The largest ``torch.mps.current_allocated_memory`` reading after each operator of ``forward()``, less the
    reading before it, plus the input; None on a torch without that counter."""
    mps = mps if mps is not None else torch.mps
    current = getattr(mps, "current_allocated_memory", None)
    if current is None:
        return None
    mps.synchronize()
    before = current()
    readings = [before]
    with _Tensors(lambda outs: readings.append(current())):
        forward()
    mps.synchronize()
    readings.append(current())
    peak = max(readings) - before + x.numel() * x.element_size()
    return PeakMeasure(int(peak), "torch.mps.current_allocated_memory at each op")


def measure_peak(device: str, forward: Callable[[], Any], x: torch.Tensor, model: torch.nn.Module) -> \
        PeakMeasure | None:
    """The peak of one forward on ``device`` ("cpu", "cuda:N", "mps") by that device's method."""
    if device.startswith("cuda"):
        return cuda_peak(forward, x, device)
    if device == "mps":
        return mps_peak(forward, x)
    return live_storage_peak(forward, x, model)

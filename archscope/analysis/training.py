"""The memory and FLOPs of one training step, on ``meta``: ``analyze_training(built, optimizer="adamw")``.

Nothing here models autograd by hand. The step is torch's own, run on meta tensors (no value is computed, no byte
allocated): the model in train mode with ``requires_grad`` parameters, a forward, a loss, ``loss.backward()``,
the real ``torch.optim`` optimizer's ``step()`` and ``zero_grad(set_to_none=True)``. Three things watch it:

* a live-storage tracker (a ``TorchDispatchMode``): every tensor an operator returns has its untyped storage
  counted once, from the op that creates it until torch frees it (a ``weakref.finalize`` on the storage; meta
  storages are freed exactly when real ones would be). Parameters, buffers and the input image are live from the
  start. The peak and the phase that holds it (forward, backward, optimizer) are read from the **second** step,
  the steady state: the optimizer state made in the first step is then already there. The first step's peak is
  kept too (``first_step_peak_bytes``).
* ``torch.autograd.graph.saved_tensors_hooks``: the tensors autograd saves for backward, each distinct storage
  once, charged to the YAML layer whose forward saved it (parameters and buffers excluded: they are weights).
* archscope's counting mode (:mod:`archscope.analysis.mode`) over the forward and over ``backward()``: backward
  FLOPs at the ATen level (``convolution_backward``, ``mm``, the ``*_backward`` elementwise kernels), each op
  charged to the layer of the autograd node that runs it.

Assumptions, said in the report too: the loss is the sum of every tensor the head returns in train mode (a real
detection loss adds its own, model-external tensors); ``sgd`` is SGD with momentum (1 state tensor per
parameter), ``adam``/``adamw`` keep 2 (``exp_avg``, ``exp_avg_sq``); gradients are fp32 like the master weights.
``amp=True`` models ``torch.autocast`` at fp16 (meta tensors have no autocast of their own, so a
``TorchFunctionMode`` applies CUDA autocast's rules: convolutions, linear and matrix products run in fp16 on fp16
casts of their inputs and weights, softmax/norms/losses in fp32, everything else in the widest input type), with
fp32 master weights, fp32 gradients and fp32 optimizer state.
"""

from __future__ import annotations

import contextlib
import copy
import weakref
from dataclasses import dataclass, field
from typing import Any

from archscope.build.builder import BuiltModel

__all__ = ["OPTIMIZERS", "STATES_PER_PARAM", "TrainingCosts", "LayerTraining", "analyze_training"]

OPTIMIZERS = ("sgd", "adam", "adamw")
#: Optimizer state tensors per parameter tensor (each the parameter's size): SGD with momentum keeps the momentum
#: buffer; Adam and AdamW the first and second moments. (Their scalar ``step`` counters are counted where they live.)
STATES_PER_PARAM = {"sgd": 1, "adam": 2, "adamw": 2}
PHASES = ("forward", "backward", "optimizer")


@dataclass(slots=True)
class LayerTraining:
    index: int
    saved_bytes: int = 0  # distinct storages autograd saved for backward in this layer's forward
    forward_flops: int = 0
    backward_flops: int = 0
    backward_mac_flops: int = 0


@dataclass(slots=True)
class TrainingCosts:
    optimizer: str
    amp: bool
    batch: int
    param_bytes: int
    buffer_bytes: int
    grad_bytes: int
    optimizer_state_bytes: int
    saved_bytes: int  # all layers plus the loss
    peak_bytes: int  # steady state (second step): weights, optimizer state, activations, gradients, input
    peak_phase: str  # "forward", "backward" or "optimizer"
    phase_peaks: dict[str, int]  # the second step's peak in each phase
    first_step_peak_bytes: int
    first_step_peak_phase: str
    forward_flops: int
    forward_mac_flops: int
    backward_flops: int
    backward_mac_flops: int
    layers: list[LayerTraining] = field(default_factory=list)
    outside_saved_bytes: int = 0  # saved by the loss, outside every layer
    uncounted_backward_ops: dict[str, int] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ live storages


class _Live:
    """Bytes of live storages, each counted once from creation until torch frees it; peaks per phase."""

    def __init__(self) -> None:
        self.sizes: dict[int, int] = {}
        self.live = 0
        self.phase = "forward"
        self.peaks: dict[str, int] = {}

    def add(self, t: Any) -> None:
        import torch

        if not isinstance(t, torch.Tensor):
            return
        storage = t.untyped_storage()
        key = storage._cdata
        if key in self.sizes:
            return
        size = storage.nbytes()
        self.sizes[key] = size
        self.live += size
        weakref.finalize(storage, self._free, key)
        self.note()

    def note(self) -> None:
        if self.live > self.peaks.get(self.phase, -1):
            self.peaks[self.phase] = self.live

    def _free(self, key: int) -> None:
        self.live -= self.sizes.pop(key, 0)

    def reset_peaks(self) -> None:
        self.peaks = {}


def _storage_bytes(tensors) -> int:
    seen: dict[int, int] = {}
    for t in tensors:
        if t is None:
            continue
        s = t.untyped_storage()
        seen[s._cdata] = s.nbytes()
    return sum(seen.values())


# ------------------------------------------------------------------------------------------ autocast on meta


def _autocast_mode():
    """CUDA autocast's fp16 rules as a ``TorchFunctionMode`` (above autograd, as autocast is, so the casts are
    recorded by autograd and the fp16 copies are what the matrix ops save)."""
    import torch
    from torch.overrides import TorchFunctionMode

    F = torch.nn.functional
    low = {F.conv1d, F.conv2d, F.conv3d, F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d, F.linear,
           torch.conv1d, torch.conv2d, torch.conv3d, torch.conv_transpose1d, torch.conv_transpose2d,
           torch.conv_transpose3d, torch.matmul, torch.mm, torch.bmm, torch.baddbmm, torch.addmm, torch.einsum,
           F.scaled_dot_product_attention, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.Tensor.mm,
           torch.Tensor.bmm, torch._C._nn.linear}
    full = {F.softmax, F.log_softmax, torch.softmax, torch.log_softmax, torch.Tensor.softmax,
            torch.Tensor.log_softmax, F.layer_norm, F.group_norm, torch.layer_norm, torch.group_norm,
            torch.Tensor.sum, torch.sum, torch.Tensor.exp, torch.exp, torch.Tensor.norm, torch.norm}

    def cast(value, dtype):
        if isinstance(value, torch.Tensor) and value.is_floating_point() and value.dtype != dtype:
            return value.to(dtype)
        if isinstance(value, (list, tuple)):
            return type(value)(cast(v, dtype) for v in value)
        return value

    class MetaAutocast(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func in low:
                args, kwargs = cast(args, torch.float16), {k: cast(v, torch.float16) for k, v in kwargs.items()}
            elif func in full:
                args = cast(args, torch.float32)
            return func(*args, **kwargs)

    return MetaAutocast()


# ------------------------------------------------------------------------------------------ the step


def analyze_training(built: BuiltModel, *, optimizer: str = "adamw", amp: bool = False) -> TrainingCosts:
    """Memory and FLOPs of a training step of ``built`` at its image size and batch (see the module doc)."""
    import torch

    from archscope.analysis.mode import CountingMode, ModuleTracker, Recorder, tensors_in
    from archscope.build.meta import MetaSdpaAsCpu
    from archscope.errors import ArchscopeError

    if optimizer not in OPTIMIZERS:
        raise ArchscopeError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    model = copy.deepcopy(built.model)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]  # frozen ones (DFL's fixed conv) stay frozen
    opt = _optimizer(optimizer, params)
    h, w = built.imgsz
    x = torch.empty((built.batch, built.ch, h, w), device="meta")

    live = _Live()
    weights = {t.untyped_storage()._cdata for t in [*model.parameters(), *model.buffers()]}
    for t in [*model.parameters(), *model.buffers(), x]:
        live.add(t)
    n = len(model.layers)
    layers = [LayerTraining(index=i) for i in range(n)]
    node_layer: dict[Any, int] = {}
    forward_rec, backward_rec = Recorder(4), Recorder(4)

    class StepMode(CountingMode):
        counting = True

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if live.phase == "backward" and self.counting:
                node = torch._C._current_autograd_node()
                backward_rec.layer = node_layer.get(node, -1) if node is not None else -1
            if live.phase == "optimizer":  # real kernels: the optimizer's CPU step counters must really count
                out = func(*args, **(kwargs or {}))
            else:
                self.recorder.enabled = self.counting
                out = super().__torch_dispatch__(func, types, args, kwargs)
            for t in tensors_in(out):
                live.add(t)
            live.note()
            return out

    saved: dict[int, int] = {}  # storage -> layer that saved it first
    saved_size: dict[int, int] = {}
    recorder_for_layer = forward_rec
    recording = [True]  # the first step's saved tensors only

    def pack(t):
        s = t.untyped_storage()
        key = s._cdata
        if recording[0] and key not in weights and key not in saved:
            saved[key] = recorder_for_layer.layer
            saved_size[key] = s.nbytes()
        return t

    def on_layer(i: int, out: Any) -> None:
        stack = [t.grad_fn for t in tensors_in(out) if t.grad_fn is not None]
        while stack:
            node = stack.pop()
            if node is None or node in node_layer:
                continue
            node_layer[node] = i
            stack.extend(nxt for nxt, _ in node.next_functions if nxt is not None)

    mode = StepMode(forward_rec, shape_only=True)
    tracker = ModuleTracker(model, forward_rec)
    autocast = _autocast_mode() if amp else contextlib.nullcontext()
    grad_bytes = 0
    try:
        with MetaSdpaAsCpu(), mode:
            for step in range(2):
                mode.counting = recording[0] = step == 0
                live.reset_peaks()
                live.phase = "forward"
                mode.recorder = forward_rec
                hooks = torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)
                with tracker, hooks, autocast:
                    out = model.run(x, on_layer=on_layer if step == 0 else None)
                    loss = sum(t.float().sum() for t in tensors_in(out) if t.is_floating_point() and t.requires_grad)
                del out
                if not isinstance(loss, torch.Tensor):
                    raise ArchscopeError("the model returns no tensor that depends on its parameters: nothing to "
                                         "train", file=built.spec.path)
                live.phase = "backward"
                mode.recorder = backward_rec
                loss.backward()
                del loss
                grad_bytes = _storage_bytes(p.grad for p in params)
                live.phase = "optimizer"
                opt.step()
                opt.zero_grad(set_to_none=True)
                if step == 0:
                    first_peaks = dict(live.peaks)
    except RuntimeError as exc:
        raise ArchscopeError(f"the training step does not run on meta ({' '.join(str(exc).split())[:200]})",
                             file=built.spec.path) from None
    state = [v for s in opt.state.values() for v in s.values() if isinstance(v, torch.Tensor)]
    state_bytes = _storage_bytes(state)
    steady = dict(live.peaks)
    peak_phase = max(PHASES, key=lambda ph: steady.get(ph, 0))
    first_phase = max(PHASES, key=lambda ph: first_peaks.get(ph, 0))

    outside = 0
    for key, layer in saved.items():
        if 0 <= layer < n:
            layers[layer].saved_bytes += saved_size[key]
        else:
            outside += saved_size[key]
    for op in forward_rec.ops:
        if 0 <= op.layer < n:
            layers[op.layer].forward_flops += op.flops
    for op in backward_rec.ops:
        if 0 <= op.layer < n:
            layers[op.layer].backward_flops += op.flops
            layers[op.layer].backward_mac_flops += op.mac_flops
    return TrainingCosts(
        optimizer=optimizer, amp=amp, batch=built.batch,
        param_bytes=_storage_bytes(model.parameters()), buffer_bytes=_storage_bytes(model.buffers()),
        grad_bytes=grad_bytes, optimizer_state_bytes=state_bytes,
        saved_bytes=sum(saved_size.values()), outside_saved_bytes=outside,
        peak_bytes=steady[peak_phase], peak_phase=peak_phase, phase_peaks={ph: steady.get(ph, 0) for ph in PHASES},
        first_step_peak_bytes=first_peaks[first_phase], first_step_peak_phase=first_phase,
        forward_flops=sum(op.flops for op in forward_rec.ops),
        forward_mac_flops=sum(op.mac_flops for op in forward_rec.ops),
        backward_flops=sum(op.flops for op in backward_rec.ops),
        backward_mac_flops=sum(op.mac_flops for op in backward_rec.ops),
        layers=layers, uncounted_backward_ops=dict(backward_rec.uncounted),
    )


def _optimizer(name: str, params):
    import torch

    if name == "sgd":
        return torch.optim.SGD(params, lr=0.01, momentum=0.9)
    if name == "adam":
        return torch.optim.Adam(params, lr=1e-3)
    return torch.optim.AdamW(params, lr=1e-3)

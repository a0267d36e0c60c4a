"""profile --train: a training step on meta, checked against REAL CPU training steps of small models.

The references here are independent of archscope's engine: a live-storage tracker written in this file (a
TorchDispatchMode that holds a weakref on the untyped storage of every tensor an operator returns, parameters,
buffers and the input counted from the start) over two real AdamW/SGD steps on CPU tensors, the steady-state peak
read from the second; ``torch.utils.flop_counter.FlopCounterMode`` over the real backward; and hand-derived figures
for one depthwise convolution.
"""

from __future__ import annotations

import contextlib
import copy
import weakref
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from archscope.analysis.mode import CountingMode, Recorder, tensors_in
from archscope.analysis.training import analyze_training
from archscope.build.builder import BuildOptions, build_model
from archscope.build.materialize import materialize
from archscope.spec.model_spec import load_spec

SAMPLE = str(Path(__file__).resolve().parents[1] / "sample_configs" / "tiny-detector.yaml")

# Hand-written small conv nets. PLAIN has no grouped convolution; DEPTHWISE has two (DWConv: groups = channels).
PLAIN = {
    "nc": 10,
    "backbone": [[-1, 1, "Conv", [16, 3, 2]], [-1, 1, "Conv", [32, 3, 2]], [-1, 1, "C2f", [32, True]],
                 [-1, 1, "SPPF", [32, 5]], [-1, 1, "nn.Upsample", [None, 2, "nearest"]], [[-1, 0], 1, "Concat", [1]],
                 [-1, 1, "Conv", [32, 3, 2]]],
    "head": [[-1, 1, "Classify", [10]]],
}
DEPTHWISE = {
    "nc": 10,
    "backbone": [[-1, 1, "Conv", [16, 3, 2]], [-1, 1, "DWConv", [16, 3, 1]], [-1, 1, "Conv", [32, 1, 1]],
                 [-1, 1, "DWConv", [32, 3, 2]], [-1, 1, "Conv", [32, 1, 1]]],
    "head": [[-1, 1, "Classify", [10]]],
}


def built_of(source, imgsz: int, batch: int = 2, scale: str | None = None):
    return build_model(load_spec(source), BuildOptions(scale=scale, imgsz=(imgsz, imgsz), batch=batch))


# ------------------------------------------------------------------------------------ the reference


class LiveStorages(TorchDispatchMode):
    """Bytes of live storages on real tensors, each counted once from the op that returns it until it is freed."""

    def __init__(self):
        super().__init__()
        self.sizes: dict[int, int] = {}
        self.live = 0
        self.peak = 0

    def add(self, t):
        storage = t.untyped_storage()
        key = storage._cdata
        if key in self.sizes:
            return
        self.sizes[key] = storage.nbytes()
        self.live += storage.nbytes()
        weakref.finalize(storage, self._free, key)
        self.peak = max(self.peak, self.live)

    def _free(self, key):
        self.live -= self.sizes.pop(key, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tensors_in(out):
            self.add(t)
        return out


def real_training(built, optimizer: str = "adamw", amp: bool = False) -> dict:
    """Two real CPU training steps: the second step's peak, gradient and optimizer-state bytes, the saved
    activations of the first step, and FlopCounterMode's forward and backward FLOPs."""
    model = materialize(replace(built, model=copy.deepcopy(built.model)), "cpu")
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = (torch.optim.SGD(params, lr=0.01, momentum=0.9) if optimizer == "sgd"
           else torch.optim.AdamW(params, lr=1e-3))
    x = torch.rand(built.batch, built.ch, *built.imgsz, generator=torch.Generator().manual_seed(0))
    tracker = LiveStorages()
    for t in [*model.parameters(), *model.buffers(), x]:
        tracker.add(t)
    weights = {t.untyped_storage()._cdata for t in [*model.parameters(), *model.buffers()]}
    saved: dict[int, int] = {}

    def pack(t):
        s = t.untyped_storage()
        if s._cdata not in weights:
            saved[s._cdata] = s.nbytes()
        return t

    out = {}
    for step in range(2):
        tracker.peak = tracker.live
        # FlopCounterMode in the first step only: it runs decompositions (silu_backward as sigmoid, fill_, sub_,
        # mul ...) whose temporaries a plain step does not make, so the peak is read from the second step alone
        forward_flops, backward_flops = (FlopCounterMode(display=False), FlopCounterMode(display=False)) \
            if step == 0 else (contextlib.nullcontext(), contextlib.nullcontext())
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp)
        with tracker:
            with forward_flops, autocast, torch.autograd.graph.saved_tensors_hooks(pack if step == 0 else
                                                                                  (lambda t: t), lambda t: t):
                y = model.run(x)
                loss = sum(t.float().sum() for t in tensors_in(y) if t.is_floating_point() and t.requires_grad)
            del y
            with backward_flops:
                loss.backward()
            del loss
            grads = sum(p.grad.untyped_storage().nbytes() for p in params)
            opt.step()
            opt.zero_grad(set_to_none=True)
        if isinstance(forward_flops, FlopCounterMode) and isinstance(backward_flops, FlopCounterMode):
            out.update(saved=sum(saved.values()), forward_flops=forward_flops.get_total_flops(),
                       backward_flops=backward_flops.get_total_flops())
    state = {v.untyped_storage()._cdata: v.untyped_storage().nbytes()
             for s in opt.state.values() for v in s.values() if isinstance(v, torch.Tensor)}
    out.update(peak=tracker.peak, grads=grads, state=sum(state.values()))
    return out


def grouped_weight_grad_excess(built) -> int:
    """Hand-derived: what FlopCounterMode (torch 2.13-2.14) counts too much for the weight gradients of grouped
    convolutions, (groups - 1) x 2*N*Cout*Hout*Wout*(Cin/groups)*kh*kw each, from the real model's conv shapes."""
    model = materialize(replace(built, model=copy.deepcopy(built.model)), "cpu")
    excess = []

    def hook(conv, args, output):
        if conv.groups > 1:
            n, c_out, h, w = output.shape
            excess.append((conv.groups - 1) * 2 * n * c_out * h * w * conv.weight[0].numel())

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        model.run(torch.rand(built.batch, built.ch, *built.imgsz))
    for h in handles:
        h.remove()
    return sum(excess)


# ------------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("source, imgsz, optimizer", [
    (PLAIN, 128, "adamw"), (DEPTHWISE, 160, "sgd"), (PLAIN, 160, "sgd"),
])
def test_the_training_step_matches_a_real_cpu_step(source, imgsz, optimizer):
    built = built_of(source, imgsz)
    est = analyze_training(built, optimizer=optimizer)
    real = real_training(built, optimizer)
    assert abs(est.peak_bytes - real["peak"]) <= 0.15 * real["peak"]
    assert est.grad_bytes == real["grads"]
    assert est.optimizer_state_bytes == real["state"]
    assert est.saved_bytes == real["saved"]
    assert est.peak_phase in ("forward", "backward", "optimizer")
    assert sum(layer.saved_bytes for layer in est.layers) + est.outside_saved_bytes == est.saved_bytes
    states = 2 if optimizer == "adamw" else 1
    assert est.optimizer_state_bytes >= states * est.grad_bytes  # plus AdamW's scalar step counters


def test_a_nano_yaml_at_128_px_matches_a_real_step():
    built = built_of(SAMPLE, 128, scale="n")
    est = analyze_training(built, optimizer="adamw")
    real = real_training(built, "adamw")
    assert abs(est.peak_bytes - real["peak"]) <= 0.15 * real["peak"]
    assert est.saved_bytes == real["saved"]
    # the head's convolutions are not grouped here: backward multiply-adds agree with FlopCounterMode exactly
    assert est.backward_mac_flops == real["backward_flops"] - grouped_weight_grad_excess(built)


def test_amp_matches_a_real_autocast_step():
    """fp16 autocast on meta against CPU bf16 autocast: both 2-byte types, the same casts of conv/matmul inputs."""
    built = built_of(PLAIN, 128)
    est = analyze_training(built, optimizer="adamw", amp=True)
    real = real_training(built, "adamw", amp=True)
    assert abs(est.peak_bytes - real["peak"]) <= 0.15 * real["peak"]
    assert est.peak_bytes < analyze_training(built, optimizer="adamw").peak_bytes


def test_backward_flops_equal_flopcountermode_without_grouped_convs():
    built = built_of(PLAIN, 128)
    est = analyze_training(built)
    real = real_training(built)
    assert est.forward_mac_flops == real["forward_flops"]
    assert est.backward_mac_flops == real["backward_flops"]
    assert grouped_weight_grad_excess(built) == 0


def test_backward_flops_differ_from_flopcountermode_exactly_by_its_groups_bug():
    built = built_of(DEPTHWISE, 128)
    est = analyze_training(built)
    real = real_training(built)
    excess = grouped_weight_grad_excess(built)
    assert excess > 0
    assert est.backward_mac_flops == real["backward_flops"] - excess


def test_one_depthwise_conv_flopcountermode_archscope_and_by_hand():
    """x [2, 8, 16, 16], depthwise 3x3 conv (groups 8, padding 1): the forward is 2*N*C*H*W*k*k multiply-add FLOPs;
    the input gradient and the weight gradient each take as many again. FlopCounterMode counts the weight
    gradient 8 times (its convolution_backward formula ignores groups)."""
    n, c, h, w, k = 2, 8, 16, 16, 3
    conv = torch.nn.Conv2d(c, c, k, padding=1, groups=c, bias=False)
    x = torch.rand(n, c, h, w, requires_grad=True)
    forward = 2 * n * c * h * w * k * k  # 73,728
    by_hand = 2 * forward  # 147,456: input gradient + weight gradient
    counter = FlopCounterMode(display=False)
    y = conv(x)
    with counter:
        y.sum().backward()
    flop_counter_mode = counter.get_total_flops()
    assert flop_counter_mode == forward + c * forward == 663_552  # the weight gradient counted groups (8) times

    recorder = Recorder(4)
    x2 = x.detach().requires_grad_(True)
    y2 = conv(x2)
    with CountingMode(recorder, shape_only=False):
        y2.sum().backward()
    archscope = sum(op.mac_flops for op in recorder.ops if op.op == "convolution_backward")
    assert archscope == by_hand == 147_456


def test_the_report_carries_the_training_section():
    """The report carries the training section through JSON and back, with the assumptions said."""
    import archscope
    from archscope.reports.profile import ModelReport

    report = archscope.profile(PLAIN, imgsz=64, batch=2, train=True, optimizer="sgd")
    t = report.training
    assert t is not None and t.optimizer == "sgd" and t.schema == "archscope.training/1"
    assert "1 state tensor per parameter" in t.assumptions
    again = ModelReport.from_dict(report.to_dict())
    assert again.training == t
    text = str(report)
    assert "training peak" in text and "saved for backward" in text


def test_train_options_need_train_and_fp32():
    import archscope
    from archscope.errors import ArchscopeError

    with pytest.raises(ArchscopeError, match="add --train"):
        archscope.profile(PLAIN, imgsz=64, amp=True)
    with pytest.raises(ArchscopeError, match="--optimizer must be one of"):
        archscope.profile(PLAIN, imgsz=64, train=True, optimizer="lion")
    with pytest.raises(ArchscopeError, match="fp32 master weights"):
        archscope.profile(PLAIN, imgsz=64, train=True, dtype="fp16")

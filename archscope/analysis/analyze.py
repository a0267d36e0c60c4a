"""``analyze(built)``: count a built model's FLOPs, bytes and activation memory, per layer and per sub-module.

One forward pass runs under :class:`~archscope.analysis.counter.CountingMode` (every ATen operator, attributed to its
YAML layer and sub-module path by :class:`~archscope.analysis.counter.ModuleTracker`), on ``meta`` by default: no
weight or activation is allocated, so the cost does not grow with image size or batch. ``real=True`` materialises a
copy of the model on CPU with deterministic random weights and counts a real forward instead; both give the same
figures (the tests check it). A second, tiny forward on a ``max(stride, 32)`` square proxy image gives the legacy
GFLOPs convention (see :mod:`~archscope.analysis.conventions`).
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import replace
from typing import Any

from archscope.analysis.records import CostTotals, LayerCosts, ModelCosts
from archscope.build.builder import BuiltModel

__all__ = ["analyze"]


def analyze(built: BuiltModel, *, dtype: str = "fp32", real: bool = False, legacy: bool = True) -> ModelCosts:
    """Count ``built`` at its image size and batch.

    ``dtype`` sets the bytes per element of every tensor (fp32 4, fp16/bf16 2, int8 1), whatever the dtype of the
    tensors the counting runs on. ``real=True`` counts a real CPU forward (slow, allocates everything) instead of
    a meta one. ``legacy=False`` skips the proxy forward of the legacy GFLOPs convention (``gflops_legacy`` = 0).
    """
    import torch

    from archscope.analysis import costs
    from archscope.analysis.conventions import ConventionCounter, ultralytics_suppresses_functional
    from archscope.analysis.liveness import LiveStorages
    from archscope.analysis.memory import live_bytes
    from archscope.analysis.mode import CountingMode, ModuleTracker, Recorder, elements, tensors_in
    from archscope.analysis.precision import Precision
    from archscope.build.meta import MetaSdpaAsCpu

    precision = Precision(dtype)
    bpe = precision.bpe
    model = built.model
    if real:
        _check_memory_for_real_forward(built)
        model = _materialized_copy(built)
    device = "cpu" if real else "meta"
    h, w = built.imgsz
    batch = built.batch
    x = _input((batch, built.ch, h, w), device, real)

    live = LiveStorages(precision)
    live.add_parameters([*model.parameters(), *model.buffers()])
    live.add_input(x)
    recorder = Recorder(bpe, live)
    conventions = ConventionCounter(ultralytics=True, legacy=True)
    input_elems: dict[int, int] = {}
    output_elems: dict[int, int] = {}

    def on_layer_start(i: int, args: Any) -> None:
        input_elems[i] = _distinct_elements(tensors_in(args), elements)

    def on_layer(i: int, out: Any) -> None:
        output_elems[i] = _distinct_elements(tensors_in(out), elements)

    tracker = ModuleTracker(model, recorder, on_call=conventions.on_call,
                            functional_rule=ultralytics_suppresses_functional, on_layer_start=on_layer_start)
    routing = MetaSdpaAsCpu() if not real else contextlib.nullcontext()
    with torch.no_grad(), routing, tracker, CountingMode(recorder, shape_only=not real):
        model.run(x, on_layer=on_layer)

    recorder.ops = costs.settle_operand_ages(recorder.ops, live.written)  # weights: read a forward ago
    legacy_counts, proxy = _legacy_pass(model, built, device, real, conventions) if legacy else ({}, None)

    # ------------------------------------------------------------------ assemble
    n = len(model.layers)
    layers = [LayerCosts(index=i) for i in range(n)]
    outside = CostTotals()
    prefixes: dict[str, tuple[str, ...]] = {}
    for op in recorder.ops:
        if not 0 <= op.layer < n:
            outside.add(op)
            continue
        lc = layers[op.layer]
        lc.totals.add(op)
        if op.out_shape and op.attention_flops and op.bytes_written > lc.score_bytes:
            lc.score_bytes, lc.score_shape = op.bytes_written, op.out_shape
        if op.path:
            chain = prefixes.get(op.path)
            if chain is None:
                parts = op.path.split(".")
                chain = prefixes[op.path] = tuple(".".join(parts[: k + 1]) for k in range(len(parts)))
            subs = lc.submodules
            for p in chain:
                totals = subs.get(p)
                if totals is None:
                    totals = subs[p] = CostTotals()
                totals.add(op)

    input_bytes = batch * built.ch * h * w * bpe
    sources = getattr(model, "layer_sources", None) or [tuple(layer.f) for layer in model.layers]  # f: ArchModel
    out_bytes = [output_elems.get(i, 0) * bpe for i in range(n)]
    live_out = live_bytes(out_bytes, sources, input_bytes)
    area = None if proxy is None else (h / proxy) * (w / proxy)
    for i, (lc, module) in enumerate(zip(layers, model.layers)):
        lc.param_bytes = sum(p.numel() * precision.parameter(p.is_floating_point(), p.element_size(), p.dim())
                             for p in module.parameters())
        lc.peak_activation_bytes = live.layer_peaks.get(i, 0)
        lc.input_bytes = input_elems.get(i, 0) * bpe
        lc.activation_bytes = out_bytes[i]
        lc.bytes_fused = lc.input_bytes + lc.param_bytes + lc.activation_bytes
        lc.live_bytes = live_out[i] if live_out else 0
        ul_macs = conventions.ultralytics.get(i, 0) + recorder.functional_macs.get(i, 0)
        lc.gflops_ultralytics = 2 * ul_macs / batch / 1e9
        if area is not None:
            lc.gflops_legacy = 2 * legacy_counts.get(i, 0) * area / 1e9
        elif legacy:
            lc.gflops_legacy = 2 * legacy_counts.get(i, 0) / batch / 1e9
    boundary = max(live_out) if live_out else input_bytes
    peak = live.peak
    return ModelCosts(
        dtype=precision.name,
        bytes_per_element=bpe,
        layers=layers,
        ops=recorder.ops,
        peak_activation_bytes=peak.bytes,
        outside=outside,
        batch=batch,
        imgsz=(h, w),
        real=real,
        peak_layer=peak.layer,
        peak_path=peak.path,
        peak_op=peak.op,
        layer_boundary_peak_bytes=boundary,
        layer_boundary_peak_layer=live_out.index(boundary) if live_out else -1,
        input_bytes=input_bytes,
        gflops_ultralytics=sum(lc.gflops_ultralytics for lc in layers),
        gflops_legacy=sum(lc.gflops_legacy for lc in layers),
        legacy_proxy=proxy,
        uncounted_ops=dict(recorder.uncounted),
    )


def _legacy_pass(model, built: BuiltModel, device: str, real: bool, main_counts) -> tuple[dict[int, float], int | None]:
    """thop 0.1.1 MACs per layer on the square proxy image, or (full-size counts, None) if that forward fails."""
    import torch

    from archscope.analysis.conventions import ConventionCounter
    from archscope.analysis.mode import CountingMode, ModuleTracker, Recorder
    from archscope.build.meta import MetaSdpaAsCpu

    side = max(int(built.max_stride or 1), 32)
    recorder = Recorder(1)
    recorder.enabled = False
    counter = ConventionCounter(ultralytics=False, legacy=True)
    tracker = ModuleTracker(model, recorder, on_call=counter.on_call)
    routing = MetaSdpaAsCpu() if not real else contextlib.nullcontext()
    try:
        with torch.no_grad(), routing, tracker, CountingMode(recorder, shape_only=not real):
            model.run(_input((1, built.ch, side, side), device, real))
    except Exception:  # noqa: BLE001 - as Ultralytics 8.0-8.2 do: profile the full image instead
        return dict(main_counts.legacy), None
    if counter.failures:
        return dict(main_counts.legacy), None
    return counter.legacy, side


def _check_memory_for_real_forward(built: BuiltModel) -> None:
    """A real forward allocates every activation (a 160x160-token attention map is gigabytes): estimate it on meta
    first -- weights, the peak of live layer outputs, and the largest single operator -- and refuse clearly."""
    from archscope.errors import ArchscopeError
    from archscope.util.memory import MEMORY_HEADROOM, host_available_bytes

    available = host_available_bytes()
    if available is None:
        return
    meta = analyze(built, dtype="fp32", real=False, legacy=False)
    params = sum(layer.param_bytes for layer in meta.layers)
    largest_op = max((op.bytes_read + op.bytes_written for op in meta.ops), default=0)
    needed = 2 * params + meta.peak_activation_bytes + largest_op
    if needed > MEMORY_HEADROOM * available:
        raise ArchscopeError(
            f"a real CPU forward at {built.imgsz[0]}x{built.imgsz[1]}, batch {built.batch} needs about "
            f"{needed / 2**30:.1f} GiB but {available / 2**30:.1f} GiB is available; count on meta instead "
            f"(the default), or use a smaller --imgsz/--batch")


def _input(shape, device: str, real: bool):
    import torch

    if not real:
        return torch.empty(shape, device="meta")
    generator = torch.Generator().manual_seed(0)
    return torch.rand(shape, generator=generator)


def _materialized_copy(built: BuiltModel):
    """A CPU copy of the (meta) model with deterministic weights; the caller's BuiltModel is left on meta."""
    from archscope.build.materialize import materialize

    model = built.model
    if next(iter(model.parameters()), None) is not None and next(model.parameters()).device.type != "meta":
        return model
    clone = copy.deepcopy(model)
    return materialize(replace(built, model=clone), device="cpu")


def _distinct_elements(tensors, elements) -> int:
    seen: set[int] = set()
    total = 0
    for t in tensors:
        if id(t) in seen:
            continue
        seen.add(id(t))
        total += elements(t)
    return total

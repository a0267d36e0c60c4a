"""Does it fit: the memory a forward (or a training step) needs, against a device's memory, and the largest batch.

One estimate, used by ``profile`` (the report's ``fit`` section), ``check --max-peak-memory`` and ``bench`` (which
refuses a run that will not fit): :func:`inference_memory`, the weights and buffers at the analysed dtype plus the
report's ``peak_activation_bytes`` (whatever computes that figure). A training step needs its steady-state peak
(:mod:`archscope.analysis.training`), weights, gradients and optimizer state included.

The largest batch: weights, buffers, gradients and optimizer state do not grow with the batch, activations do
(linearly, at a fixed image size). So memory(b) = fixed + b * per_sample, both solved from the estimates at batch 1
and 2 on meta; the answer is then estimated once more at that batch and lowered while it does not fit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from archscope.build.builder import MAX_BATCH, BuiltModel
from archscope.reports.training import FitReport
from archscope.util.memory import inference_memory

__all__ = ["METHOD", "weight_bytes", "inference_memory", "inference_memory_at", "training_memory_at",
           "largest_batch", "memory_fit"]

METHOD = ("memory(batch) = fixed + batch x per-sample, solved from meta estimates at batch 1 and 2 (weights, "
          "gradients and optimizer state are fixed; activations grow with the batch), checked at the answer")


def weight_bytes(built: BuiltModel, bytes_per_element: int) -> int:
    """Parameters and buffers at ``bytes_per_element`` each."""
    model = built.model
    return (sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())) * bytes_per_element


def inference_memory_at(built: BuiltModel, batch: int, dtype: str) -> int:
    from archscope.analysis.analyze import analyze

    costs = analyze(replace(built, batch=batch), dtype=dtype, legacy=False)
    return inference_memory(weight_bytes(built, costs.bytes_per_element), costs.peak_activation_bytes)


def training_memory_at(built: BuiltModel, batch: int, optimizer: str, amp: bool) -> int:
    from archscope.analysis.training import analyze_training

    return analyze_training(replace(built, batch=batch), optimizer=optimizer, amp=amp).peak_bytes


def largest_batch(memory: int, need: Callable[[int], int]) -> tuple[int, int, int]:
    """(fixed bytes, bytes per sample, the largest batch whose ``need(batch)`` is at most ``memory``; 0 if none)."""
    one, two = need(1), need(2)
    per_sample = max(two - one, 0)
    fixed = one - per_sample
    if one > memory:
        return fixed, per_sample, 0
    batch = MAX_BATCH if per_sample == 0 else min(MAX_BATCH, (memory - fixed) // per_sample)
    batch = max(int(batch), 1)
    for _ in range(8):  # the check at the answer: lower it while the estimate there is over
        if batch <= 2:
            return fixed, per_sample, batch if need(batch) <= memory else batch - 1
        over = need(batch) - memory
        if over <= 0:
            return fixed, per_sample, batch
        batch -= max(1, -(-over // max(per_sample, 1)))
    return fixed, per_sample, max(batch, 1)


def memory_fit(built: BuiltModel, device, *, dtype: str, inference_bytes: int, train_bytes: int | None = None,
               optimizer: str = "adamw", amp: bool = False) -> FitReport:
    """The report's fit section for ``device`` (which has a ``memory_bytes``)."""
    memory = int(device.memory_bytes)
    fixed, per_sample, max_batch = largest_batch(memory, _known({built.batch: inference_bytes},
                                                                lambda b: inference_memory_at(built, b, dtype)))
    fit = FitReport(device=device.name, memory_bytes=memory, memory_source=device.memory_source, batch=built.batch,
                    inference_bytes=inference_bytes, inference_fits=inference_bytes <= memory,
                    inference_fixed_bytes=fixed, inference_per_sample_bytes=per_sample,
                    max_inference_batch=max_batch, method=METHOD)
    if train_bytes is not None:
        fixed, per_sample, max_batch = largest_batch(
            memory, _known({built.batch: train_bytes}, lambda b: training_memory_at(built, b, optimizer, amp)))
        fit.train_bytes, fit.train_fits = train_bytes, train_bytes <= memory
        fit.train_fixed_bytes, fit.train_per_sample_bytes, fit.max_train_batch = fixed, per_sample, max_batch
    return fit


def _known(known: dict[int, int], need: Callable[[int], int]) -> Callable[[int], int]:
    """``need``, remembering its answers (the report's own batch is known already): each batch is estimated once."""

    def at(batch: int) -> int:
        if batch not in known:
            known[batch] = need(batch)
        return known[batch]

    return at

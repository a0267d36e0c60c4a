"""The training-step and "does it fit" parts of a ModelReport (``profile --train``, a device with a memory size).

Both are optional sections of the report JSON (``"training"``, ``"fit"``), each with its own schema string so a
reader can tell what it holds; a report without them reads as before. No torch here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from archscope.reports.schema import known_fields

TRAINING_SCHEMA = "archscope.training/1"
FIT_SCHEMA = "archscope.fit/1"


@dataclass
class LayerTrainingReport:
    index: int
    saved_bytes: int  # activations autograd saved for backward in this layer's forward (distinct storages)
    forward_flops: int
    backward_flops: int
    backward_mac_flops: int


@dataclass
class TrainingReport:
    """One training step (forward + loss + backward + optimizer step), measured on meta; bytes and FLOPs for the
    whole batch."""

    optimizer: str  # sgd (with momentum), adam or adamw
    amp: bool  # fp16 autocast activations, fp32 master weights, gradients and optimizer state
    param_bytes: int
    grad_bytes: int
    optimizer_state_bytes: int
    saved_bytes: int  # activations saved for backward, every layer plus the loss
    peak_bytes: int  # steady state (second step on): everything live, weights included
    peak_phase: str  # forward, backward or optimizer
    phase_peaks: dict[str, int]
    first_step_peak_bytes: int
    first_step_peak_phase: str
    forward_flops: int
    forward_mac_flops: int
    backward_flops: int
    backward_mac_flops: int
    buffer_bytes: int = 0
    layers: list[LayerTrainingReport] = field(default_factory=list)
    assumptions: str = ""
    uncounted_backward_ops: list[dict[str, Any]] = field(default_factory=list)
    schema: str = TRAINING_SCHEMA

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingReport:
        layers = [LayerTrainingReport(**known_fields(LayerTrainingReport, raw)) for raw in data.get("layers", [])]
        return cls(**known_fields(cls, data, nested=("layers",)), layers=layers)


@dataclass
class FitReport:
    """Whether the model fits a device's memory, and the largest batch that does. Memory at batch b is taken as
    ``fixed + b * per_sample`` (weights, gradients and optimizer state do not grow with the batch; activations do):
    both are solved from the estimates at batch 1 and 2, and the answer is checked with one more estimate."""

    device: str
    memory_bytes: int
    memory_source: str
    batch: int
    inference_bytes: int  # weights + buffers + peak_activation_bytes at the report's batch
    inference_fits: bool
    inference_fixed_bytes: int
    inference_per_sample_bytes: int
    max_inference_batch: int  # 0: not even batch 1 fits
    train_bytes: int | None = None  # the training step's steady-state peak at the report's batch (--train)
    train_fits: bool | None = None
    train_fixed_bytes: int | None = None
    train_per_sample_bytes: int | None = None
    max_train_batch: int | None = None
    method: str = ""
    schema: str = FIT_SCHEMA

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FitReport:
        return cls(**known_fields(cls, data))

"""The true activation peak of a forward: every tensor storage from the operator that creates it to the moment the
program lets go of it, over the ATen operator stream.

The counting mode (:mod:`archscope.analysis.mode`) hands every tensor an allocating operator returns to
:meth:`LiveStorages.created`. Storages are told apart by the identity of their ``untyped_storage()`` object (a
``data_ptr`` means nothing on ``meta``), so views add nothing and in-place operators (whose result aliases an
input) allocate nothing. A weak reference to each storage calls back when the last tensor that uses it is freed:
on ``meta`` that is exactly when a real forward frees it, because the same Python code holds the same references
(the model keeps a layer's output until the last layer named in a ``from`` index has run, a block keeps its
intermediate tensors while its ``forward`` needs them). ``no_grad``/``inference_mode`` matters: with autograd on,
saved tensors would stay alive.

The peak is taken when a storage is allocated (the only moment the total can grow) and attributed to the YAML
layer, sub-module path and operator that allocated it. Weights are not activations and are not counted; the model
input is (it is live until its last consumer). Memory a kernel allocates for itself and frees before returning
(a convolution's workspace) is invisible here, as it is to a dispatch-level tracker of a real forward.

**Fresh memory** (``OpRecord.fresh_bytes``): on a CPU, the first write to a page the process does not hold costs a
page fault (1.5-2.5 us per 4 KiB page on this project's machine, a tenth of a warm write's bandwidth or less).
Allocations of :data:`FRESH_ALWAYS_BYTES` or more are such memory on every call: counted here, to the byte (the
attention sample ``yolov8n-mhsa`` at 640 makes two 41 MB score matrices a forward, 82 MB of its 99-110 MB of
measured faults). Smaller ones come from the heap, and whether they fault depends on the allocator's history in
that process (a forward of YOLOv8n at 640 faulted 10-47 MB in different processes, at a cost per fault that
differed as much): not counted.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from archscope.analysis.precision import Precision

#: Allocations at least this large come fresh from the operating system on every call and go back to it when freed:
#: glibc's malloc serves them with ``mmap`` (its dynamic threshold stops rising at 32 MiB on 64-bit systems, the
#: ``DEFAULT_MMAP_THRESHOLD_MAX`` of mallopt(3)). Measured here: a 41 MB attention score matrix faults every page
#: on every call, even in a loop.
FRESH_ALWAYS_BYTES = 32 * 1024 * 1024


@dataclass(slots=True)
class PeakPoint:
    """Where the peak of live activations happens."""

    bytes: int = 0
    layer: int = -1  # YAML layer (-1: before the first layer, i.e. the input)
    path: str = ""  # sub-module path inside the layer ("" = the layer module itself)
    op: str = ""  # the ATen operator whose output made the peak, e.g. "cat"


@dataclass
class LiveStorages:
    """Live activation bytes over a forward, and their peak (see the module docstring)."""

    precision: Precision
    current: int = 0
    peak: PeakPoint = field(default_factory=PeakPoint)
    layer_peaks: dict[int, int] = field(default_factory=dict)  # layer -> the most bytes live while it ran
    written: int = 0  # bytes of every storage made so far in this forward (the input's included): a clock
    _born: dict[int, int] = field(default_factory=dict)  # id(storage) -> ``written`` when it was made
    _bytes: dict[int, int] = field(default_factory=dict)  # id(storage) -> bytes, while it is alive
    _element: dict[int, int] = field(default_factory=dict)  # id(storage) -> bytes per element
    _fixed: dict[int, int] = field(default_factory=dict)  # parameters' and buffers' bytes per element
    _refs: dict[int, Any] = field(default_factory=dict)  # id(storage) -> its weak reference
    _keep: list[Any] = field(default_factory=list)  # those storages, held so that their ids stay theirs

    def add_parameters(self, named_tensors) -> None:
        """Weights and buffers: not counted as live, but their element size is the precision's for parameters."""
        for t in named_tensors:
            s = _storage(t)
            if s is None:
                continue
            self._keep.append(s)
            self._fixed[id(s)] = self.precision.parameter(t.is_floating_point(), t.element_size(), t.dim())

    def add_input(self, t) -> None:
        """The model input: live from before the first layer."""
        self._track(t, self.precision.tensor(t.is_floating_point(), t.element_size()), -1, "", "input")

    def created(self, outputs, op: str, layer: int, path: str, activation_product: bool = False) -> int:
        """The tensors an allocating operator returned (views of its inputs or of each other add nothing); returns
        how many of their bytes are fresh memory (:data:`FRESH_ALWAYS_BYTES`)."""
        fresh = 0
        for t in outputs:
            bpe = self.precision.output(t.is_floating_point(), t.element_size(), op, activation_product)
            fresh += self._track(t, bpe, layer, path, op)
        return fresh

    def element_bytes(self, t) -> int:
        """Bytes per element of any tensor seen in the forward: the size its storage was created with."""
        precision = self.precision
        if not precision.int8 and precision.bpe:  # the size follows from the tensor alone: no look-up
            return precision.bpe if t.is_floating_point() else t.element_size()
        s = _storage(t)
        if s is not None:
            key = id(s)
            bpe = self._element.get(key) or self._fixed.get(key)
            if bpe:
                return bpe
        return self.precision.tensor(t.is_floating_point(), t.element_size())

    def _track(self, t, bpe: int, layer: int, path: str, op: str) -> int:
        s = _storage(t)
        if s is None:
            return 0
        key = id(s)
        if key in self._bytes or key in self._fixed:
            return 0
        itemsize = t.element_size() or 1
        n = s.nbytes() // itemsize * bpe
        self._bytes[key] = n
        self._born[key] = self.written
        self.written += n
        self._element[key] = bpe
        # a weak reference whose callback runs when the storage is freed (lighter than weakref.finalize)
        self._refs[key] = weakref.ref(s, partial(self._freed, key))
        self.current += n
        if self.current > self.layer_peaks.get(layer, -1):
            self.layer_peaks[layer] = self.current
        if self.current > self.peak.bytes:
            self.peak = PeakPoint(self.current, layer, path, op)
        return n if n >= FRESH_ALWAYS_BYTES else 0  # mapped from the OS and returned to it on every call

    def operand_age(self, tensors, written_now: int | None = None) -> float:
        """Bytes the forward wrote since the oldest of ``tensors`` was made (``written_now``: the clock to read it
        at, default now); a weight or buffer counts as made one forward ago (``costs.WEIGHT_AGE`` until the forward
        ends); a tensor made outside the counted forward, at its start."""
        from archscope.analysis.costs import WEIGHT_AGE

        now = self.written if written_now is None else written_now
        oldest = None
        for t in tensors:
            s = _storage(t)
            if s is None:
                continue
            key = id(s)
            if key in self._fixed:
                return WEIGHT_AGE
            born = self._born.get(key, 0)
            oldest = born if oldest is None else min(oldest, born)
        return float(now - (oldest or 0)) if oldest is not None else float(now)

    def _freed(self, key: int, _ref: Any) -> None:
        self._born.pop(key, None)
        self.current -= self._bytes.pop(key, 0)
        self._element.pop(key, None)
        self._refs.pop(key, None)


def _storage(t) -> Any:
    try:
        return t.untyped_storage()
    except (RuntimeError, NotImplementedError, TypeError):  # sparse or exotic tensor subclasses have none
        return None

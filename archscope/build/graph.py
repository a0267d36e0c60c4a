"""ArchModel: the built network, a list of YAML layers routed by their ``from`` indices.

Each layer module carries ``i`` (its YAML index) and ``f`` (its sources as absolute indices, -1 = the model input),
as Ultralytics' layers do, so sub-module paths read ``layers.6.m.0.cv1``. Outputs that no later layer needs are
dropped as soon as possible, as a plain forward would (keeping them all distorts timings and memory).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn


class LayerFailure(Exception):
    """A layer raised during a forward; carries the YAML layer index so callers can point at the YAML line."""

    def __init__(self, index: int, error: BaseException):
        super().__init__(str(error))
        self.index = index
        self.error = error


class ArchModel(nn.Module):
    def __init__(self, layers: list[nn.Module], sources: list[tuple[int, ...]], multi_input: list[bool]):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        for i, (layer, src) in enumerate(zip(self.layers, sources)):
            layer.i, layer.f = i, src  # type: ignore[assignment]  # torch stubs type Module attributes as Tensor | Module
        self._sources = [tuple(s) for s in sources]
        self._multi = list(multi_input)
        self._last_use = self._compute_last_use()

    def _compute_last_use(self) -> dict[int, int]:
        last: dict[int, int] = {}
        for i, src in enumerate(self._sources):
            for j in src:
                last[j] = i
        return last

    def forward(self, x):
        return self.run(x)

    def run(self, x, on_layer: Callable[[int, Any], None] | None = None, wrap: Callable | None = None):
        """Forward through every layer; ``on_layer(i, output)`` sees each output, ``wrap(i, call)`` may time it."""
        outputs: dict[int, Any] = {-1: x}
        out = x
        for i, layer in enumerate(self.layers):
            src = self._sources[i]
            inputs = [outputs[j] for j in src] if self._multi[i] else outputs[src[0]]
            try:
                out = wrap(i, lambda: layer(inputs)) if wrap else layer(inputs)  # noqa: B023 (wrap calls it at once)
            except LayerFailure:
                raise
            except Exception as exc:  # noqa: BLE001 - re-raised with the layer index attached
                raise LayerFailure(i, exc) from exc
            if on_layer is not None:
                on_layer(i, out)
            outputs[i] = out
            for j in src:
                if self._last_use.get(j) == i:
                    outputs.pop(j, None)  # a source listed twice (from: [-1, -1]) is dropped once
            if self._last_use.get(i) is None:
                outputs.pop(i, None)
        return out

"""Activation memory: bytes of each layer's output, and the peak of live activations over a forward pass.

Definition (layer granularity, the way ``ArchModel.run`` keeps tensors): a tensor is *live* from the moment it is
produced until its last consumer -- the last layer whose ``from`` indices name it -- has run. The model input counts
as a tensor produced before layer 0. While layer ``i`` runs, the memory in use is

    live(i) = sum of the outputs of every earlier layer j (and of the input) whose last consumer is >= i
              + the output of layer i itself

(so a layer's inputs and its output are counted together; tensors created and freed *inside* a layer are not).
``peak_activation_bytes = max_i live(i)``. A layer output that nothing consumes (a head, or the last layer) is live
only during its own step. Weights are not activations and are not included.
"""

from __future__ import annotations

from collections.abc import Sequence


def live_bytes(output_bytes: Sequence[int], sources: Sequence[Sequence[int]], input_bytes: int) -> list[int]:
    """``live(i)`` for every layer (see the module docstring)."""
    n = len(output_bytes)
    last_use: dict[int, int] = {}
    for i, src in enumerate(sources):
        for j in src:
            last_use[j] = max(last_use.get(j, -1), i)
    # bytes released after step i: outputs (and the input) whose last consumer is i
    released = [0] * (n + 1)
    if -1 in last_use:
        released[last_use[-1]] += input_bytes
    current = input_bytes if -1 in last_use else 0
    out = []
    for i in range(n):
        during = current + output_bytes[i]
        out.append(during)
        current = during - released[i]
        if i not in last_use:  # no consumer: freed right away
            current -= output_bytes[i]
        else:
            released[last_use[i]] += output_bytes[i]
    return out


def peak_activation(output_bytes: Sequence[int], sources: Sequence[Sequence[int]], input_bytes: int) -> tuple[int, int]:
    """(peak bytes, index of the layer during which it occurs); (input_bytes, -1) for an empty model."""
    live = live_bytes(output_bytes, sources, input_bytes)
    if not live:
        return input_bytes, -1
    peak = max(live)
    return peak, live.index(peak)

"""How many bytes one element of a tensor takes under the analysed ``--dtype``: decided here, once, for the byte
counts of every operator and for the live-memory peak (:mod:`archscope.analysis.liveness`).

fp32, fp16 and bf16: every floating-point tensor (weights, activations, the input) takes the dtype's size; integer
and boolean tensors (``topk``/``argmax`` indices, masks) keep their own size (an int64 index is 8 bytes).

int8 models a quantized deployment (TensorRT, ONNX Runtime and OpenVINO int8 do this):

* weights, the input and activations are int8 (1 byte), at layer boundaries and inside them (conv, linear,
  elementwise outputs);
* one-dimensional parameters and buffers (biases, norm scales and shifts, BatchNorm statistics) are int32/fp32
  per-channel values: 4 bytes;
* the ops that int8 runtimes leave in floating point keep fp16 (2 bytes): softmax, layer/group norm, and the
  activation-by-activation matrix products (attention scores ``QK^T`` and ``PV``, SDPA), whose outputs are the
  score matrices;
* integer and boolean tensors keep their own size, as above.

A tensor's element size is fixed when the operator that creates it runs; views share it, so the consumer that
reads it later reads it at the size it was written with.
"""

from __future__ import annotations

from archscope.vocab import canonical_dtype, dtype_bytes

#: Operators whose outputs an int8 deployment keeps in fp16 (the activation products are added by the caller,
#: which knows them as ``costs.ACTIVATION_MATMULS``).
INT8_FLOAT_OPS = frozenset({
    "softmax", "_softmax", "log_softmax", "_log_softmax", "_safe_softmax",
    "layer_norm", "native_layer_norm", "group_norm", "native_group_norm", "rms_norm", "_fused_rms_norm",
})
INT8_FLOAT_BYTES = 2  # fp16
INT8_VECTOR_BYTES = 4  # int32 bias, fp32 per-channel scales


class Precision:
    """Element sizes for one ``--dtype`` (see the module docstring); ``None``: every tensor at its own size (real
    tensors, as a measurement sees them)."""

    __slots__ = ("name", "bpe", "int8")

    def __init__(self, dtype: str | None = "fp32"):
        self.bpe = 0 if dtype is None else dtype_bytes(dtype)
        self.name = "" if dtype is None else canonical_dtype(dtype)
        self.int8 = self.name == "int8"

    def output(self, is_float: bool, itemsize: int, op: str, activation_product: bool = False) -> int:
        """Bytes per element of a tensor that operator ``op`` creates."""
        if not is_float or not self.bpe:
            return itemsize
        if self.int8 and (activation_product or op in INT8_FLOAT_OPS):
            return INT8_FLOAT_BYTES
        return self.bpe

    def parameter(self, is_float: bool, itemsize: int, ndim: int) -> int:
        """Bytes per element of a parameter or buffer."""
        if not is_float or not self.bpe:
            return itemsize
        if self.int8 and ndim <= 1:
            return INT8_VECTOR_BYTES
        return self.bpe

    def tensor(self, is_float: bool, itemsize: int) -> int:
        """Bytes per element of a tensor whose maker is not known (the model input)."""
        return self.bpe if is_float and self.bpe else itemsize

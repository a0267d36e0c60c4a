"""Built-in blocks, one module per family; importing this package registers them all."""

from archscope.blocks import common, csp, gelan, yolov10, attention, heads, rtdetr  # noqa: F401
from archscope.blocks import efficientformer, emo, mobilenetv4  # noqa: F401

"""Built-in blocks, one module per family; importing this package registers them all."""

from archscope.blocks import attention, common, csp, efficientformer, emo, gelan, heads, mobilenetv4, rtdetr, yolov10  # noqa: F401  # noqa: F401

"""Built-in blocks, one module per family; importing this package registers them all."""

from . import common, csp, gelan, yolov10, attention, heads, rtdetr  # noqa: F401
from . import efficientformer, emo, mobilenetv4  # noqa: F401

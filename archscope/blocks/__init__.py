"""Built-in blocks, one module per family; importing this package registers them all."""

from archscope.blocks import (  # noqa: F401
    attention,
    common,
    community,
    csp,
    efficientformer,
    emo,
    gelan,
    heads,
    mobilenetv4,
    psa,
    rtdetr,
    torchvision_backbone,
    wongkinyiu,
    world,
    yoloe,
    yolov5,
    yolov10,
)

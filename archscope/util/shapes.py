"""Feature-map geometry every stage reads the same way."""

from __future__ import annotations

import math


def feature_stride(image_side: int, map_side: int) -> int:
    """The stride a feature map works at: the power of two nearest ``image_side / map_side`` (exact for divisible
    sizes: 640 -> 80 is 8; 644 -> 81 is still 8); 1 for a map as large as the image, 0 for an empty map."""
    if map_side <= 0:
        return 0
    return 2 ** round(math.log2(image_side / map_side)) if image_side >= map_side else 1

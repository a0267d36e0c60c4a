"""Dispatch-level counting of FLOPs and bytes, attributed to YAML layers and sub-modules.

``analyze(built, dtype="fp32", real=False) -> ModelCosts`` is the entry point. Importing this package does not
import torch (the records are plain data; ``analyze`` imports torch when called).
"""

from __future__ import annotations

from .analyze import analyze
from .records import CostTotals, LayerCosts, ModelCosts, OpRecord

__all__ = ["analyze", "CostTotals", "LayerCosts", "ModelCosts", "OpRecord"]

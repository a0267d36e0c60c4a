"""Hand-written models for the cross-check tests (plain torch, so reference scripts can import them too)."""

from __future__ import annotations


def small_model():
    """Conv with bias + BN + SiLU, then a token Linear and an explicit matmul attention (no SDPA)."""
    import torch
    from torch import nn

    class Attn(nn.Module):
        def __init__(self, c=16):
            super().__init__()
            self.qkv = nn.Linear(c, 3 * c)

        def forward(self, x):
            t = x.flatten(2).transpose(1, 2)
            q, k, v = self.qkv(t).chunk(3, -1)
            return torch.matmul(torch.matmul(q, k.transpose(-1, -2)).softmax(-1), v)

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=True), nn.BatchNorm2d(16), nn.SiLU(), Attn(16))
    return model, torch.randn(1, 3, 8, 8)


def branchy_model():
    """A module that computes a branch and drops it (as YOLOv10's head does with its one-to-many branch in eval)."""
    import torch
    from torch import nn

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.used = nn.Conv2d(8, 8, 1, bias=False)
            self.unused = nn.Conv2d(8, 8, 3, padding=1, bias=False)

        def forward(self, x):
            self.unused(x)  # computed, never used: a TorchScript trace drops it
            return self.used(x)

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 1, bias=False), Head())
    return model, torch.randn(1, 3, 4, 4)

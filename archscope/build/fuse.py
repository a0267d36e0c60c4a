"""The deployed view: the model as Ultralytics' ``model.fuse()`` leaves it, the one place this transformation lives.

``deploy(model)`` changes a model in place, module by module (parents before their children, as ``fuse()`` walks):

* every :class:`~archscope.blocks.common.Conv` (and subclasses such as ``DWConv`` that keep its forward): the
  BatchNorm is folded into the convolution, which gains a bias, and the BatchNorm module goes;
* :class:`~archscope.blocks.common.ConvTranspose`: its BatchNorm is folded into the transposed convolution (without
  one, the placeholder ``nn.Identity`` goes all the same, as in Ultralytics);
* :class:`~archscope.blocks.common.RepConv` (RepVGG, Ding et al. 2021): the 3x3 conv+BN, the 1x1 conv+BN (padded to
  3x3) and the identity BN (an identity kernel) become one 3x3 convolution with a bias;
* :class:`~archscope.blocks.yolov10.RepVGGDW`: its depthwise 7x7 conv+BN and 3x3 conv+BN (padded to 7x7) become one
  depthwise 7x7 convolution with a bias;
* heads with a branch only training uses: the head's own ``drop_training_branches()`` is called (see below).

Every other BatchNorm stays, as in Ultralytics: one after a concatenation (BottleneckCSP), one inside an
``nn.Sequential`` of a block that is not a ``Conv`` (RT-DETR's input projections, MobileNetV4's ``conv2d`` helper).

**Heads with a training-only branch** (end-to-end heads such as YOLOv10's ``v10Detect``, whose one-to-many branch
only feeds the training loss) define ``drop_training_branches(self) -> bool``: it removes the modules the deployed
model does not run (the Detect family moves its ``one2one_`` twins under the plain names and switches ``end2end``
off), the head's forward must then run without them, and it returns True when it removed anything. ``deploy``
calls it on every module that has it, before its children are folded (so a dropped branch is never folded). A new
head (YOLO26's end-to-end ``Detect``/``Segment``/``Pose``, say) plugs in by defining that one method; nothing here
needs to know its name.

The arithmetic is ``torch.nn.utils.fusion.fuse_conv_bn_weights`` (and the RepVGG sums, padded kernels and identity
kernel built here) on whatever tensors the model holds. On a ``meta`` model the same operations run on meta tensors:
they give the fused structure (which parameters exist, every shape) without any value, so parameters, layers and
GFLOPs of the deployed model are counted without weights; on real weights they give the real folded values, so the
deployed model's outputs equal the unfused model's (in eval mode).
"""

from __future__ import annotations

import copy
import dataclasses
import types
from typing import Any

from archscope.build.builder import BuiltModel


@dataclasses.dataclass
class DeploySummary:
    """What :func:`deploy` changed: counts per kind, and the heads that dropped a training-only branch."""

    conv_bn: int = 0  # Conv (and DWConv) BatchNorms folded
    conv_transpose_bn: int = 0  # ConvTranspose BatchNorms folded (or their Identity placeholder removed)
    repconv: int = 0  # RepConv blocks re-parameterised into one 3x3 convolution
    repvggdw: int = 0  # RepVGGDW blocks re-parameterised into one depthwise 7x7 convolution
    heads: list[str] = dataclasses.field(default_factory=list)  # class names of heads that dropped a branch

    @property
    def changed(self) -> int:
        return self.conv_bn + self.conv_transpose_bn + self.repconv + self.repvggdw + len(self.heads)

    def describe(self) -> str:
        parts = [f"{n} {what}" for n, what in ((self.conv_bn, "Conv+BN folded"),
                                                (self.conv_transpose_bn, "ConvTranspose+BN folded"),
                                                (self.repconv, "RepConv re-parameterised"),
                                                (self.repvggdw, "RepVGGDW re-parameterised")) if n]
        parts += [f"the training-only branch of {name} dropped" for name in dict.fromkeys(self.heads)]
        return ", ".join(parts) or "nothing to fold"


def deploy(model) -> DeploySummary:
    """Turn ``model`` (any ``nn.Module``, meta or real, in eval mode for real weights) into its deployed form, in
    place, as Ultralytics' ``model.fuse()`` does; returns what was changed."""
    summary = DeploySummary()
    _deploy(model, summary, set())
    return summary


def deploy_built(built: BuiltModel) -> BuiltModel:
    """``built`` with its model deployed (in place) and its per-layer parameter counts re-read; ``fused`` set."""
    deploy(built.model)
    layers = [dataclasses.replace(layer, params=sum(p.numel() for p in built.model.layers[layer.index].parameters()))
              for layer in built.layers]
    return dataclasses.replace(built, layers=layers, fused=True)


def deployed_copy(built: BuiltModel) -> BuiltModel:
    """A deployed copy of a (meta) built model; ``built`` itself is left as it is."""
    return deploy_built(dataclasses.replace(built, model=copy.deepcopy(built.model)))


# ------------------------------------------------------------------------------------------------- the walk


def _deploy(module, summary: DeploySummary, seen: set[int]) -> None:
    from archscope.blocks.common import Conv, ConvTranspose, RepConv
    from archscope.blocks.yolov10 import RepVGGDW

    if id(module) in seen:  # a shared module (an activation) is visited once, as model.modules() yields it once
        return
    seen.add(id(module))

    if isinstance(module, RepVGGDW) and hasattr(module, "conv1"):
        _fuse_repvggdw(module)
        summary.repvggdw += 1
    elif isinstance(module, RepConv) and hasattr(module, "conv1"):
        _fuse_repconv(module)
        summary.repconv += 1
    elif isinstance(module, Conv) and type(module).forward is Conv.forward and hasattr(module, "bn"):
        module.conv = _folded(module.conv, module.bn)
        del module.bn
        _set_forward(module, _act_conv_forward)
        summary.conv_bn += 1
    elif isinstance(module, ConvTranspose) and hasattr(module, "bn"):
        from torch import nn

        if isinstance(module.bn, nn.BatchNorm2d):
            module.conv_transpose = _folded(module.conv_transpose, module.bn, transpose=True)
        del module.bn
        _set_forward(module, _act_conv_transpose_forward)
        summary.conv_transpose_bn += 1
    drop = getattr(module, "drop_training_branches", None)
    if callable(drop) and drop():  # before the children, so a dropped branch is neither folded nor counted
        summary.heads.append(type(module).__name__)
    for child in list(module.children()):
        _deploy(child, summary, seen)


def _set_forward(module, forward):
    """The deployed forward for this instance only (its class, and every other instance, keep theirs)."""
    module.forward = types.MethodType(forward, module)


def _act_conv_forward(self, x):
    return self.act(self.conv(x))


def _act_conv_transpose_forward(self, x):
    return self.act(self.conv_transpose(x))


# --------------------------------------------------------------------------------------------- the arithmetic


def _folded(conv, bn, *, transpose: bool = False):
    """A copy of ``conv`` with ``bn`` folded into its weight and (new, if it had none) bias."""
    from torch.nn.utils.fusion import fuse_conv_bn_weights

    if transpose and conv.groups != 1:  # ConvTranspose builds groups=1 only; a grouped one needs another layout
        from archscope.errors import ArchscopeError

        raise ArchscopeError("--fuse cannot fold a BatchNorm into a grouped transposed convolution")
    fused = copy.deepcopy(conv)
    fused.weight, fused.bias = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var,
                                                    bn.eps, bn.weight, bn.bias, transpose=transpose)
    return fused.requires_grad_(False)


def _kernel_bias(conv_module) -> tuple[Any, Any]:
    """(weight, bias) of a Conv block (Conv2d + BatchNorm2d) with its BN folded."""
    folded = _folded(conv_module.conv, conv_module.bn)
    return folded.weight, folded.bias


def _pad_to(kernel, size: int):
    import torch.nn.functional as F

    p = (size - kernel.shape[-1]) // 2
    return F.pad(kernel, [p, p, p, p])


def _fuse_repconv(m) -> None:
    """RepConv -> act(conv(x)): 3x3 kernel + padded 1x1 kernel + identity kernel (the identity BN's), biases summed."""
    import torch
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_weights

    k3, b3 = _kernel_bias(m.conv1)
    k1, b1 = _kernel_bias(m.conv2)
    kernel, bias = k3 + _pad_to(k1, k3.shape[-1]), b3 + b1
    if m.bn is not None:
        per_group = m.c1 // m.g
        identity = torch.zeros(m.c1, per_group, *k3.shape[2:], dtype=k3.dtype, device=k3.device)
        channels = torch.arange(m.c1, device=k3.device)
        identity[channels, channels % per_group, k3.shape[2] // 2, k3.shape[3] // 2] = 1
        kid, bid = fuse_conv_bn_weights(identity, None, m.bn.running_mean, m.bn.running_var, m.bn.eps,
                                        m.bn.weight, m.bn.bias)
        kernel, bias = kernel + kid, bias + bid
    src = m.conv1.conv
    conv = nn.Conv2d(src.in_channels, src.out_channels, src.kernel_size, src.stride, src.padding, src.dilation,
                     src.groups, bias=True, device=k3.device, dtype=k3.dtype)
    conv.weight, conv.bias = nn.Parameter(kernel.detach()), nn.Parameter(bias.detach())
    conv.requires_grad_(False)
    del m.conv1, m.conv2
    del m.bn  # the identity BatchNorm, or the plain None attribute: Ultralytics removes it either way
    m.conv = conv
    _set_forward(m, _act_conv_forward)


def _fuse_repvggdw(m) -> None:
    """RepVGGDW -> act(conv(x)): the 7x7 depthwise kernel + the padded 3x3 one, biases summed."""
    from torch import nn

    k7, b7 = _kernel_bias(m.conv)
    k3, b3 = _kernel_bias(m.conv1)
    conv = _folded(m.conv.conv, m.conv.bn)
    conv.weight, conv.bias = nn.Parameter(k7 + _pad_to(k3, k7.shape[-1])), nn.Parameter(b7 + b3)
    conv.requires_grad_(False)
    del m.conv1
    m.conv = conv
    _set_forward(m, _act_conv_forward)

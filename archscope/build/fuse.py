"""BatchNorm folding: each BatchNorm2d that directly follows a Conv2d is folded into the conv, as deployment does."""

from __future__ import annotations

import types


def fuse_conv_bn(model) -> int:
    """Fold each BatchNorm2d that directly follows a Conv2d into the conv's weights (eval mode), as deployment
    does; returns how many were folded. Covers Conv-style blocks (``act(bn(conv(x)))``) and Conv2d, BatchNorm2d
    pairs inside an nn.Sequential; any other BatchNorm (e.g. after a concatenation) stays."""
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    from archscope.blocks.common import Conv

    folded = 0
    for module in list(model.modules()):
        conv, bn = getattr(module, "conv", None), getattr(module, "bn", None)
        if type(module).forward is Conv.forward and isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            module.conv = fuse_conv_bn_eval(conv, bn)
            del module.bn
            module.forward = types.MethodType(_conv_act_forward, module)  # this instance only
            folded += 1
        elif isinstance(module, nn.Sequential):
            folded += _fuse_sequential(module, fuse_conv_bn_eval)
    return folded


def _conv_act_forward(self, x):
    return self.act(self.conv(x))


def _fuse_sequential(seq, fuse) -> int:
    from torch import nn

    children = list(seq.children())
    pairs = [i for i in range(len(children) - 1)
             if isinstance(children[i], nn.Conv2d) and isinstance(children[i + 1], nn.BatchNorm2d)]
    if not pairs:
        return 0
    out, skip = [], False
    for i, child in enumerate(children):
        if skip:
            skip = False
            continue
        if i in pairs:
            out.append(fuse(child, children[i + 1]))
            skip = True
        else:
            out.append(child)
    for name in list(seq._modules):
        del seq._modules[name]
    for i, child in enumerate(out):
        seq.add_module(str(i), child)
    return len(pairs)

"""``TorchVision``: a torchvision model (optionally truncated and unwrapped) as one YAML layer, as in Ultralytics 8.4.

YAML row ``[c2, model, weights, unwrap, truncate, split]`` (Ultralytics' order): ``c2`` is the channel count the
next layers see, as written; ``model`` a name known to ``torchvision.models.get_model``. archscope never loads or
downloads weights: the model is always built with ``weights=None`` (random initialisation; the parameter counts,
shapes and FLOPs do not depend on the weights), whatever the row's ``weights`` says.

``unwrap=True`` keeps the model's children as an ``nn.Sequential`` without the last ``truncate`` of them (a first
child that is itself an ``nn.Sequential``, as in EfficientNet or Swin, is flattened one level); ``split=True`` then
returns the input followed by every child's output (a list, for ``Index`` rows to pick from). ``unwrap=False`` keeps
the whole model with its ``head``/``heads`` replaced by an identity.

torchvision is an optional dependency (``pip install 'archscope-yolo[torchvision]'``); without it this block raises one
clear ArchscopeError.
"""

from __future__ import annotations

from torch import nn

from archscope.blocks.common import OUT_AS_WRITTEN
from archscope.build.registry import block
from archscope.errors import ArchscopeError


def _torchvision_models():
    try:
        import torchvision.models as models
    except Exception as exc:  # noqa: BLE001 - missing, or present but broken (e.g. built for another torch)
        reason = "not installed" if isinstance(exc, ImportError) else f"cannot be imported ({type(exc).__name__})"
        raise ArchscopeError(
            f"TorchVision needs the torchvision package, which is {reason}: pip install 'archscope-yolo[torchvision]'"
        ) from None
    return models


@block(family="torchvision", channels=OUT_AS_WRITTEN,
       signature="(model, weights=None (never loaded), unwrap=True, truncate=2, split=False)")
class TorchVision(nn.Module):
    """A torchvision model as a layer (weights never loaded), optionally truncated, unwrapped and split."""

    def __init__(self, model, weights=None, unwrap=True, truncate=2, split=False):
        super().__init__()
        if not isinstance(model, str):
            raise ArchscopeError(f"TorchVision: model must be a torchvision model name, got {model!r}")
        models = _torchvision_models()
        try:
            net = models.get_model(model, weights=None)  # never the row's weights: nothing is downloaded
        except ValueError:
            raise ArchscopeError(f"TorchVision: torchvision has no model named {model!r}") from None
        self.split = False
        if unwrap:
            layers = list(net.children())
            if layers and isinstance(layers[0], nn.Sequential):
                layers = [*layers[0].children(), *layers[1:]]
            self.m = nn.Sequential(*(layers[:-truncate] if truncate else layers))
            self.split = bool(split)
        else:
            net.head = net.heads = nn.Identity()
            self.m = net

    def forward(self, x):
        if not self.split:
            return self.m(x)
        out = [x]
        for child in self.m:
            out.append(child(out[-1]))
        return out

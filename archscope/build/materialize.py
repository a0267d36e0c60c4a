"""A meta-built model made real: deterministic random weights on a device, for real forwards and timing."""

from __future__ import annotations

from archscope.build.builder import BuiltModel


def materialize(built: BuiltModel, device: str = "cpu", seed: int = 0):
    """Give a meta-built model real, deterministic random weights on ``device`` (for real forwards and timing)."""
    import torch

    model = built.model
    model.to_empty(device=device)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        with torch.no_grad():
            # Every tensor gets a defined value first: memory from to_empty() may hold denormals (tens of times
            # slower arithmetic) or NaNs wherever a module has no reset_parameters of its own.
            for param in model.parameters():
                param.normal_(0.0, 0.02)
            for buffer in model.buffers():
                if buffer.is_floating_point():
                    buffer.zero_()
            for module in model.modules():
                # nn.MultiheadAttention only has the private spelling
                reset = getattr(module, "reset_parameters", None) or getattr(module, "_reset_parameters", None)
                if callable(reset) and not isinstance(module, type(model)):
                    reset()
                if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
                    module.reset_running_stats()
    finally:
        torch.random.set_rng_state(generator_state)
    for module in model.modules():  # value-dependent initialisation (e.g. DFL's fixed arange weights)
        hook = getattr(module, "init_real", None)
        if callable(hook):
            hook()
    return model

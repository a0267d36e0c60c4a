"""The lines ``profile`` prints under its table for a training step (``--train``) and for "does it fit" (a device
with a memory size). Plain strings, shared by the table, Markdown and HTML renderers."""

from __future__ import annotations


def _mb(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e6:.1f} MB"


def memory_lines(report) -> list[str]:
    lines: list[str] = []
    t = getattr(report, "training", None)
    if t is not None:
        lines.append(f"training step ({t.optimizer}{', amp' if t.amp else ''}, batch {report.model.batch}): "
                     f"weights {_mb(t.param_bytes)}, gradients {_mb(t.grad_bytes)}, optimizer state "
                     f"{_mb(t.optimizer_state_bytes)}, saved for backward {_mb(t.saved_bytes)}")
        lines.append(f"training peak {_mb(t.peak_bytes)} in the {t.peak_phase} (steady state; first step "
                     f"{_mb(t.first_step_peak_bytes)} in the {t.first_step_peak_phase}); GFLOPs forward "
                     f"{t.forward_flops / 1e9:.2f}, backward {t.backward_flops / 1e9:.2f} "
                     f"(multiply-adds {t.backward_mac_flops / 1e9:.2f})")
        lines.append(f"assumed: {t.assumptions}")
    f = getattr(report, "fit", None)
    if f is not None:
        verdict = "fits" if f.inference_fits else "does NOT fit"
        lines.append(f"{f.device} memory {f.memory_bytes / 1e9:.1f} GB: inference at batch {f.batch} needs "
                     f"{_mb(f.inference_bytes)}, {verdict}; largest batch {f.max_inference_batch}")
        if f.max_train_batch is not None:
            verdict = "fits" if f.train_fits else "does NOT fit"
            lines.append(f"{f.device}: a training step at batch {f.batch} needs {_mb(f.train_bytes)}, {verdict}; "
                         f"largest training batch {f.max_train_batch}")
        lines.append(f"largest batch: {f.method}; memory from {f.memory_source}")
    return lines

"""The Python API: ``archscope.profile(path_or_dict, ...) -> ModelReport``. The CLI is a thin layer over this."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from archscope.errors import ArchscopeError
from archscope.reports.profile import ModelReport
from archscope.vocab import ANALYSIS_DTYPES, BENCH_DTYPES

if TYPE_CHECKING:
    from archscope.build.builder import BuiltModel
    from archscope.compare.comparison import Comparison
    from archscope.devices.spec import DeviceSpec
    from archscope.measure.runner import Progress
    from archscope.reports.bench import BenchReport
    from archscope.reports.breakdown import LayerBreakdown


def parse_imgsz(value: int | str | tuple[int, int] | list[int]) -> tuple[int, int]:
    """``640`` -> (640, 640); ``"640x384"`` or ``(640, 384)`` -> (H, W) = (640, 384)."""
    if isinstance(value, bool):
        raise ArchscopeError(f"--imgsz must be a size such as 640 or 640x384, got {value!r}")
    if isinstance(value, int):
        hw = (value, value)
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        hw = (value[0], value[1])
    elif isinstance(value, str):
        parts = value.lower().replace(",", "x").split("x")
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            raise ArchscopeError(f"--imgsz must be a size such as 640 or 640x384 (H x W), got {value!r}") from None
        if len(nums) == 1:
            hw = (nums[0], nums[0])
        elif len(nums) == 2:
            hw = (nums[0], nums[1])
        else:
            raise ArchscopeError(f"--imgsz must be one or two numbers (H x W), got {value!r}")
    else:
        raise ArchscopeError(f"--imgsz must be a size such as 640 or 640x384, got {value!r}")
    if min(hw) < 1:
        raise ArchscopeError(f"--imgsz must be positive, got {value!r}")
    return hw


def split_scale(source: Any, scale: str | None) -> tuple[Any, str | None]:
    """``"m.yaml:s"`` -> ("m.yaml", "s"), as compare reads its models (a file that exists as named wins);
    ``scale`` given as well must agree. A dict or a path object passes through."""
    if not isinstance(source, str):
        return source, scale
    from archscope.spec.sources import parse_source

    parsed = parse_source(source)
    if parsed.scale is None:
        return source, scale
    if scale is not None and scale != parsed.scale:
        raise ArchscopeError(f"two scales given: ':{parsed.scale}' and --scale {scale}", file=parsed.path)
    return parsed.path, parsed.scale



def profile(
    source: str | os.PathLike | dict[str, Any],
    *,
    scale: str | None = None,
    nc: int | None = None,
    ch: int | None = None,
    imgsz: int | str | tuple[int, int] = 640,
    batch: int = 1,
    dtype: str = "fp32",
    device_spec: str | None = None,
    depth: int = 0,
    real: bool = False,
    counter: str | None = None,
    analyse: bool = True,
    blocks: list[str] | tuple[str, ...] = (),
    fuse: bool = False,
    attention: str | None = None,
    train: bool = False,
    optimizer: str = "adamw",
    amp: bool = False,
    builder: str | None = None,
    input_size: Any = None,
    example_inputs: Any = None,
    layers: Sequence[str] | None = None,
) -> ModelReport:
    """Parse, build (on the meta device) and profile a model YAML; return the report.

    ``source`` may also be a trained checkpoint (``best.pt``: the model YAML stored in it is read without running
    anything from the file, see :mod:`archscope.spec.checkpoint`), any ``nn.Module`` (with ``input_size=(1, 3, 640,
    640)`` or ``example_inputs=``; ``layers`` names the sub-modules to list, default its children; see
    :mod:`archscope.build.modules`), or ``"pkg.module:factory"``, a callable returning one. ``builder``
    (``"ultralytics"``, ``"ultralytics:/fork"``, ``"yolov5:/repo"``, ``"yolov7:/repo"``, ``"yolov9:/repo"``) builds
    the YAML with that code instead of archscope's blocks (:mod:`archscope.build.external`).

    ``source`` is a path (``"m.yaml:s"`` picks scale ``s``, as ``scale="s"``) or an already-loaded dict.
    ``dtype`` sets the bytes per element; ``device_spec`` (a preset name such as ``"a100"`` or a YAML/JSON file)
    adds roofline-predicted times; ``depth`` keeps sub-modules down to that depth under each layer; ``real`` counts
    on real CPU tensors instead of meta; ``counter`` ("fvcore", "thop", "ptflops", "calflops" or "torchinfo")
    adds that tool's totals for comparison, with the gap explained module by module;
    ``analyse=False`` gives only structure, parameters and shapes; ``blocks`` names user block files or modules to
    register first (see :mod:`archscope.plugins`); ``fuse`` profiles the deployed model, as Ultralytics'
    ``model.fuse()`` leaves it (see :mod:`archscope.build.fuse`; the report says ``model.fused``); ``attention``
    ("eager" or "fused", default: the device's) is how the roofline runs attention (the report says
    ``model.attention``).
    ``train`` adds one training step's memory and FLOPs (``report.training``; ``optimizer`` sgd, adam or adamw,
    ``amp`` for fp16 autocast), see :mod:`archscope.analysis.training`. A ``device_spec`` with a memory size adds
    ``report.fit``: whether the batch fits and the largest batch that does (see :mod:`archscope.analysis.fit`).
    """
    from archscope.analysis.findings import find_issues
    from archscope.analysis.to_report import add_costs, add_roofline, make_report

    if dtype not in ANALYSIS_DTYPES:
        raise ArchscopeError(f"--dtype must be one of {', '.join(ANALYSIS_DTYPES)}, got {dtype!r}")
    if depth < 0:
        raise ArchscopeError(f"--depth must be >= 0, got {depth}")
    from archscope.vocab import ATTENTION_MODES

    if attention is not None and attention not in ATTENTION_MODES:
        raise ArchscopeError(f"--attention must be {' or '.join(ATTENTION_MODES)}, got {attention!r}")
    device = None
    if device_spec is not None:
        from archscope.devices.presets import load_device

        device = load_device(device_spec)
        device.peak(dtype)  # fail now, with the device's dtypes listed, not after the counting
        from archscope.devices.roofline import attention_mode

        attention_mode(device, attention)
    if train:
        from archscope.analysis.training import OPTIMIZERS

        if optimizer not in OPTIMIZERS:
            raise ArchscopeError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
        if dtype != "fp32":
            raise ArchscopeError(f"--train models fp32 master weights (add --amp for fp16 activations); --dtype "
                                 f"{dtype} is for inference")
    elif amp or optimizer != "adamw":
        raise ArchscopeError("--optimizer and --amp describe a training step: add --train")
    if counter is not None:
        from archscope.analysis.crosscheck import COUNTERS, require

        if counter not in COUNTERS:
            raise ArchscopeError(f"--counter must be one of {', '.join(COUNTERS)}, got {counter!r}")
        require(counter)  # a missing package is said before the model is built and counted

    module = _module_source(source, input_size, example_inputs, imgsz=imgsz, batch=batch, ch=ch)
    if module is not None:
        if real or fuse or counter or builder not in (None, "native"):
            raise ArchscopeError("an nn.Module is counted on the meta device as it is: --real, --fuse, --counter "
                                 "and --builder apply to model YAMLs")
        from archscope.build.modules import build_module

        built = build_module(module[0], input_size=module[1], inputs=module[2], layers=layers,
                             name=module[3], on_meta=module[4])
    else:
        built = _build_yaml(source, scale=scale, nc=nc, ch=ch, imgsz=imgsz, batch=batch, blocks=blocks, fuse=fuse,
                            builder=builder)
    report = make_report(built, dtype=dtype)
    if not analyse:
        return report
    from archscope.analysis.analyze import analyze

    costs = analyze(built, dtype=dtype, real=real)
    add_costs(report, built, costs, depth=depth)
    report.findings = [*report.findings, *find_issues(report)]
    if device is not None:
        from archscope.devices.roofline import roofline

        add_roofline(report, roofline(device, dtype, costs.ops, layers=range(len(built.layers)), submodules=depth > 0,
                                      attention=attention))
    if counter is not None:
        report.crosscheck.append(_crosscheck(built, counter, report, costs.ops))
    if train:
        report.training = _training(built, optimizer, amp)
    if device is not None and device.memory_bytes:
        from archscope.analysis.fit import inference_memory, memory_fit, weight_bytes

        report.fit = memory_fit(built, device, dtype=dtype, optimizer=optimizer, amp=amp,
                                inference_bytes=inference_memory(weight_bytes(built, costs.bytes_per_element),
                                                                 costs.peak_activation_bytes),
                                train_bytes=report.training.peak_bytes if report.training else None)
    return report


def _training(built: BuiltModel, optimizer: str, amp: bool) -> Any:
    from archscope.analysis.to_report import uncounted_list
    from archscope.analysis.training import STATES_PER_PARAM, analyze_training
    from archscope.reports.training import LayerTrainingReport, TrainingReport

    t = analyze_training(built, optimizer=optimizer, amp=amp)
    states = STATES_PER_PARAM[optimizer]
    assumptions = (f"loss = sum of the head's train-mode outputs; {optimizer} keeps {states} state tensor"
                   f"{'s' if states > 1 else ''} per parameter{' (SGD with momentum)' if optimizer == 'sgd' else ''}; "
                   + ("fp16 autocast activations, fp32 master weights, gradients and optimizer state; "
                      if amp else "fp32 weights, activations, gradients and optimizer state; ")
                   + "torch's single-tensor optimizer step (its CPU default; CUDA's foreach step makes temporaries "
                   "about one more copy of the parameters); peak = steady state (second step: optimizer state "
                   "already allocated)")
    return TrainingReport(
        optimizer=t.optimizer, amp=t.amp, param_bytes=t.param_bytes, buffer_bytes=t.buffer_bytes,
        grad_bytes=t.grad_bytes, optimizer_state_bytes=t.optimizer_state_bytes, saved_bytes=t.saved_bytes,
        peak_bytes=t.peak_bytes, peak_phase=t.peak_phase, phase_peaks=dict(t.phase_peaks),
        first_step_peak_bytes=t.first_step_peak_bytes, first_step_peak_phase=t.first_step_peak_phase,
        forward_flops=t.forward_flops, forward_mac_flops=t.forward_mac_flops, backward_flops=t.backward_flops,
        backward_mac_flops=t.backward_mac_flops,
        layers=[LayerTrainingReport(lt.index, lt.saved_bytes, lt.forward_flops, lt.backward_flops,
                                    lt.backward_mac_flops) for lt in t.layers],
        assumptions=assumptions, uncounted_backward_ops=uncounted_list(t.uncounted_backward_ops))
def _build_yaml(source: Any, *, scale: str | None, nc: int | None, ch: int | None, imgsz: Any, batch: int,
                blocks: Sequence[str], fuse: bool, builder: str | None) -> BuiltModel:
    """A model YAML (or a checkpoint's stored YAML) -> BuiltModel, with archscope's blocks or ``builder``'s code."""
    from archscope.build.builder import BuildOptions, build_model
    from archscope.build.external import build_external, parse_builder
    from archscope.spec.checkpoint import is_checkpoint_name, read_checkpoint
    from archscope.spec.model_spec import load_spec

    chosen = parse_builder(builder)
    source, scale = split_scale(source, scale)
    if blocks:
        from archscope.build.plugins import load_blocks

        for item in blocks:
            load_blocks(item)
    checkpoint = isinstance(source, (str, os.PathLike)) and is_checkpoint_name(os.fspath(source))
    if checkpoint:
        spec = load_spec(read_checkpoint(os.fspath(source)).yaml, name=os.fspath(source))
    else:
        spec = load_spec(source)
    options = BuildOptions(scale=scale, nc=nc, ch=ch, imgsz=parse_imgsz(imgsz), batch=batch)
    if not chosen.native:
        if not isinstance(source, (str, os.PathLike)):
            raise ArchscopeError(f"--builder {chosen} builds a model file; give its path, not a dict")
        return build_external(spec, os.fspath(source), options, chosen, fuse=fuse, checkpoint=checkpoint)
    built = build_model(spec, options)
    if fuse:
        from archscope.build.fuse import deploy_built

        built = deploy_built(built)
    return built


def _module_source(source: Any, input_size: Any, inputs: Any, *, imgsz: Any, batch: int, ch: int | None
                   ) -> tuple[Any, Any, Any, str, bool] | None:
    """(module, input_size, example inputs, name, already on meta) for an nn.Module or a ``pkg.module:factory``
    source; None for a model file or dict."""
    if hasattr(source, "named_children") and callable(getattr(source, "forward", None)):
        return source, input_size, inputs, type(source).__name__, False
    if not (isinstance(source, str) and is_factory_name(source)):
        if input_size is not None or inputs is not None:
            raise ArchscopeError("input_size and example_inputs are for an nn.Module; a model YAML takes imgsz")
        return None
    from archscope.build.modules import call_factory

    if input_size is None and inputs is None:
        h, w = parse_imgsz(imgsz)
        input_size = (batch, ch or 3, h, w)
    return call_factory(source), input_size, inputs, source, True


_FILE_SUFFIXES = (".yaml", ".yml", ".json", ".pt", ".pth", ".ckpt")


def is_factory_name(text: str) -> bool:
    """``pkg.module:factory``: a dotted module, one colon, a dotted attribute; not a file that exists, and not
    ``file.yaml:scale``."""
    import re

    if os.path.exists(text) or not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*", text):
        return False
    return not text.partition(":")[0].lower().endswith(_FILE_SUFFIXES)


def _crosscheck(built: BuiltModel, counter: str, report: ModelReport, ops: Any = None) -> dict[str, Any]:
    """Run a third-party counter on a real CPU copy of the model and put its totals beside archscope's, with the
    gap explained module by module from archscope's per-op records ``ops``."""
    import copy

    import torch

    from archscope.analysis.crosscheck import crosscheck
    from archscope.build.materialize import materialize

    real = copy.copy(built)
    real.model = copy.deepcopy(built.model)
    model = materialize(real, device="cpu")
    x = torch.randn(built.batch, built.ch, *built.imgsz, generator=torch.Generator().manual_seed(0))
    result = crosscheck(model, (x,), counter, ops)
    return {
        "counter": counter,
        "package": result.package,
        "version": result.version,
        "macs": result.macs,
        "flops_x2": result.flops_x2,
        "archscope_mac_flops": report.totals.mac_flops,
        "explanation": result.explanation,
        "unsupported_ops": result.unsupported_ops,
        "gap": [g.to_dict() for g in result.gap],
    }


# --- compare, snapshot, check: they work on reports; a YAML is profiled first, a report JSON read as it is ----------

if TYPE_CHECKING:
    from archscope.check.gate import CheckReport
    from archscope.check.targets import CheckTarget
    from archscope.compare.comparison import Comparison, Measurement
    from archscope.spec.sources import Source

Measure = Callable[..., "Measurement"]  # (source, *, imgsz, batch, dtype, device) -> Measurement


def compare(
    sources: Sequence[str | Source | ModelReport],
    *,
    imgsz: int | str | tuple[int, int] = 640,
    batch: int = 1,
    dtype: str = "fp32",
    nc: int | None = None,
    ch: int | None = None,
    device_spec: str = "cpu",
    bench: bool = False,
    bench_device: str = "auto",
    measure: Measure | None = None,
    fuse: bool = False,
    threads: int | None = None,
    warmup: int | None = None,
    runs: int | None = None,
    min_time: float | None = None,
    progress: Progress | None = None,
    attention: str | None = None,
    builder: str | Sequence[str] | None = None,
) -> Comparison:
    """Profile (or read) two or more models and put them side by side; the first is the reference.

    ``sources``: YAML paths (``"m.yaml:s"`` picks a scale), report JSON paths, or ModelReports. ``bench=True`` adds
    measured latency of every YAML model through ``measure`` (default: archscope bench) on the torch device
    ``bench_device``, with bench's ``threads``, ``warmup``, ``runs`` and ``min_time`` (passed on only when given);
    ``progress(phase, done, total)`` follows it, each phase named after its model. The default measure's trust
    warnings (:mod:`archscope.measure.trust`) join the comparison's notes, named after their model. ``fuse``: every
    YAML is profiled (and benched) deployed, as :func:`profile` with ``fuse=True``; a report JSON stays as it was
    made. ``attention``: as :func:`profile`'s. The layers that differ between YAML models are broken down op by op
    (:func:`explain_layers`) into ``comparison.breakdowns``.
    made. ``builder`` (see :func:`profile`): one for every model, or a list with one per model (``"native"`` for
    archscope's own blocks), so a fork's model stands beside a native one.
    """
    from archscope.compare.comparison import compare_reports
    from archscope.devices.presets import load_device
    from archscope.spec.sources import Source, parse_source

    if len(sources) < 2:
        raise ArchscopeError(f"compare needs at least two models (got {len(sources)}); "
                             f"to look at one, use archscope profile")
    device = load_device(device_spec)
    reports: list[ModelReport] = []
    names: list[str] = []
    measured: list[Measurement | None] = []
    bench_notes: list[str] = []
    timing = {k: v for k, v in {"threads": threads, "warmup": warmup, "runs": runs, "min_time": min_time}.items()
              if v is not None}  # a custom measure without these keywords still works with the defaults
    builders = _per_model(builder, len(sources))
    if measure is None:
        def measure(source: Source, **options: Any) -> Measurement:
            return bench_measure(source, notes=bench_notes, **options)
    for item, chosen in zip(sources, builders):
        if isinstance(item, ModelReport):
            reports.append(item)
            names.append(item.model.path)
            measured.append(None)
            continue
        source = item if isinstance(item, Source) else parse_source(item)
        built_by: dict[str, Any] = {"builder": chosen} if chosen not in (None, "native") else {}
        reports.append(load_source(source, imgsz=imgsz, batch=batch, dtype=dtype, nc=nc, ch=ch,
                                   device_spec=device_spec, fuse=fuse, attention=attention, **built_by))
        names.append(str(source))
        run = bench and not source.is_report
        deployed: dict[str, Any] = {"fuse": True} if fuse else {}  # a custom measure without fuse works unfused
        if run and progress is not None:
            deployed["progress"] = _named_progress(progress, os.path.basename(str(source)))
        measured.append(measure(source, imgsz=imgsz, batch=batch, dtype=dtype, device=bench_device, **timing,
                                **deployed, **built_by) if run else None)
    comparison = compare_reports(reports, device=device, sources=names, measurements=measured)
    comparison.notes += bench_notes
    comparison.breakdowns = _changed_breakdowns(comparison, sources, imgsz=imgsz, batch=batch, dtype=dtype, nc=nc,
                                                ch=ch, device=device, attention=attention, fuse=fuse)
    return comparison


#: At most this many differing layers are broken down op by op in a comparison (each model's).
MAX_BREAKDOWN_LAYERS = 4


def _changed_breakdowns(comparison: Comparison, sources: Sequence[Any], *, device: DeviceSpec,
                        **options: Any) -> list[LayerBreakdown]:
    """The layers that differ (index alignment, YAML models only), op by op, model after model."""
    from archscope.spec.sources import Source, parse_source

    if comparison.alignment != "index":
        return []
    changed = [int(row.key) for row in comparison.layers if row.changed and row.key.isdigit()]
    changed = [i for i in changed if any(r.attention_flops for r in _layer_reports(comparison, i))]
    changed = changed[:MAX_BREAKDOWN_LAYERS]
    if not changed:
        return []
    out: list[LayerBreakdown] = []
    for item in sources:
        if isinstance(item, ModelReport):
            continue
        source = item if isinstance(item, Source) else parse_source(item)
        if source.is_report:
            continue
        here = [i for i in changed if i < len(comparison.reports[0].layers)]
        out += explain_layers(source.path, here, scale=source.scale, device_spec=device, **options)
    return out


def _layer_reports(comparison: Comparison, index: int) -> list[Any]:
    return [r.layers[index] for r in comparison.reports if index < len(r.layers)]
def _per_model(builder: str | Sequence[str] | None, count: int) -> list[str | None]:
    """compare's ``builder``: none, one for all models, or one per model."""
    if builder is None or isinstance(builder, str):
        return [builder for _ in range(count)]
    chosen: list[str | None] = list(builder)
    if len(chosen) == 1:
        return chosen * count
    if len(chosen) != count:
        raise ArchscopeError(f"--builder given {len(chosen)} times for {count} models: give it once (for every "
                             f"model) or once per model, in order (native for archscope's own blocks)")
    return chosen


def _named_progress(progress: Progress, name: str) -> Progress:
    return lambda phase, done, total: progress(f"{name}: {phase}", done, total)


def bench_measure(
    source: Source, *, imgsz: int | str | tuple[int, int], batch: int, dtype: str, device: str, fuse: bool = False,
    notes: list[str] | None = None, builder: str | None = None, **timing: Any,
) -> Measurement:
    """The default ``measure`` of compare: archscope bench's median forward time, and per layer where it has it.
    ``timing``: bench's threads, warmup, runs, min_time and progress; the run's trust warnings are appended to
    ``notes`` (named after the model) when it is given."""
    from archscope.compare.comparison import Measurement
    from archscope.measure.trust import is_warning

    result = bench(source.path, scale=source.scale, imgsz=imgsz, batch=batch, device=device, dtype=dtype,
                   per_layer=True, fuse=fuse, builder=builder, **timing)
    if notes is not None:
        notes += [f"{source}: {note}" for note in getattr(result, "notes", ()) if is_warning(note)]
    timed = result.batches[0]
    layer_ms = {row.index: row.median_ms for row in timed.layers or ()}
    return Measurement(timed.median_ms, layer_ms or None, result.environment.device)


def snapshot(
    source: str | os.PathLike,
    *,
    scale: str | None = None,
    imgsz: int | str | tuple[int, int] = 640,
    batch: int = 1,
    dtype: str = "fp32",
    nc: int | None = None,
    ch: int | None = None,
    device_spec: str | None = None,
    fuse: bool = False,
) -> ModelReport:
    """A baseline: the model's report, plus the settings it was made with so that ``check`` rebuilds it the same way."""
    settings: dict[str, Any] = {"scale": scale, "imgsz": list(parse_imgsz(imgsz)), "batch": batch, "dtype": dtype,
                                "nc": nc, "ch": ch, "device_spec": device_spec, "fuse": fuse}
    report = profile(source, **settings)
    report.settings = settings
    return report


def check(targets: Sequence[CheckTarget], *, blocks: Sequence[str] = (), config: str | None = None,
          cache: bool = False, builder: str | None = None) -> CheckReport:
    """Profile every target and run its gates (budgets and/or baseline).

    ``blocks`` names user block files or modules to register first. With ``cache=True`` a check whose inputs are
    all unchanged since one that ran to a verdict is answered from :mod:`archscope.check.cache` without importing
    torch (the report then says ``cached``), and a fresh verdict is stored there; ``config`` is the pyproject.toml
    the targets came from, whose ``[tool.archscope]`` table is part of the key. ``builder`` builds every target
    with that code (see :func:`profile`); such a check is never cached (their code may change under it)."""
    key = None
    if cache and builder in (None, "native"):
        from archscope.check import cache as verdicts

        key = verdicts.cache_key(targets, blocks=blocks, config=config)
        hit = verdicts.load(key) if key else None
        if hit is not None:
            hit.cached = True
            return hit
    outcome = _check(targets, blocks, builder)
    if key:
        verdicts.store(key, outcome)
    return outcome


def _check(targets: Sequence[CheckTarget], blocks: Sequence[str], builder: str | None = None) -> CheckReport:
    from archscope.check.gate import CheckReport, check_baseline, check_budgets
    from archscope.reports.profile import read_report

    if blocks:
        from archscope.build.plugins import load_blocks

        for item in blocks:
            load_blocks(item)
    outcome = CheckReport()
    for target in targets:
        baseline = read_report(target.baseline) if target.baseline else None
        train = target.budgets.train_memory is not None  # the training step is profiled only when it is gated
        report = profile(target.path, builder=builder, **rerun_settings(target, baseline), train=train)
        if target.budgets.any:
            outcome.results += check_budgets(report, target.budgets, label=target.label)
        if baseline is not None:
            outcome.results += check_baseline(report, baseline, target.tolerance, label=target.label)
    return outcome


def rerun_settings(target: CheckTarget, baseline: ModelReport | None) -> dict[str, Any]:
    """Profile options for a check: the defaults, then what the baseline was made with, then the target's own."""
    settings: dict[str, Any] = {"scale": None, "imgsz": 640, "batch": 1, "dtype": "fp32", "nc": None, "ch": None,
                                "device_spec": None, "fuse": False, "attention": None}
    if baseline is not None:
        m = baseline.model
        recorded = baseline.settings or {"scale": m.scale, "imgsz": m.imgsz, "batch": m.batch, "dtype": m.dtype,
                                         "device_spec": m.device_spec}  # a plain report: its resolved settings
        settings.update({k: v for k, v in recorded.items() if k in settings})
        settings["fuse"] = bool(recorded.get("fuse", m.fused))  # settings written before --fuse: the report's
        # how the baseline's roofline ran attention (a report from before --attention: eager, as all ran then)
        settings["attention"] = recorded.get("attention", m.attention or ("eager" if m.device_spec else None))
    mine = {"scale": target.scale, "imgsz": target.imgsz, "batch": target.batch, "dtype": target.dtype,
            "nc": target.nc, "ch": target.ch, "device_spec": target.device_spec, "fuse": target.fuse,
            "attention": target.attention}
    settings.update({k: v for k, v in mine.items() if v is not None})
    if isinstance(settings["imgsz"], list):
        settings["imgsz"] = tuple(settings["imgsz"])
    return settings


def parse_batches(value: int | str | list[int] | tuple[int, ...]) -> tuple[int, ...]:
    """``8`` -> (8,); ``"1,8,32"`` or ``[1, 8, 32]`` -> (1, 8, 32): positive, in the order given, no repeats."""
    parts: list[int | str | None]
    if isinstance(value, (list, tuple)):
        parts = list(value)
    elif isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
    else:
        parts = [value]
    sizes: list[int] = []
    for part in parts:
        if isinstance(part, bool):
            part = None
        try:
            size = int(part) if isinstance(part, (int, str)) and str(part).strip().lstrip("+").isdigit() else None
        except ValueError:
            size = None
        if size is None or size < 1:
            raise ArchscopeError(f"--batch must be a positive integer or a comma-separated list such as 1,8,32, "
                                 f"got {value!r}")
        sizes.append(size)
    return tuple(dict.fromkeys(sizes))


DEFAULT_RUNS, DEFAULT_MIN_TIME, MIN_TIME_FLOOR_RUNS = 10, 1.0, 3


def timing_plan(runs: int | None, min_time: float | None) -> tuple[int, float]:
    """(at least this many timed runs, at least this many seconds of them). ``--runs N`` alone: exactly N runs;
    ``--min-time S`` alone: S seconds, at least 3 runs; both: both hold; neither: 10 runs and 1 s."""
    if runs is not None and (isinstance(runs, bool) or not isinstance(runs, int) or runs < 1):
        raise ArchscopeError(f"--runs must be a positive integer, got {runs!r}")
    if min_time is not None and not (isinstance(min_time, (int, float)) and 0 < min_time < float("inf")):
        raise ArchscopeError(f"--min-time must be a positive number of seconds, got {min_time!r}")
    if runs is None and min_time is None:
        return DEFAULT_RUNS, DEFAULT_MIN_TIME
    if min_time is None:
        assert runs is not None  # both None returned above
        return runs, 0.0
    return (runs if runs is not None else MIN_TIME_FLOOR_RUNS), float(min_time)


def bench(
    source: str | os.PathLike | dict[str, Any],
    *,
    scale: str | None = None,
    nc: int | None = None,
    ch: int | None = None,
    imgsz: int | str | tuple[int, int] = 640,
    batch: int | str | list[int] = 1,
    device: str = "auto",
    dtype: str = "fp32",
    channels_last: bool = False,
    fuse: bool = False,
    compile: bool = False,
    threads: int | None = None,
    warmup: int = 3,
    runs: int | None = None,
    min_time: float | None = None,
    seed: int = 0,
    per_layer: bool = False,
    device_spec: str | None = None,
    progress: Progress | None = None,
    builder: str | None = None,
) -> BenchReport:
    """Time real forward passes of a model YAML (random weights seeded by ``seed``); return a BenchReport.

    ``batch`` is one size or several (``[1, 8]`` or ``"1,8"``): one statistics block each. ``device`` is auto, cpu,
    cuda, cuda:N or mps; ``dtype`` fp32, fp16 or bf16. ``runs``/``min_time``: see :func:`timing_plan`.
    ``per_layer`` also times every YAML layer alone, beside its roofline time on ``device_spec`` (default: the
    preset saved by ``archscope calibrate --save-default``, else the generic ``cpu`` preset).
    ``progress(phase, done, total)`` is called as the runs go. ``source`` may be ``"m.yaml:s"``, as in
    :func:`profile`. The report's notes end with the warnings of :mod:`archscope.measure.trust` when the numbers are
    not to be trusted (wide spread, mean far from median, a loaded machine, a throttled CPU). ``builder``: see
    :func:`profile` (their model, timed with random weights as any other).
    """
    from archscope.measure.runner import BenchOptions, resolve_device, run_bench, target_for

    if dtype not in BENCH_DTYPES:
        raise ArchscopeError(f"--dtype must be one of {', '.join(BENCH_DTYPES)} for timing, got {dtype!r}")
    for name, value, low in (("--warmup", warmup, 0), ("--seed", seed, 0), ("--threads", threads, 1)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            raise ArchscopeError(f"{name} must be an integer >= {low}, got {value!r}")
    at_least_runs, at_least_seconds = timing_plan(runs, min_time)
    batches = parse_batches(batch)
    hw = parse_imgsz(imgsz)
    target = target_for(resolve_device(device))
    roofline_device, origin, notes = _roofline_device(device_spec, dtype)

    built = _build_yaml(source, scale=scale, nc=nc, ch=ch, imgsz=hw, batch=batches[0], blocks=(), fuse=False,
                        builder=builder)
    options = BenchOptions(batches=batches, device=device, dtype=dtype, channels_last=channels_last, fuse=fuse,
                           compile=compile, threads=threads, warmup=warmup, runs=at_least_runs,
                           min_time=at_least_seconds, seed=seed, per_layer=per_layer)
    return run_bench(built, options, target=target, roofline_device=roofline_device, roofline_origin=origin,
                     notes=notes, progress=progress)


def _roofline_device(device_spec: str | None, dtype: str) -> tuple[DeviceSpec | None, str, list[str]]:
    """(DeviceSpec or None, where it came from, notes) for the roofline prediction beside the measured times."""
    from archscope.devices.presets import get_preset, load_device
    from archscope.devices.spec import saved_default_device

    if device_spec is not None:
        spec = load_device(device_spec)
        if spec.relative_only:
            raise ArchscopeError(f"--device-spec {device_spec}: this preset predicts relative units only (a "
                                 f"published ridge point), which cannot stand beside measured milliseconds")
        spec.peak(dtype)  # fail now, naming the dtypes it has
        return spec, "option", []
    saved = saved_default_device()
    if saved is not None:
        spec, origin = saved[0], f"saved default ({saved[1]})"
    else:
        spec, origin = get_preset("cpu"), "generic preset"
    if dtype not in spec.peak_flops:
        return None, origin, [f"no roofline prediction: device spec '{spec.name}' ({origin}) has no {dtype} peak"]
    hint = [] if saved else ["pred ms is for the generic 'cpu' preset, not this machine: 'archscope calibrate "
                             "--save-default' measures this one, or give --device-spec"]
    return spec, origin, hint


def load_source(source: Source | str, **options: Any) -> ModelReport:
    """Profile a YAML with ``options`` (archscope.profile's keywords), or read a report JSON as recorded."""
    from archscope.reports.profile import read_report
    from archscope.spec.sources import Source, parse_source

    if not isinstance(source, Source):
        source = parse_source(source)
    if source.is_report:
        if source.scale:
            raise ArchscopeError(f"a report JSON has its scale fixed; drop ':{source.scale}'", file=source.path)
        return read_report(source.path)
    return profile(source.path, scale=source.scale, **options)


def explain(
    source: str | os.PathLike,
    layer: int,
    *,
    scale: str | None = None,
    nc: int | None = None,
    ch: int | None = None,
    imgsz: int | str | tuple[int, int] = 640,
    batch: int = 1,
    dtype: str = "fp32",
    device_spec: str = "cpu",
    attention: str | None = None,
    blocks: list[str] | tuple[str, ...] = (),
    fuse: bool = False,
) -> LayerBreakdown:
    """Layer ``layer`` of a model YAML op by op (:mod:`archscope.analysis.breakdown`): its operator groups with
    FLOPs, bytes, intensity, roofline time and bound on ``device_spec``, with attention run ``attention`` ("eager"
    or "fused"; default: the device's), and for an attention layer the finding in words."""
    return explain_layers(source, [layer], scale=scale, nc=nc, ch=ch, imgsz=imgsz, batch=batch, dtype=dtype,
                          device_spec=device_spec, attention=attention, blocks=blocks, fuse=fuse)[0]


def explain_layers(
    source: str | os.PathLike,
    layers: Sequence[int],
    *,
    scale: str | None = None,
    nc: int | None = None,
    ch: int | None = None,
    imgsz: int | str | tuple[int, int] = 640,
    batch: int = 1,
    dtype: str = "fp32",
    device_spec: str | DeviceSpec = "cpu",
    attention: str | None = None,
    blocks: list[str] | tuple[str, ...] = (),
    fuse: bool = False,
) -> list[LayerBreakdown]:
    """:func:`explain` for several layers of one model, counted once."""
    from archscope.analysis.analyze import analyze
    from archscope.analysis.breakdown import breakdown
    from archscope.build.builder import BuildOptions, build_model
    from archscope.devices.presets import load_device
    from archscope.devices.roofline import attention_mode
    from archscope.spec.model_spec import load_spec

    if dtype not in ANALYSIS_DTYPES:
        raise ArchscopeError(f"--dtype must be one of {', '.join(ANALYSIS_DTYPES)}, got {dtype!r}")
    device = load_device(device_spec)
    device.peak(dtype)
    attention_mode(device, attention)
    path, scale = split_scale(source, scale)
    if blocks:
        from archscope.build.plugins import load_blocks

        for item in blocks:
            load_blocks(item)
    spec = load_spec(path)
    built = build_model(spec, BuildOptions(scale=scale, nc=nc, ch=ch, imgsz=parse_imgsz(imgsz), batch=batch))
    if fuse:
        from archscope.build.fuse import deploy_built

        built = deploy_built(built)
    n = len(built.layers)
    for index in layers:
        if not 0 <= index < n:
            raise ArchscopeError(f"--layer {index}: the model has layers 0-{n - 1}", file=str(path))
    costs = analyze(built, dtype=dtype, legacy=False)
    name = os.path.basename(str(path))
    return [breakdown(costs, built.model, i, device, attention=attention, name=name,
                      module=built.layers[i].module) for i in layers]
# --- sweep: many points of several models, the crossovers between them -------------------------------------------

if TYPE_CHECKING:
    from archscope.reports.sweep import SweepReport

SWEEP_BENCH_RUNS, SWEEP_BENCH_WARMUP = 5, 1  # --bench in a sweep: a small count per point (a sweep has many)


def sweep(
    sources: Sequence[str],
    *,
    imgsz: str | Sequence[int] = "224,256,320,384,448,512,640,768,896,1024,1280",
    batch: int | str | list[int] = 1,
    dtype: str = "fp32",
    device_spec: str = "cpu",
    nc: int | None = None,
    ch: int | None = None,
    fuse: bool = False,
    blocks: Sequence[str] = (),
    jobs: int = 1,
    layer: int | None = None,
    attention: str | None = None,
    bench: bool = False,
    bench_device: str = "auto",
    threads: int | None = None,
    warmup: int | None = None,
    runs: int | None = None,
    min_time: float | None = None,
    measure: Callable[..., Any] | None = None,
    progress: Progress | None = None,
) -> SweepReport:
    """Profile every model of ``sources`` at every square image size of ``imgsz`` and every batch of ``batch``
    (on the meta device, as :func:`profile`; ``jobs`` worker processes), and name the crossovers: for each pair of
    models, the image size where their predicted time order flips.

    ``imgsz``: ``"224,256,320"``, a range ``"256:1280:64"`` (stop included) or a list of ints. ``bench=True`` also
    times every point (archscope bench on ``bench_device``; by default ``runs`` 5 and ``warmup`` 1 per point, one
    point after the other in this process so that the timings do not compete); a point that does not fit the
    device's memory, or fails there, is kept with ``not_measured`` saying why. ``measure(source, *, imgsz, batch,
    dtype, device, threads, warmup, runs, min_time, fuse, per_layer)`` replaces the timing (it returns the median
    in ms, or with ``per_layer`` a pair: the median and the ``layer``'s median or None). ``layer``: also record that
    YAML layer's figures at every point, and compare models by its time (crossovers, plot) instead of the whole
    model's; with ``bench`` the layer is timed alone too (bench's ``per_layer``). ``attention`` ("eager" or
    "fused"; default: the device's) is how the roofline runs attention, as in :func:`profile`.
    """
    import time

    from archscope.analysis.sweep import PointTask, SweepSettings, parse_sizes, run_points
    from archscope.compare.sweep import find_crossovers
    from archscope.devices.presets import load_device
    from archscope.reports.sweep import SweepModel, SweepReport
    from archscope.spec.sources import parse_source

    if not sources:
        raise ArchscopeError("sweep needs at least one model YAML")
    if dtype not in ANALYSIS_DTYPES:
        raise ArchscopeError(f"--dtype must be one of {', '.join(ANALYSIS_DTYPES)}, got {dtype!r}")
    sizes = parse_sizes(imgsz)
    batches = parse_batches(batch)
    device = load_device(device_spec)
    device.peak(dtype)
    from archscope.devices.roofline import attention_mode

    mode = attention_mode(device, attention)
    parsed = [parse_source(str(s)) for s in sources]
    for source in parsed:
        if source.is_report:
            raise ArchscopeError("sweep profiles model YAMLs; a report JSON holds one size only", file=source.path)
    labels = _labels(parsed)
    tasks = [PointTask(label, source.path, source.scale, size, b, nc, ch)
             for label, source in zip(labels, parsed) for b in batches for size in sizes]
    if layer is not None and (isinstance(layer, bool) or not isinstance(layer, int) or layer < 0):
        raise ArchscopeError(f"--layer must be a YAML layer index >= 0, got {layer!r}")
    settings = SweepSettings(dtype=dtype, device_spec=device_spec, fuse=fuse, blocks=tuple(blocks), layer=layer,
                             attention=mode)
    started = time.perf_counter()
    points = run_points(tasks, settings, jobs=jobs)
    seconds = time.perf_counter() - started
    first = {p.model: p for p in reversed(points)}
    models = [SweepModel(label, source.path, os.path.splitext(os.path.basename(source.path))[0], source.scale,
                         first[label].params) for label, source in zip(labels, parsed)]
    def many(n: int, word: str) -> str:
        return f"{n} {word}{'s' if n != 1 else ''}"

    notes = [f"{many(len(points), 'point')} ({many(len(models), 'model')} x {many(len(sizes), 'size')} x "
             f"{many(len(batches), 'batch').replace('batchs', 'batches')}) counted on the meta device in "
             f"{seconds:.1f} s with {many(jobs, 'job')}"]
    report = SweepReport(models=models, points=points, device_spec=device.name,
                         predicted_unit="relative" if device.relative_only else "ms", dtype=dtype, imgsz=sizes,
                         batches=list(batches), notes=notes, layer=layer, attention=mode)
    if bench:
        report.bench = _bench_points(report, parsed, labels, bench_device=bench_device, dtype=dtype, fuse=fuse,
                                     threads=threads, warmup=warmup, runs=runs, min_time=min_time, measure=measure,
                                     progress=progress)
    report.crossovers = find_crossovers(report)
    report.findings = [c.message for c in report.crossovers]
    return report


def _labels(sources: Sequence[Source]) -> list[str]:
    """Each model's name in the sweep: the file's stem (with ``:scale``), numbered where two would be the same."""
    names = [os.path.splitext(os.path.basename(s.path))[0] + (f":{s.scale}" if s.scale else "") for s in sources]
    out: list[str] = []
    for name in names:
        label, k = name, 2
        while label in out:
            label, k = f"{name}#{k}", k + 1
        out.append(label)
    return out


def _bench_points(report: SweepReport, sources: Sequence[Source], labels: Sequence[str], *, bench_device: str,
                  dtype: str, fuse: bool, threads: int | None, warmup: int | None, runs: int | None,
                  min_time: float | None, measure: Callable[..., Any] | None, progress: Progress | None
                  ) -> dict[str, Any]:
    """Time every point of ``report`` in place (median ms), one after the other; return the bench settings."""
    if dtype not in BENCH_DTYPES:
        raise ArchscopeError(f"--dtype must be one of {', '.join(BENCH_DTYPES)} for timing, got {dtype!r}")
    runs = SWEEP_BENCH_RUNS if runs is None and min_time is None else runs
    warmup = SWEEP_BENCH_WARMUP if warmup is None else warmup
    timing_plan(runs, min_time)  # bad counts: said once, before the first point, not as every point's failure
    for name, value, low in (("--warmup", warmup, 0), ("--threads", threads, 1)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            raise ArchscopeError(f"{name} must be an integer >= {low}, got {value!r}")
    if measure is None:
        from archscope.measure.runner import resolve_device

        device = resolve_device(bench_device)  # a missing device: one error, not one per point

        def measure(source: Source, *, per_layer: bool = False, **options: Any) -> Any:
            result = bench(source.path, scale=source.scale, per_layer=per_layer, **options)
            timed = result.batches[0]
            if not per_layer:
                return timed.median_ms
            return timed.median_ms, next((r.median_ms for r in timed.layers or () if r.index == report.layer), None)
    else:
        device = bench_device
    by_label = dict(zip(labels, sources))
    for k, point in enumerate(report.points):
        if progress is not None:
            progress(f"bench {point.model} {point.size} px batch {point.batch}", k, len(report.points))
        try:
            layered = {"per_layer": True} if report.layer is not None else {}
            timed = measure(by_label[point.model], imgsz=point.size, batch=point.batch, dtype=dtype, device=device,
                            threads=threads, warmup=warmup, runs=runs, min_time=min_time, fuse=fuse, **layered)
            point.measured_ms, point.layer_measured_ms = timed if isinstance(timed, tuple) else (timed, None)
            point.measured_runs = runs
        except ArchscopeError as exc:  # does not fit memory, or the forward failed there: the point stays unmeasured
            point.not_measured = exc.message
    if progress is not None:
        progress("bench", len(report.points), len(report.points))
    refused = sum(1 for p in report.points if p.not_measured)
    if refused:
        report.notes.append(f"{refused} of {len(report.points)} points not timed (see not_measured), e.g.: "
                            f"{next(p.not_measured for p in report.points if p.not_measured)}")
    return {"device": device, "dtype": dtype, "threads": threads, "warmup": warmup, "runs": runs,
            "min_time": min_time, "fuse": fuse}

"""``archscope profile``: one model, layer by layer."""

from __future__ import annotations

from typing import Optional

import typer

from archscope.cli.common import Counter, Dtype, check_plot, emit_report, handles_errors, save_plot
from archscope.cli.options import (
    AttentionOption,
    BlocksOption,
    BuilderOption,
    ChannelsOption,
    ClassesOption,
    ColumnsOption,
    DeviceSpecOption,
    DtypeOption,
    FormatOption,
    FuseOption,
    LegacyDeviceOption,
    OutputOption,
    one_builder,
    split_device,
)


@handles_errors
def profile(
    model: str = typer.Argument(..., help="Model YAML (Ultralytics package or YOLOv5 repository dialect); "
                                "file.yaml:s picks scale s; a trained checkpoint (best.pt, its stored YAML); or "
                                "pkg.module:factory, a callable returning an nn.Module."),
    scale: Optional[str] = typer.Option(None, "--scale", "-s", help="Scale to build (default: the YAML's "
                                        "'scale' key, else its first scale)."),
    imgsz: str = typer.Option("640", "--imgsz", help="Input size: 640 or HxW such as 640x384."),
    batch: int = typer.Option(1, "--batch", "-b", help="Batch size."),
    nc: ClassesOption = None,
    ch: ChannelsOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
    depth: int = typer.Option(0, "--depth", "-d", help="Show sub-modules down to this depth under each layer."),
    dtype: DtypeOption = Dtype("fp32"),
    device_spec: DeviceSpecOption = None,
    device: LegacyDeviceOption = None,
    real: bool = typer.Option(False, "--real", help="Count on real CPU tensors instead of the meta device "
                              "(same figures, much slower)."),
    counter: Optional[Counter] = typer.Option(None, "--counter", help="Also report this tool's totals "
                                              "(optional extra: pip install 'archscope-yolo[fvcore]')."),
    blocks: BlocksOption = None,
    builder: BuilderOption = None,
    input_size: Optional[str] = typer.Option(None, "--input-size", help="For pkg.module:factory: the input shape, "
                                             "such as 1,3,224,224 (default: batch, ch, --imgsz)."),
    fuse: FuseOption = None,
    columns: ColumnsOption = None,
    attention: AttentionOption = None,
    train: bool = typer.Option(False, "--train", help="Also a training step on meta: weights, gradients, "
                               "optimizer state, activations saved for backward, the steady-state peak and its "
                               "phase, backward FLOPs."),
    optimizer: str = typer.Option("adamw", "--optimizer", help="With --train: sgd (with momentum), adam or adamw."),
    amp: bool = typer.Option(False, "--amp", help="With --train: fp16 autocast activations, fp32 master weights."),
    plot: Optional[str] = typer.Option(None, "--plot", help="Also draw the roofline with every layer as a point "
                                       "(.png, .svg or .html; on --device-spec, default cpu; needs matplotlib)."),
) -> None:
    """Per-layer parameters, shapes, FLOPs, bytes moved, arithmetic intensity and roofline time of a model YAML."""
    from archscope.api import profile as run_profile
    from archscope.util.files import check_writable

    device_spec, _ = split_device("profile", device, device_spec)
    if attention is not None and device_spec is None and not plot:
        from archscope.cli.options import note

        note("--attention changes only roofline times: give --device-spec too")
    if output:
        check_writable(output)  # fail before the work, not after it
    if plot:
        check_plot(plot)
        device_spec = device_spec or "cpu"  # the picture needs a roof
    report = run_profile(model, scale=scale, imgsz=imgsz, batch=batch, nc=nc, ch=ch, dtype=dtype.value,
                         device_spec=device_spec, depth=depth, real=real,
                         counter=counter.value if counter else None, blocks=blocks or (), fuse=bool(fuse),
                         attention=attention, train=train, optimizer=optimizer, amp=amp,
                         builder=one_builder(builder), input_size=input_size)
    emit_report(report, fmt, output, depth, columns)
    if plot:
        from archscope.compare.comparison import compare_reports
        from archscope.devices.presets import load_device

        save_plot(compare_reports([report], device=load_device(device_spec or "cpu")), plot)

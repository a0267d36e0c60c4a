"""Options several commands take, declared once (``Annotated``), so their flags and help cannot drift apart."""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Any, Optional

import typer

from archscope.cli.common import Dtype, OutputFormat

BlocksOption = Annotated[Optional[list[str]], typer.Option(
    "--blocks", metavar="<file>", help="A Python file (or module) with your own blocks; repeatable.")]
DtypeOption = Annotated[Dtype, typer.Option("--dtype", help="Element type for bytes moved and the roofline.")]
ClassesOption = Annotated[Optional[int], typer.Option("--nc", help="Number of classes (default: the YAML's nc).")]
ChannelsOption = Annotated[Optional[int], typer.Option(
    "--ch", help="Input channels (default: the YAML's ch, else 3).")]
FormatOption = Annotated[Optional[OutputFormat], typer.Option(
    "--format", "-f", help="Output format (default: table, or from the -o file's suffix).")]
FuseOption = Annotated[Optional[bool], typer.Option(
    "--fuse/--no-fuse", help="The deployed model, as Ultralytics' model.fuse() leaves it: BatchNorm folded into "
    "Conv/ConvTranspose, RepConv and RepVGGDW re-parameterised, the one-to-many branch of end-to-end heads dropped "
    "(default: not fused; check: the baseline's).")]
AttentionOption = Annotated[Optional[str], typer.Option(
    "--attention", metavar="eager|fused", help="How the roofline runs attention: eager (score matrices written and "
    "read back, as explicit matmul + softmax run) or fused (flash-style: only Q, K, V and the output move). "
    "Default: the device's usual runtime (see 'archscope devices').")]
BuilderOption = Annotated[Optional[list[str]], typer.Option(
    "--builder", metavar="<code>", help="Build the YAML with your own code instead of archscope's blocks: "
    "ultralytics (the installed package or a fork on PYTHONPATH), ultralytics:PATH (a fork's folder), yolov5:PATH, "
    "yolov7:PATH or yolov9:PATH (that repository's models/yolo.py); native is archscope's. This runs that code. "
    "compare: once for every model, or once per model in order.")]
OutputOption = Annotated[Optional[str], typer.Option("--output", "-o", help="Write the report to this file.")]


# ------------------------------------------------------------------------------------------------ formats
def format_choices(command: str) -> type[Enum]:
    """The ``--format`` choices of ``command``: the formats it writes (``archscope.vocab.COMMAND_FORMATS``), each
    with its aliases (``markdown`` for ``md``)."""
    from archscope.vocab import COMMAND_FORMATS, FORMAT_ALIASES

    names = [c for f in COMMAND_FORMATS[command]
             for c in (f, *(a for a, to in FORMAT_ALIASES.items() if to == f))]
    return Enum(f"{command.title()}Format", {c: c for c in names}, type=str)  # type: ignore[return-value]


def format_value(fmt: Any) -> Optional[str]:
    """The word a ``--format`` choice stands for (None when the option was not given)."""
    return None if fmt is None else str(fmt.value)


def _format_help(command: str, suffix: bool) -> str:
    from archscope.vocab import COMMAND_FORMATS

    names = [f for f in COMMAND_FORMATS[command] if f != "table"]
    return (f"Output format: table (default), {', '.join(names[:-1])}{' or ' if len(names) > 1 else ''}{names[-1]}"
            + ("; or from the -o file's suffix." if suffix else "."))


CheckFormat = format_choices("check")
DevicesFormat = format_choices("devices")
CheckFormatOption = Annotated[Optional[CheckFormat], typer.Option(  # type: ignore[valid-type]
    "--format", "-f", help=_format_help("check", suffix=False))]
DevicesFormatOption = Annotated[Optional[DevicesFormat], typer.Option(  # type: ignore[valid-type]
    "--format", "-f", help=_format_help("devices", suffix=False))]


# ------------------------------------------------------------------------------------------------ devices
# One vocabulary: --device-spec is the roofline device (a preset or a device file), --device the torch device that
# is timed on (bench, calibrate, compare --bench). The commands that time nothing still take --device, hidden, as
# the old spelling of --device-spec (with a one-line deprecation note), and say so when it names a torch device.
TORCH_DEVICES = "auto, cpu, cuda, cuda:N or mps"
_TORCH_DEVICE = re.compile(r"(auto|cpu|mps|cuda(:\d+)?)", re.IGNORECASE)

DeviceSpecOption = Annotated[Optional[str], typer.Option(
    "--device-spec", help="Roofline device: a preset (see 'archscope devices') or a YAML/JSON device file.")]
TorchDeviceOption = Annotated[str, typer.Option(
    "--device", help=f"Torch device to time on: {TORCH_DEVICES} (auto: cuda, else mps, else cpu).")]
LegacyDeviceOption = Annotated[Optional[str], typer.Option(
    "--device", hidden=True, help="The old spelling of --device-spec (deprecated): --device is the torch device "
    "to time on.")]


def is_torch_device(text: str) -> bool:
    """``cpu``, ``cuda``, ``cuda:1``, ``mps``, ``auto``: a torch device to time on (a preset named ``cpu`` too is
    reached as ``--device-spec cpu``)."""
    return _TORCH_DEVICE.fullmatch(text.strip()) is not None


def one_builder(values: Optional[list[str]]) -> Optional[str]:
    """The one ``--builder`` of a command that builds one model (given twice: an error)."""
    if not values:
        return None
    if len(set(values)) > 1:
        from archscope.errors import ArchscopeError

        raise ArchscopeError(f"--builder given {len(values)} times ({', '.join(values)}); this command builds one "
                             f"model: give it once")
    return values[0]


def note(message: str) -> None:
    typer.echo(f"archscope: note: {message}", err=True)


def split_device(command: str, device: Optional[str], device_spec: Optional[str], *, timed: bool = False
                 ) -> tuple[Optional[str], Optional[str]]:
    """(roofline device, torch device) of a command from its ``--device-spec`` and ``--device``.

    ``--device`` naming a torch device is the torch device; where nothing is timed (``timed`` false) one line says
    it changes nothing. ``--device`` naming anything else is the old spelling of ``--device-spec``: checked (a
    preset or a device file, else one error naming both meanings), then used, with a one-line deprecation note.
    """
    if device is None:
        return device_spec, None
    if is_torch_device(device):
        if not timed:
            note(f"{command} times nothing, so --device {device} (the torch device to time on) changes nothing; "
                 f"the roofline device is --device-spec (e.g. --device-spec {device if device == 'cpu' else 'a100'})")
        return device_spec, device
    from archscope.devices.presets import load_device
    from archscope.errors import ArchscopeError

    try:
        load_device(device)
    except ArchscopeError as exc:
        raise ArchscopeError(f"--device {device}: not a torch device ({TORCH_DEVICES}), and as the old spelling of "
                             f"--device-spec: {exc.message}", file=exc.file) from None
    if device_spec is not None and device_spec != device:
        raise ArchscopeError(f"two roofline devices: --device-spec {device_spec} and --device {device} (the old "
                             f"spelling of --device-spec); give --device-spec only")
    note(f"--device {device} for the roofline device is deprecated: write --device-spec {device} (--device is the "
         f"torch device to time on)")
    return device, None


# ------------------------------------------------------------------------------------------------ bench options
# What bench and compare --bench take to time a model, declared once.
ThreadsOption = Annotated[Optional[int], typer.Option(
    "--threads", help="torch intra-op CPU threads (default: torch's).")]
WarmupOption = Annotated[int, typer.Option("--warmup", help="Untimed forwards before timing.")]
RunsOption = Annotated[Optional[int], typer.Option(
    "--runs", help="At least this many timed forwards (alone: exactly this many). Default: 10 runs and 1 s.")]
MinTimeOption = Annotated[Optional[float], typer.Option(
    "--min-time", help="Keep timing until the timed forwards add up to this many seconds (at least 3 runs).")]


NoCacheOption = Annotated[bool, typer.Option(
    "--no-cache", help="Check afresh: neither read nor write the cache of verdicts (by default a check whose model, "
    "blocks, device and baseline files, options and archscope version are all unchanged answers from "
    "$XDG_CACHE_HOME/archscope/check without importing torch).")]


ColumnsOption = Annotated[Optional[list[str]], typer.Option(
    "--columns", metavar="<names>", help="The table's columns, in this order: comma-separated names such as "
    "params,gflops,bound (an unknown name lists them). By default every column that fits the width; the rest are "
    "named in one line under the table.")]

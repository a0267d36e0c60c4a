"""Options several commands take, declared once (``Annotated``), so their flags and help cannot drift apart."""

from __future__ import annotations

from typing import Annotated, Optional

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
OutputOption = Annotated[Optional[str], typer.Option("--output", "-o", help="Write the report to this file.")]
ColumnsOption = Annotated[Optional[list[str]], typer.Option(
    "--columns", metavar="<names>", help="The table's columns, in this order: comma-separated names such as "
    "params,gflops,bound (an unknown name lists them). By default every column that fits the width; the rest are "
    "named in one line under the table.")]

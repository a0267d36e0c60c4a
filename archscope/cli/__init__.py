"""The command line: one module per command, shared options in ``options``; each command parses its options,
calls :mod:`archscope.api` and hands the result to a renderer."""

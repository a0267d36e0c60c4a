"""Stage 3, the analysis: dispatch-level counting of FLOPs, bytes and memory on ``meta``, attributed to YAML layers
and sub-modules (``analyze.analyze(built) -> ModelCosts``), the op-cost rules, the GFLOPs conventions of other tools,
findings, cross-checks against fvcore/thop, and the step from costs to a ModelReport (``to_report``).

Importing this package imports nothing; the records are plain data and ``analyze`` imports torch when called."""

"""CI gates: budgets and baselines checked against reports, and the models named in ``[tool.archscope]``."""

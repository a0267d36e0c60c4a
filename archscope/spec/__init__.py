"""Stage 1, the input: a model YAML read safely with its line numbers, the two dialects and their scales, and
what a user names on the command line (``file.yaml:scale`` or a report JSON). No torch here."""

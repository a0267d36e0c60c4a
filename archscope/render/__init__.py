"""Stage 5, the output: reports -> terminal tables, JSON, CSV, Markdown, HTML and plots. Renderers read reports
only, never models. ``formats`` picks the format and the renderer of a profile report."""

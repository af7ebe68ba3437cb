"""Shared core: the typed pipeline config, the library's exceptions, JSON-safe values, memory hand-back,
the pipeline folder scan (standard library only: DAG files call it at parse time) and third-party private APIs."""

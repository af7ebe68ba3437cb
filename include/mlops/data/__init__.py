"""Data: sources (files, S3), preflight, landing and Great Expectations validation, quarantine, the lake,
labels and the prediction log, and the simulator that makes the example data."""

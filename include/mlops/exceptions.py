"""Specific exceptions. Each message says what failed, where, and what to do next."""


class MlopsError(Exception):
    """Base class for every error this library raises on purpose."""


class ConfigError(MlopsError):
    """The pipeline config file is missing, malformed or inconsistent."""


class SourceError(MlopsError):
    """The configured source could not produce a batch for the requested day."""


class DataValidationFailed(MlopsError):
    """A batch failed its expectation suite and was quarantined."""

    def __init__(self, message: str, summary: dict | None = None) -> None:
        super().__init__(message)
        self.summary = summary or {}


class InsufficientData(MlopsError):
    """Not enough curated partitions or rows to train or evaluate."""


class PromotionRejected(MlopsError):
    """The challenger did not beat the champion under the promotion policy."""


class PromotionConflict(MlopsError):
    """The champion alias moved between evaluation and promotion (compare-and-set failed)."""

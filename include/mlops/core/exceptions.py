"""Specific exceptions. Each message says what failed, where, and what to do next."""


class MlopsError(Exception):
    """Base class for every error this library raises on purpose."""


class ConfigError(MlopsError):
    """The pipeline config file is missing, malformed or inconsistent."""


class DataConfigMismatch(ConfigError):
    """The config does not fit the data: a named column is missing, or the label does not fit the task."""


class SourceError(MlopsError):
    """The configured source could not produce a batch for the requested day."""


class DataValidationFailed(MlopsError):
    """A batch failed its expectation suite and was quarantined."""

    def __init__(self, message: str, summary: dict | None = None) -> None:
        super().__init__(message)
        self.summary = summary or {}


class CuratedDayKept(DataValidationFailed):
    """A re-validation failed a day that is already curated; the day was left in ``curated/``, untouched,
    because moving published data out needs an explicit decision (``requarantine_curated``)."""


class InsufficientData(MlopsError):
    """Not enough curated partitions or rows to train or evaluate."""


class PromotionRejected(MlopsError):
    """The challenger did not beat the champion under the promotion policy."""


class PromotionConflict(MlopsError):
    """The champion alias moved between evaluation and promotion (compare-and-set failed)."""


class WindowInvalid(InsufficientData):
    """The training window asked for cannot be built: the holdout is not inside it, or a check result is malformed."""

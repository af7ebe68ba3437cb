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


class InvalidApproval(MlopsError):
    """What the promotion was handed as the approval task's answer is not one (a wiring mistake): nothing moved."""


class WindowInvalid(InsufficientData):
    """The training window asked for cannot be built: the holdout is not inside it, or a check result is malformed."""


class CandidateFailed(MlopsError):
    """A candidate could not be fitted or scored with its params (``ValueError``/``TypeError`` from
    scikit-learn): a retry would fail the same way. Its error is in the parent run."""

    def __init__(self, name: str, error: str) -> None:
        super().__init__(
            f"candidate {name!r} failed: {error}\nfix its entry in model.candidates (the error is in the parent "
            f"MLflow run, candidates/{name}/error.txt); the other candidates still compete"
        )
        self.name = name
        self.error = error


class NoCandidateSucceeded(MlopsError):
    """Every candidate failed or scored NaN: there is nothing to register."""


class NothingToScore(InsufficientData):
    """None of the days asked for is curated."""


class DayNotCurated(InsufficientData):
    """The day has no curated partition: it was quarantined, or never ingested. ``reason`` says which."""

    def __init__(self, ds: str, reason: str) -> None:
        super().__init__(f"{ds}: {reason}")
        self.ds = ds
        self.reason = reason


class ModelVersionNotFound(MlopsError):
    """The model version asked for does not exist in the registry."""


class NoChampion(MlopsError):
    """The registered model has no ``champion`` alias (or does not exist yet): there is nothing to score with."""


class CorruptPartition(MlopsError):
    """A partition file exists but is not readable Parquet (truncated, overwritten, damaged pages).

    Carries the file's ``uri`` and ``content_hash`` so a caller holding a pinned hash can tell "changed
    since it was checked" from "was always broken"."""

    def __init__(self, uri: str, content_hash: str, reason: str) -> None:
        super().__init__(
            f"{uri} is not readable Parquet ({reason}); the lake copy is damaged. Rebuild the partition by "
            "re-running ingest_and_validate for that day (it replaces the partition from the source), or delete "
            "it to go on without that day"
        )
        self.uri = uri
        self.content_hash = content_hash
        self.reason = reason


class CardFailed(MlopsError):
    """The evaluation card could not be built or recorded; ``stage`` says which step failed. The evaluation and
    its decision are unaffected."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(f"{stage} failed: {type(cause).__name__}: {cause}")
        self.stage = stage

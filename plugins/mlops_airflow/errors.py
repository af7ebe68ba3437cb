"""The one map from the library's errors to what Airflow does with them: fail at once, skip, or retry.

The library (``include.mlops``) raises typed errors (``include.mlops.core.exceptions``); it knows nothing of
Airflow. An operator's ``execute`` just calls the library; ``MlopsOperator`` (``mlops_airflow.operators.base``)
passes every ``MlopsError`` that escapes it through ``airflow_error`` once, here:

- **fail at once**: an ``AirflowFailException`` subclass named for what went wrong, with the library's message
  (the task runner does not retry it): a config, data or registry state that a retry would read again;
- **skip**: an ``AirflowSkipException`` with the library's message, where the error is an outcome for that
  operator (a rejected challenger, no champion to score with);
- **retry**: the error re-raised as it is (Airflow's retries apply). Every error not in the table, and every
  exception that is not an ``MlopsError`` (MLflow or S3 unreachable, a timeout), is retried.

``RULES`` holds the decision for every operator, most specific type first; ``OVERRIDES`` holds the few operators for
which the same library error means something else, by operator class name (a subclass inherits them).

Imported by every operator module at DAG parse time: the Task SDK and the library's exceptions (standard library
only), nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from include.mlops.core.exceptions import (
    CandidateFailed,
    ConfigError,
    CorruptPartition,
    CuratedDayKept,
    DataValidationFailed,
    InsufficientData,
    InvalidApproval,
    MlopsError,
    ModelVersionNotFound,
    NoCandidateSucceeded,
    NoChampion,
    NothingToScore,
    PromotionConflict,
    PromotionRejected,
    SourceError,
)
from mlops_airflow.params import InvalidRunParams


# -- fail at once: what Airflow shows (the task log, the runbook's table) ------------------------------------------
class PipelineConfigBroken(AirflowFailException):
    """The pipeline's config file is missing or invalid (or its pipeline left the folder), or it does not fit the
    data. Not retried: a person fixes the file; the message names it and the key."""


class SourceUnreadable(AirflowFailException):
    """The configured source could not produce the day's batch (or label feed): unreadable file, no file. Not
    retried: a person fixes the source; nothing was landed."""


class BatchQuarantined(AirflowFailException):
    """The day's batch failed validation and sits in quarantine. Not retried: the data will not change."""


class CuratedDayNotMoved(AirflowFailException):
    """A re-validation failed a day that is already curated; it was left there. Not retried: a person decides
    (fix the suite, or re-run with ``requarantine_curated``)."""


class TrainingDataRejected(AirflowFailException):
    """The training window is too small or degenerate. Not retried: more data must be ingested first."""


class PartitionDamaged(AirflowFailException):
    """A lake partition is not readable Parquet. Not retried: the message says how to rebuild it."""


class ModelVersionMissing(AirflowFailException):
    """The model version a task was given does not exist in the registry. Not retried: it will not appear."""


class NoChampionYet(AirflowFailException):
    """The model has no champion, and this task needs one. Not retried: a promotion must happen first."""


class CandidateRejected(AirflowFailException):
    """A candidate's estimator refused its params or its data (a ``ValueError``/``TypeError`` from fitting or
    scoring). Not retried: it would fail the same way. The other candidates still compete; the error is in the
    parent MLflow run (``candidates/<name>/error.txt``)."""


class NoCandidateLeft(AirflowFailException):
    """No candidate can be registered: every one failed (or scored NaN), or the plan never ran. Not retried: the
    message lists every candidate and what became of it."""


class ChampionMoved(AirflowFailException):
    """The champion moved after the challenger was evaluated against it, so it was not promoted (the
    compare-and-set lost). Not retried: the message says what to do."""


class PromotionRefused(AirflowFailException):
    """The registry refused to move an alias: the version was not blessed by an evaluation. Not retried."""


class RollbackTargetRefused(AirflowFailException):
    """A rollback was refused and nothing moved: there is no champion, or the target version does not exist
    or was never blessed by an evaluation nor champion before. Not retried: the message says what to do."""


class DriftDataMissing(AirflowFailException):
    """None of the window's days is curated or has logged predictions, or the champion's training data is
    unknown. Not retried: the window's ingestion or scoring (or the champion's lineage) must be fixed first."""


class NothingCurated(AirflowFailException):
    """None of the days asked for is curated. Not retried: ingest (or backfill) those days first."""


# -- the table ---------------------------------------------------------------------------------------------------
Outcome: TypeAlias = type[AirflowFailException] | type[AirflowSkipException] | None
Rules: TypeAlias = tuple[tuple[type[MlopsError], Outcome], ...]
RETRY: Outcome = None  # re-raised as it is

RULES: Rules = (  # most specific first: the first rule whose type the error is an instance of decides
    (CuratedDayKept, CuratedDayNotMoved),  # a DataValidationFailed
    (DataValidationFailed, BatchQuarantined),
    (ConfigError, PipelineConfigBroken),  # DataConfigMismatch too
    (SourceError, SourceUnreadable),
    (NothingToScore, NothingCurated),  # an InsufficientData: the scoring's "none of the days is curated"
    (InsufficientData, TrainingDataRejected),  # WindowInvalid, DayNotCurated too
    (CorruptPartition, PartitionDamaged),
    (ModelVersionNotFound, ModelVersionMissing),
    (NoChampion, NoChampionYet),
    (CandidateFailed, CandidateRejected),
    (NoCandidateSucceeded, NoCandidateLeft),
    (PromotionConflict, ChampionMoved),
    (PromotionRejected, PromotionRefused),
    (InvalidApproval, InvalidRunParams),  # the promotion was handed something that is not an approval answer
)

ROLLBACK_REFUSED: Rules = (
    (PromotionRejected, RollbackTargetRefused),
    (ModelVersionNotFound, RollbackTargetRefused),
    (NoChampion, RollbackTargetRefused),
)
OVERRIDES: Mapping[str, Rules] = {
    # the drift window, not a training window, lacks data
    "DriftCheckOperator": ((InsufficientData, DriftDataMissing),),
    # no champion yet: nothing to score with, the run is skipped (not failed)
    "ScoreBatchOperator": ((NoChampion, AirflowSkipException),),
    # a challenger the registry refuses to promote is an outcome of the run: skipped, with the reason
    "PromoteChallengerOperator": ((PromotionRejected, AirflowSkipException),),
    # a refused rollback: no champion, or a target that is missing or was never blessed
    "CheckRollbackTargetOperator": ROLLBACK_REFUSED,
    "RollbackChampionOperator": ROLLBACK_REFUSED,
}


def outcome_of(error: type[BaseException], operator: type | None = None) -> Outcome:
    """What an error of type ``error`` escaping ``operator``'s ``execute`` becomes: an Airflow exception type
    (fail at once or skip) or ``RETRY``. The operator's overrides (its class or a base class) come first."""
    rules: Rules = ()
    for klass in operator.__mro__ if operator is not None else ():
        rules += OVERRIDES.get(klass.__name__, ())
    for library_error, outcome in rules + RULES:
        if issubclass(error, library_error):
            return outcome
    return RETRY


def airflow_error(exc: BaseException, operator: type | None = None) -> BaseException | None:
    """The Airflow exception to raise instead of ``exc`` (same message), or None: re-raise ``exc`` as it is."""
    if not isinstance(exc, MlopsError):
        return None
    outcome = outcome_of(type(exc), operator)
    return None if outcome is None else outcome(str(exc))


__all__ = [
    "OVERRIDES",
    "RETRY",
    "RULES",
    "BatchQuarantined",
    "CandidateRejected",
    "ChampionMoved",
    "CuratedDayNotMoved",
    "DriftDataMissing",
    "ModelVersionMissing",
    "NoCandidateLeft",
    "NoChampionYet",
    "NothingCurated",
    "PartitionDamaged",
    "PipelineConfigBroken",
    "PromotionRefused",
    "RollbackTargetRefused",
    "SourceUnreadable",
    "TrainingDataRejected",
    "airflow_error",
    "outcome_of",
]

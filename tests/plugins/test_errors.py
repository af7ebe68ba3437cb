"""The one error map (``mlops_airflow.errors``): each library error fails the task at once, skips it or is retried,
and the operators' shared wrapper applies it to whatever escapes ``execute`` / ``execute_complete``."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from include.mlops.core import exceptions as lib
from mlops_airflow import errors
from mlops_airflow.operators.base import MlopsOperator
from mlops_airflow.params import InvalidRunParams

pytestmark = pytest.mark.unit


def _candidate_failed() -> lib.CandidateFailed:
    return lib.CandidateFailed("bad", "InvalidParameterError")


DEFAULTS = [
    (lib.ConfigError("bad key"), errors.PipelineConfigBroken),
    (lib.DataConfigMismatch("no column 'x'"), errors.PipelineConfigBroken),
    (lib.SourceError("unreadable file"), errors.SourceUnreadable),
    (lib.DataValidationFailed("2 failed", {}), errors.BatchQuarantined),
    (lib.CuratedDayKept("kept", {}), errors.CuratedDayNotMoved),
    (lib.InsufficientData("too few days"), errors.TrainingDataRejected),
    (lib.WindowInvalid("holdout outside the window"), errors.TrainingDataRejected),
    (lib.DayNotCurated("2026-03-04", "quarantined"), errors.TrainingDataRejected),
    (lib.NothingToScore("none curated"), errors.NothingCurated),
    (lib.CorruptPartition("s3://lake/x", "abc", "truncated"), errors.PartitionDamaged),
    (lib.ModelVersionNotFound("m has no version 9"), errors.ModelVersionMissing),
    (lib.NoChampion("m has no champion"), errors.NoChampionYet),
    (_candidate_failed(), errors.CandidateRejected),
    (lib.NoCandidateSucceeded("all failed"), errors.NoCandidateLeft),
    (lib.PromotionConflict("moved from 2 to 4"), errors.ChampionMoved),
    (lib.PromotionRejected("not blessed"), errors.PromotionRefused),
    (lib.InvalidApproval("not an answer"), InvalidRunParams),
    (lib.CardFailed("figures", ValueError("x")), None),  # never fails an evaluation: recorded as a warning
    (lib.MlopsError("columns the partition lacks"), None),  # a library error without a rule: retried
    (ConnectionError("mlflow unreachable"), None),
    (OSError("s3 timed out"), None),
    (ValueError("unknown"), None),
]


@pytest.mark.parametrize(("exc", "expected"), DEFAULTS, ids=lambda v: type(v).__name__ if v is not None else "RETRY")
def test_each_library_error_fails_at_once_or_is_retried(exc, expected):
    mapped = errors.airflow_error(exc)
    if expected is None:
        assert mapped is None  # re-raised as it is: Airflow's retries apply
    else:
        assert type(mapped) is expected and isinstance(mapped, AirflowFailException)
        assert str(mapped) == str(exc)  # the library's message, unchanged


OVERRIDDEN = [
    ("DriftCheckOperator", lib.InsufficientData("no curated day"), errors.DriftDataMissing),
    ("DriftCheckOperator", lib.NothingToScore("none"), errors.DriftDataMissing),  # an InsufficientData there too
    ("DriftCheckOperator", lib.ConfigError("x"), errors.PipelineConfigBroken),  # the defaults still apply
    ("ScoreBatchOperator", lib.NoChampion("no champion"), AirflowSkipException),
    ("ScoreBatchOperator", lib.NothingToScore("none curated"), errors.NothingCurated),
    ("ScoreBatchOperator", lib.ModelVersionNotFound("no version 9"), errors.ModelVersionMissing),
    ("PromoteChallengerOperator", lib.PromotionRejected("not better"), AirflowSkipException),
    ("PromoteChallengerOperator", lib.PromotionConflict("moved"), errors.ChampionMoved),
    ("CheckRollbackTargetOperator", lib.PromotionRejected("never blessed"), errors.RollbackTargetRefused),
    ("CheckRollbackTargetOperator", lib.ModelVersionNotFound("no version 99"), errors.RollbackTargetRefused),
    ("CheckRollbackTargetOperator", lib.NoChampion("no champion"), errors.RollbackTargetRefused),
    ("RollbackChampionOperator", lib.PromotionRejected("never blessed"), errors.RollbackTargetRefused),
    ("EvaluateChallengerOperator", lib.InsufficientData("holdout changed"), errors.TrainingDataRejected),
    ("EvaluateChallengerOperator", lib.ModelVersionNotFound("no version 99"), errors.ModelVersionMissing),
    ("TrainCandidateOperator", _candidate_failed(), errors.CandidateRejected),
    ("TrainChallengerOperator", lib.NoCandidateSucceeded("all failed"), errors.NoCandidateLeft),
]


def _operator_classes() -> dict[str, type]:
    import importlib

    for module in ("approval", "candidates", "drift", "ingest", "scoring", "shadow", "training", "trigger"):
        importlib.import_module(f"mlops_airflow.operators.{module}")
    found, todo = {}, [MlopsOperator]
    while todo:
        klass = todo.pop()
        found[klass.__name__] = klass
        todo += klass.__subclasses__()
    return found


@pytest.mark.parametrize(("operator", "exc", "expected"), OVERRIDDEN, ids=lambda v: getattr(v, "__name__", str(v)))
def test_an_operator_for_which_the_error_means_something_else_overrides_it(operator, exc, expected):
    mapped = errors.airflow_error(exc, _operator_classes()[operator])
    assert type(mapped) is expected and str(mapped) == str(exc)


def test_every_override_names_an_operator_and_every_operator_subclass_inherits_its_overrides():
    classes = _operator_classes()
    assert set(errors.OVERRIDES) <= set(classes), set(errors.OVERRIDES) - set(classes)

    class MyScoring(classes["ScoreBatchOperator"]):  # a subclass keeps what its base class decided
        pass

    assert errors.outcome_of(lib.NoChampion, MyScoring) is AirflowSkipException


def test_no_rule_is_shadowed_by_a_broader_one_before_it():
    """Most specific first: a rule after a rule for one of its base classes would never decide anything."""
    for rules in (errors.RULES, *errors.OVERRIDES.values()):
        for i, (later, _) in enumerate(rules):
            assert not [earlier for earlier, _ in rules[:i] if issubclass(later, earlier)], later


def test_every_library_error_has_a_decision_in_the_table_or_is_retried_on_purpose():
    retried = {lib.MlopsError, lib.CardFailed}
    library_errors = {v for v in vars(lib).values() if isinstance(v, type) and issubclass(v, lib.MlopsError)}
    undecided = {e for e in library_errors - retried if errors.outcome_of(e) is errors.RETRY}
    assert undecided == set(), f"add a rule to mlops_airflow.errors.RULES (or a reason to retry) for {undecided}"


class _Raising(MlopsOperator):
    def __init__(self, *, error: BaseException, **kwargs) -> None:
        super().__init__(**kwargs)
        self.error = error

    def execute(self, context):
        raise self.error

    def execute_complete(self, context, event):
        raise self.error


def test_the_shared_wrapper_applies_the_map_to_execute_and_execute_complete(capsys):
    op = _Raising(task_id="t", error=lib.InsufficientData("3 training days, at least 7"))
    with pytest.raises(errors.TrainingDataRejected, match="3 training days, at least 7") as raised:
        op.execute({})
    assert raised.value.__cause__ is None and raised.value.__suppress_context__  # the library error stays out
    with pytest.raises(errors.TrainingDataRejected):
        op.execute_complete({}, {})
    out = capsys.readouterr().out
    assert "OUTCOME FAILED (TrainingDataRejected): 3 training days, at least 7" in out  # the mapped name


def test_the_shared_wrapper_re_raises_what_a_retry_may_fix_as_it_is():
    unreachable = ConnectionError("mlflow unreachable")
    with pytest.raises(ConnectionError) as raised:
        _Raising(task_id="t", error=unreachable).execute({})
    assert raised.value is unreachable
    generic = lib.MlopsError("no rule")
    with pytest.raises(lib.MlopsError) as raised:
        _Raising(task_id="t", error=generic).execute({})
    assert raised.value is generic

"""Operators with their hooks/library patched where a service would be needed; ``execute()`` called directly."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace
from unittest import mock

import pytest
from airflow.sdk import Connection
from airflow.sdk.exceptions import AirflowSkipException

from mlops_airflow.hooks.mlflow_hook import MlflowHook
from mlops_airflow.operators.base import BatchQuarantined, ChampionMoved, TrainingDataRejected
from mlops_airflow.operators.candidates import (
    PlanCandidatesOperator,
    TrainCandidateOperator,
    TrainChallengerOperator,
)
from mlops_airflow.operators.ingest import GxValidateBatchOperator, LandBatchOperator, PublishBatchOperator
from mlops_airflow.operators.training import PromoteChallengerOperator
from mlops_airflow.runtime import partition_day, window_end
from mlops_dev.task_context import task_context

DAY = dt.date(2026, 3, 4)


context = task_context


def test_run_day_comes_from_the_data_interval_or_override_or_run_after():
    assert partition_day(context()) == DAY
    assert partition_day(context(), "2026-01-09") == dt.date(2026, 1, 9)
    assert partition_day(context(day=None)) == dt.date(2026, 5, 1)  # REST run with logical_date null
    assert window_end(context()) == DAY + dt.timedelta(days=1)
    assert window_end(context(day=None)) == dt.date(2026, 5, 2)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        partition_day(context(), "yesterday")


def test_constructors_do_no_io(monkeypatch, tmp_path):
    monkeypatch.setenv("MLOPS_CONFIG", str(tmp_path / "does-not-exist.yaml"))
    for op in (
        LandBatchOperator(task_id="a"),
        GxValidateBatchOperator(task_id="b"),
        PublishBatchOperator(task_id="c"),
        PlanCandidatesOperator(task_id="plan", window_check="{{ x }}"),
        TrainCandidateOperator(task_id="candidate", candidate="{{ y }}", window_check="{{ x }}"),
        TrainChallengerOperator(task_id="d", window_check="{{ x }}", candidates="{{ y }}", results=[]),
        PromoteChallengerOperator(task_id="e", evaluation={}),
    ):
        assert "config" not in op.__dict__  # loaded lazily, in execute()


def test_dates_and_partitions_are_templated():
    assert "ds" in LandBatchOperator.template_fields
    assert "ds" in GxValidateBatchOperator.template_fields
    for op in (PlanCandidatesOperator, TrainCandidateOperator, TrainChallengerOperator):
        assert "window_check" in op.template_fields


def test_land_validate_publish_one_day(make_config):
    cfg = make_config()
    landed = LandBatchOperator(task_id="land").execute(context())
    assert landed["ds"] == DAY.isoformat() and landed["rows"] > 0
    summary = GxValidateBatchOperator(task_id="validate").execute(context())
    assert summary["success"] is True
    from airflow.sdk import Asset

    op = PublishBatchOperator(task_id="publish", outlets=[Asset("test_curated")])
    ctx = context()
    published = op.execute(ctx)
    json.dumps([landed, summary, published])  # XCom stays JSON-safe
    assert ctx["outlet_events"][op.outlets[0]].extra["ds"] == DAY.isoformat()
    from include.mlops.data.lake import Lake

    assert Lake.at(cfg.lake_root).list_partitions("curated", cfg.dataset.name) == [DAY.isoformat()]


def test_a_bad_batch_is_quarantined_with_its_result_and_fails_without_retry(make_config):
    cfg = make_config(simulator={"faults": {DAY.isoformat(): "out_of_range"}})
    LandBatchOperator(task_id="land").execute(context())
    ctx = context()
    with pytest.raises(BatchQuarantined) as info:
        GxValidateBatchOperator(task_id="validate").execute(ctx)
    message = str(info.value)
    assert "expect_column_values_to_be_between on column 'amount'" in message
    assert "customer_age" in message and "rows" in message and "quarantine" in message
    pushed = ctx["ti"].xcom_push.call_args.kwargs
    assert pushed["key"] == "validation" and pushed["value"]["success"] is False
    from include.mlops.data.lake import Lake

    lake = Lake.at(cfg.lake_root)
    assert lake.list_partitions("quarantine", cfg.dataset.name) == [DAY.isoformat()]
    assert lake.list_partitions("curated", cfg.dataset.name) == []
    report = lake.read_json(f"quarantine/{cfg.dataset.name}/ds={DAY}/validation.json")
    assert {f["column"] for f in report["failed"]} == {"amount", "customer_age"}


ONE_CANDIDATE = {
    "name": "hgb",
    "estimator": "hist_gradient_boosting",
    "params": {},
    "parent_run_id": None,
    "split": None,
}


@pytest.mark.parametrize(
    "make_op",
    [
        lambda check: PlanCandidatesOperator(task_id="plan_candidates", window_check=check),
        lambda check: TrainCandidateOperator(task_id="train_candidate", candidate=ONE_CANDIDATE, window_check=check),
        lambda check: TrainChallengerOperator(
            task_id="train_challenger", window_check=check, candidates=[ONE_CANDIDATE], results=[ONE_CANDIDATE]
        ),
    ],
    ids=["plan_candidates", "train_candidate", "train_challenger"],
)
def test_training_refuses_a_window_check_that_is_not_one(make_config, make_op):
    make_config()
    with (
        mock.patch.object(MlflowHook, "client") as client,
        mock.patch("include.mlops.model.training.train_and_register") as train,
        pytest.raises(TrainingDataRejected, match="window_check"),
    ):
        make_op("None").execute(context())
    client.assert_not_called()  # refused before any MLflow call or fitting
    train.assert_not_called()


EVALUATION = {
    "model_name": "m",
    "challenger_version": "3",
    "champion_version": "2",
    "promote": True,
    "reason": "better",
}


def test_dry_run_never_touches_the_registry(make_config):
    make_config()
    with mock.patch("include.mlops.promotion.aliases.promote") as promote:
        with pytest.raises(AirflowSkipException, match="dry run"):
            PromoteChallengerOperator(task_id="p", evaluation=EVALUATION, dry_run=True).execute(context())
    promote.assert_not_called()


def test_rejection_skips_and_a_moved_champion_fails(make_config):
    from include.mlops.core.exceptions import PromotionConflict, PromotionRejected

    make_config()
    op = PromoteChallengerOperator(task_id="p", evaluation=EVALUATION)
    with mock.patch.object(MlflowHook, "client"):
        with mock.patch("include.mlops.promotion.aliases.promote", side_effect=PromotionRejected("not better")):
            with pytest.raises(AirflowSkipException, match="not better"):
                op.execute(context())
        with mock.patch("include.mlops.promotion.aliases.promote", side_effect=PromotionConflict("moved from 2 to 4")):
            with pytest.raises(ChampionMoved, match="moved from 2 to 4"):
                op.execute(context())
        result = SimpleNamespace(champion_version="3", previous_champion="2", as_dict=lambda: {"champion_version": "3"})
        with mock.patch("include.mlops.promotion.aliases.promote", return_value=result) as promote:
            assert op.execute(context()) == {"champion_version": "3", "status": "champion"}
        assert promote.call_args.args[1:] == ("m", "3", "2")


@pytest.mark.parametrize(
    ("conn", "expected"),
    [
        (
            Connection(conn_id="mlflow_default", conn_type="http", host="mlflow.internal", port=5000),
            "http://mlflow.internal:5000",
        ),
        (
            Connection(conn_id="mlflow_default", conn_type="http", host="https://mlflow.example.com"),
            "https://mlflow.example.com",
        ),
        (
            Connection(conn_id="mlflow_default", conn_type="http", extra='{"tracking_uri": "sqlite:///x.db"}'),
            "sqlite:///x.db",
        ),
    ],
)
def test_mlflow_hook_reads_the_tracking_uri_from_the_connection(conn, expected):
    with mock.patch.object(MlflowHook, "get_connection", return_value=conn):
        assert MlflowHook("mlflow_default").tracking_uri == expected


def test_mlflow_hook_without_connection_or_env_says_what_to_create(monkeypatch):
    from airflow.sdk.exceptions import AirflowNotFoundException

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with mock.patch.object(MlflowHook, "get_connection", side_effect=AirflowNotFoundException("nope")):
        with pytest.raises(RuntimeError, match="AIRFLOW_CONN_MLFLOW_X"):
            _ = MlflowHook("mlflow_x").tracking_uri


def test_every_log_ends_with_an_outcome_line_also_on_failure_and_skip(make_config, capsys):
    from mlops_airflow.operators.training import CheckTrainingWindowOperator
    from mlops_airflow.operators.trigger import TriggerRetrainingOperator

    make_config()
    with pytest.raises(TrainingDataRejected):
        CheckTrainingWindowOperator(task_id="check", window_days=5, holdout_days=5).execute(context())
    with pytest.raises(AirflowSkipException):
        TriggerRetrainingOperator(
            task_id="trigger",
            trigger_dag_id="train_and_promote",
            check={"ds": "2026-03-04", "trigger": False, "reason": "no drift today"},
        ).execute(context())
    out = capsys.readouterr().out  # the Task SDK logs through structlog to stdout
    outcomes = [line.split("] ", 1)[1] for line in out.splitlines() if "] OUTCOME " in line]
    assert outcomes[0].startswith("OUTCOME FAILED (TrainingDataRejected): holdout_days=5 must be")
    assert outcomes[1].startswith("OUTCOME NO TRIGGER: no drift today")
    assert len(outcomes) == 2  # one per try, never two


def test_the_trigger_raises_the_task_sdk_exception_with_the_checks_conf():
    from airflow.sdk.exceptions import DagRunTriggerException

    from mlops_airflow import links
    from mlops_airflow.operators.trigger import TriggerRetrainingOperator

    op = TriggerRetrainingOperator(
        task_id="trigger",
        trigger_dag_id="train_and_promote",
        check={
            "ds": "2026-03-04",
            "trigger": True,
            "reason": "drift",
            "conf": {"reason": "drift_monitor 2026-03-04: drift", "window_end": "2026-03-05"},
        },
    )
    with pytest.raises(DagRunTriggerException) as raised:
        op.execute(context())
    exc = raised.value
    assert (exc.trigger_dag_id, exc.dag_run_id, exc.logical_date) == ("train_and_promote", "drift__2026-03-04", None)
    assert exc.conf["window_end"] == "2026-03-05" and exc.skip_when_already_exists is True
    assert links.TriggeredRunLink().get_link(op, ti_key=None).endswith("/dags/train_and_promote/runs/drift__2026-03-04")

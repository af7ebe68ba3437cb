"""ApprovePromotionOperator and the promotion's reading of its answer, with ``execute()`` / ``execute_complete()``
called directly: the request written (upsert_hitl_detail patched: it talks to the task supervisor), the park
signal, the skip rules, the answer recorded, and a Reject ending the promotion as skipped with who and why."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from unittest import mock

import pytest
from airflow.sdk.exceptions import AirflowSkipException, TaskAwaitingInput

from mlops_airflow.operators.approval import ApprovePromotionOperator
from mlops_airflow.operators.training import PromoteChallengerOperator
from mlops_dev.task_context import task_context


@pytest.fixture
def blessed(make_config, mlflow_client):
    """A model with champion v1 and a blessed challenger v2; returns (make, evaluation summary)."""

    def make(**promotion):
        cfg = make_config(promotion=promotion, model={"name": f"approval_{uuid.uuid4().hex[:12]}"})
        name = cfg.model.name
        mlflow_client.create_registered_model(name)
        v1, v2 = (str(mlflow_client.create_model_version(name, source=f"file:///x/{i}").version) for i in range(2))
        for v in (v1, v2):
            mlflow_client.set_model_version_tag(name, v, "evaluation.decision", "promote")
        mlflow_client.set_registered_model_alias(name, "champion", v1)
        return cfg, {
            "model_name": name,
            "challenger_version": v2,
            "champion_version": v1,
            "promote": True,
            "reason": "better by +0.05",
            "primary_metric": "average_precision",
            "challenger_value": 0.6,
            "champion_value": 0.55,
        }

    return make


def ctx(**extra):
    return task_context(task_instance=mock.MagicMock(id="ti-uuid"), **extra)


def approve_op(evaluation, **kwargs):
    return ApprovePromotionOperator(task_id="approve_promotion", evaluation=evaluation, **kwargs)


def test_no_human_is_asked_when_the_config_says_never_or_nothing_is_to_be_approved(blessed):
    _, ev = blessed()
    with mock.patch("airflow.sdk.execution_time.hitl.upsert_hitl_detail") as upsert:
        with pytest.raises(AirflowSkipException, match="unattended"):
            approve_op(ev).execute(ctx())
        upsert.assert_not_called()


def test_on_drift_waits_only_in_a_drift_triggered_run(blessed):
    _, ev = blessed(approval="on_drift")
    with mock.patch("airflow.sdk.execution_time.hitl.upsert_hitl_detail") as upsert:
        with pytest.raises(AirflowSkipException, match="did not trigger"):
            approve_op(ev).execute(ctx())
        with pytest.raises(TaskAwaitingInput):
            approve_op(ev, monitoring_run_id="abc123").execute(ctx(run_id="drift__2026-10-12"))
        assert upsert.call_count == 1


def test_a_blessed_challenger_parks_the_task_with_the_request_and_pages(blessed, caplog):
    cfg, ev = blessed(approval="always", approvers=["alice", "bob"], approval_timeout="90m")
    with mock.patch("airflow.sdk.execution_time.hitl.upsert_hitl_detail") as upsert, caplog.at_level(logging.WARNING):
        with pytest.raises(TaskAwaitingInput) as parked:
            approve_op(ev, reason="weekly, {{ 7*7 }}").execute(ctx())
    assert parked.value.method_name == "execute_complete" and parked.value.timeout == dt.timedelta(minutes=90)
    request = upsert.call_args.kwargs
    assert request["ti_id"] == "ti-uuid" and request["options"] == ["Approve", "Reject"]
    assert request["defaults"] == ["Reject"] and request["multiple"] is False
    assert request["assigned_users"] == [{"id": "alice", "name": "alice"}, {"id": "bob", "name": "bob"}]
    assert request["params"]["comment"]["source"] == "task"
    assert f"version {ev['challenger_version']}" in request["subject"]
    assert "better by +0.05" in request["body"] and "weekly, {{ 7*7 }}" in request["body"]
    assert "No answer within 90m rejects" in request["body"]
    paged = [r.getMessage() for r in caplog.records if "APPROVAL NEEDED" in r.getMessage()]
    assert paged and "/required_actions" in paged[0] and "approvers: alice, bob" in paged[0]


@pytest.mark.parametrize(
    ("event", "approved", "tag", "value"),
    [
        (
            {"chosen_options": ["Approve"], "params_input": {"comment": "ok"}, "responded_by_user": {"id": "alice"}},
            True,
            "promotion.approved_by",
            "alice",
        ),
        (
            {"chosen_options": ["Reject"], "params_input": {"comment": "no"}, "responded_by_user": {"id": "bob"}},
            False,
            "promotion.rejected_by",
            "bob",
        ),
        (
            {"chosen_options": ["Reject"], "params_input": {}, "responded_by_user": None},
            False,
            "promotion.approval",
            "timed out",
        ),
    ],
)
def test_the_answer_is_recorded_and_handed_to_the_promotion(blessed, mlflow_client, event, approved, tag, value):
    _, ev = blessed(approval="always")
    event = {**event, "responded_at": dt.datetime(2026, 10, 12, 9, tzinfo=dt.UTC)}
    answer = approve_op(ev).execute_complete(ctx(), event)
    assert answer["approved"] is approved
    assert mlflow_client.get_model_version(ev["model_name"], ev["challenger_version"]).tags[tag] == value


def test_a_reject_skips_the_promotion_with_who_and_why_and_the_champion_stays(blessed, mlflow_client):
    _, ev = blessed(approval="always")
    rejected = {"approved": False, "by": "bob", "at": "t", "comment": "wait for the audit", "timed_out": False}
    op = PromoteChallengerOperator(task_id="promote_challenger", evaluation=ev, approval=rejected)
    with pytest.raises(AirflowSkipException, match="rejected by bob: wait for the audit"):
        op.execute(ctx())
    timed_out = rejected | {"by": "timeout", "comment": "", "timed_out": True}
    with pytest.raises(AirflowSkipException, match="no answer before promotion.approval_timeout"):
        PromoteChallengerOperator(task_id="p", evaluation=ev, approval=timed_out).execute(ctx())
    champion = mlflow_client.get_model_version_by_alias(ev["model_name"], "champion").version
    assert str(champion) == ev["champion_version"]
    approved = rejected | {"approved": True, "by": "alice"}
    result = PromoteChallengerOperator(task_id="p", evaluation=ev, approval=approved).execute(ctx())
    assert result["champion_version"] == ev["challenger_version"]
    tags = mlflow_client.get_model_version(ev["model_name"], ev["challenger_version"]).tags
    assert tags["promotion.promoted_by"] == "test_dag/manual__1 (approved by alice)"

"""The approval gate's library (include.mlops.promotion.approval):
when a human is asked, what they read, what is recorded."""

from __future__ import annotations

import datetime as dt

import pytest

from include.mlops.core.config import parse_config
from include.mlops.core.exceptions import InvalidApproval
from include.mlops.data.lake import Lake
from include.mlops.model.registry import champion_version
from include.mlops.promotion.aliases import promote
from include.mlops.promotion.approval import Answer, Verdict, answer_from_event, body, record, verdict, wait_reason

BLESSED = {
    "model_name": "fraud",
    "challenger_version": "7",
    "champion_version": "5",
    "promote": True,
    "reason": "challenger average_precision=0.6100 beats champion 0.5500 by +0.0600 (>= 0.002); guardrails hold",
    "primary_metric": "average_precision",
    "challenger_value": 0.61,
    "champion_value": 0.55,
    "report_key": "reports/promotion/transactions/ds=2026-10-12/decision_v7.json",
}


def cfg(mode: str):
    return parse_config({"promotion": {"approval": mode}})


@pytest.mark.parametrize(
    ("mode", "evaluation", "dry_run", "drift", "waits", "says"),
    [
        ("never", BLESSED, False, True, False, "unattended"),
        ("always", BLESSED, False, False, True, "every promotion"),
        ("always", {**BLESSED, "promote": False, "reason": "ties"}, False, False, False, "rejected by the evaluation"),
        ("always", BLESSED, True, False, False, "dry run"),
        ("on_drift", BLESSED, False, False, False, "did not trigger"),
        ("on_drift", BLESSED, False, True, True, "drift-triggered promotion"),
        ("on_drift", {**BLESSED, "promote": False, "reason": "floor"}, False, True, False, "floor"),
    ],
)
def test_only_a_blessed_challenger_of_a_real_run_waits(mode, evaluation, dry_run, drift, waits, says):
    wait, why = wait_reason(cfg(mode), evaluation, dry_run=dry_run, triggered_by_drift=drift)
    assert wait is waits and says in why


def test_the_body_shows_the_decision_side_by_side_with_window_trigger_and_links():
    report = {
        "holdout_rows": 21000,
        "challenger_metrics": {"average_precision": 0.61, "roc_auc": 0.93, "f1": float("nan")},
        "champion_metrics": {"average_precision": 0.55, "roc_auc": 0.935, "f1": 0.4},
        "decision": {
            "primary_metric": "average_precision",
            "min_improvement": 0.002,
            "floor": 0.1,
            "guardrails": [{"metric": "roc_auc", "max_regression": 0.01, "passed": True}],
        },
    }
    check = {
        "window": {"start": "2026-09-14", "holdout_start": "2026-10-05", "end": "2026-10-12"},
        "partitions": {"2026-09-14": "a", "2026-09-15": "b"},
        "content_hash": "hash_of_the_window_partitions",
    }
    trigger = {
        "run_key": "train_and_promote/drift__2026-10-12",
        "reason": "drift | share 0.4\nsecond line",
        "drift_summary": {"ds": "2026-10-11", "drift_share": 0.41, "reason": "8 of 19 columns drifted"},
    }
    text = body(BLESSED, report, check, trigger, {"MLflow run": "http://mlflow/#/runs/abc"}, timeout="24h")
    assert "Promote fraud version 7 to champion?" in text and BLESSED["reason"] in text
    assert "| average_precision | 0.6100 | 0.5500 | primary |" in text
    assert "| roc_auc | 0.9300 | 0.9350 | max regression 0.0100: holds |" in text
    assert "| f1 | NaN | 0.4000 |" in text
    assert "2026-09-14 .. 2026-10-12" in text and "2 curated partitions" in text and "`hash_of_the_wind`" in text
    assert "drift \\| share 0.4 second line" in text  # verbatim, but the table-breaking characters escaped
    assert "8 of 19 columns drifted" in text and "[MLflow run](http://mlflow/#/runs/abc)" in text
    assert "No answer within 24h rejects" in text and "21000 rows" in text


def test_answers_from_the_resume_event():
    at = dt.datetime(2026, 10, 12, 9, 30, tzinfo=dt.UTC)
    approved = answer_from_event(
        {
            "chosen_options": ["Approve"],
            "params_input": {"comment": "looks good {{ 7*7 }}"},
            "responded_at": at,
            "responded_by_user": {"id": "alice", "name": "alice"},
        }
    )
    assert approved == Answer(True, "alice", at.isoformat(), "looks good {{ 7*7 }}")
    rejected = answer_from_event(
        {"chosen_options": ["Reject"], "params_input": {}, "responded_at": at, "responded_by_user": {"id": "bob"}}
    )
    assert not rejected.approved and rejected.by == "bob" and rejected.summary == "rejected by bob"
    timed_out = answer_from_event({"chosen_options": ["Reject"], "responded_at": at, "responded_by_user": None})
    assert timed_out.timed_out and not timed_out.approved and "no answer" in timed_out.summary


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (None, Verdict(True, "d/r", "")),  # the approval task was skipped: no human needed
        (
            Answer(True, "alice", "t", "ok").as_dict(),
            Verdict(True, "d/r (approved by alice)", "approved by alice at t: ok"),
        ),
        (
            Answer(False, "bob", "t", "wait for the audit").as_dict(),
            Verdict(False, "d/r", "rejected by bob: wait for the audit"),
        ),
        (Answer(False, "bob", "t").as_dict(), Verdict(False, "d/r", "rejected by bob: (no comment)")),
        (
            Answer(False, "timeout", "t", timed_out=True).as_dict(),
            Verdict(False, "d/r", "no answer before promotion.approval_timeout"),
        ),
    ],
)
def test_the_promotion_reads_the_answer_as_go_or_skip_and_who_moves_the_champion(answer, expected):
    assert verdict(answer, "d/r") == expected


@pytest.mark.parametrize("answer", ["Approve", {"by": "alice"}, ["approved"], True])
def test_anything_but_the_approval_tasks_answer_is_a_wiring_mistake(answer):
    with pytest.raises(InvalidApproval, match="approval must be the approval task's answer"):
        verdict(answer, "d/r")


def test_the_answer_is_tagged_written_into_the_decision_and_the_history(make_config, mlflow_client):
    config = make_config()
    name = config.model.name
    lake = Lake.at(config.lake_root)
    mlflow_client.create_registered_model(name)
    v1, v2 = (str(mlflow_client.create_model_version(name, source=f"file:///nowhere/{i}").version) for i in range(2))
    for v in (v1, v2):
        mlflow_client.set_model_version_tag(name, v, "evaluation.decision", "promote")
    key = "reports/promotion/x/ds=2026-10-12/decision.json"
    lake.write_json(key, {"decision": {"promote": True}})
    evaluation = {"model_name": name, "challenger_version": v2, "report_key": key}
    record(mlflow_client, lake, evaluation | {"challenger_version": v1}, Answer(False, "bob", "t0", "not now"))
    t1 = mlflow_client.get_model_version(name, v1).tags
    assert t1["promotion.approval"] == "rejected" and t1["promotion.rejected_by"] == "bob"
    assert t1["promotion.approval_comment"] == "not now" and t1["promotion.status"] == "rejected by a human"
    record(mlflow_client, lake, evaluation, Answer(True, "alice", "t1", "ship it, 1.10"))
    t2 = mlflow_client.get_model_version(name, v2).tags
    assert (t2["promotion.approved_by"], t2["promotion.approved_at"]) == ("alice", "t1")
    assert t2["promotion.approval_comment"] == "ship it, 1.10" and "promotion.status" not in t2
    assert lake.read_json(key)["approval"] == {
        "approved": True,
        "by": "alice",
        "at": "t1",
        "comment": "ship it, 1.10",
        "timed_out": False,
    }
    promote(mlflow_client, name, v2, None, promote_decision=True, reason="r", actor="a (approved by alice)")
    assert mlflow_client.get_registered_model(name).tags["champion_history"] == f"{v2}:approved_by=alice"
    assert champion_version(mlflow_client, name) == v2


@pytest.mark.parametrize(("value", "seconds"), [("24h", 86400), ("90m", 5400), ("2d", 172800), (3600, 3600)])
def test_the_timeout_reads_with_units(value, seconds):
    assert parse_config({"promotion": {"approval_timeout": value}}).promotion.approval_timeout == seconds

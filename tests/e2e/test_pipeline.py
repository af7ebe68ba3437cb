"""End to end with dag.test(): real SQLite metadata, a real MLflow store, a real lake in tmp_path."""

from __future__ import annotations

import datetime as dt

import pytest

from include.mlops.data.lake import Lake
from include.mlops.model.registry import champion_version
from tests.e2e.conftest import UTC, asset_event_extras, day, ingest, run_dag, task_states, train, xcom

DAYS = [day("2026-03-01") + dt.timedelta(days=i) for i in range(12)]
FAULTY = "2026-03-06"
WINDOW_END = day("2026-03-13")


@pytest.fixture
def lake_with_history(make_config, dags):
    cfg = make_config(
        simulator={"rows_per_day": 2000, "faults": {FAULTY: "missing_column"}},
        training={"window_days": 12, "holdout_days": 4, "min_rows": 500},
        evaluation={
            "floor": 0.03,
            "min_improvement": 0.005,
            "guardrails": [{"metric": "roc_auc", "max_regression": 0.02}],
        },
    )
    states = ingest(dags, *DAYS)
    return cfg, states


def test_a_faulty_day_is_quarantined_and_blocks_nothing_else(lake_with_history):
    cfg, states = lake_with_history
    assert states.pop(FAULTY) == "failed"
    assert set(states.values()) == {"success"}
    lake = Lake.at(cfg.lake_root)
    curated = lake.list_partitions("curated", cfg.dataset.name)
    assert FAULTY not in curated and len(curated) == len(DAYS) - 1
    assert lake.list_partitions("quarantine", cfg.dataset.name) == [FAULTY]
    report = lake.read_json(f"quarantine/{cfg.dataset.name}/ds={FAULTY}/validation.json")
    assert any(f["column"] == "device_risk_score" for f in report["failed"])


def test_published_days_emit_asset_events(lake_with_history):
    cfg, _ = lake_with_history
    lake = Lake.at(cfg.lake_root)
    extras = asset_event_extras("mlops_curated_batch")
    # this test's events: other tests of the session publish the same days of the same dataset in lakes of their
    # own, so an event counts when its content hash is this lake's curated partition of the day
    ours = {
        d: lake.partition_info("curated", cfg.dataset.name, d)
        for d in lake.list_partitions("curated", cfg.dataset.name)
    }
    days = {e["ds"] for e in extras if e and e["ds"] in ours and e.get("content_hash") == ours[e["ds"]].content_hash}
    assert {d.isoformat() for d in DAYS} - {FAULTY} <= days
    assert FAULTY not in days


def test_first_run_promotes_a_worse_challenger_is_rejected_a_better_one_promoted(
    lake_with_history, make_config, dags, mlflow_client
):
    cfg, _ = lake_with_history
    name = cfg.model.name
    weak = {"features": ["amount", "hour", "customer_age", "channel"]}
    make_config(dataset=weak, model={"params": {"max_iter": 20}})
    first = train(dags, WINDOW_END)
    assert first.state == "success", task_states(first)
    assert task_states(first)["promote_challenger"] == "success"
    v1 = champion_version(mlflow_client, name)
    assert v1 is not None
    checked = xcom(first, "check_training_window")
    assert FAULTY in checked["missing_days"] and FAULTY not in checked["partitions"]

    make_config(dataset={"features": ["day_of_week", "customer_age"]})  # no signal: worse than the champion
    worse = train(dags, WINDOW_END)
    assert worse.state == "success"
    assert task_states(worse)["promote_challenger"] == "skipped"
    rejected = xcom(worse, "train_challenger")["version"]
    assert mlflow_client.get_model_version(name, rejected).tags["evaluation.decision"] == "reject"
    assert champion_version(mlflow_client, name) == v1

    make_config(dataset={"features": None}, model={"params": {"max_iter": 150}})  # every feature
    better = train(dags, WINDOW_END)
    assert task_states(better)["promote_challenger"] == "success"
    v3 = champion_version(mlflow_client, name)
    assert v3 == xcom(better, "train_challenger")["version"] != v1
    tags = mlflow_client.get_model_version(name, v3).tags
    assert tags["promotion.previous_champion"] == v1
    import mlflow.artifacts

    run_id = mlflow_client.get_model_version(name, v3).run_id
    decision = mlflow.artifacts.load_dict(f"runs:/{run_id}/evaluation/decision_v{v3}.json")
    assert decision["champion_version"] == v1 and decision["decision"]["promote"] is True
    run = mlflow_client.get_run(mlflow_client.get_model_version(name, v3).run_id)
    assert run.data.tags["dag_id"] == "train_and_promote" and run.data.tags["trigger_reason"] == "test"


def test_rerunning_the_same_dag_run_registers_no_second_version(lake_with_history, dags, mlflow_client):
    cfg, _ = lake_with_history
    after = dt.datetime(2026, 3, 14, 6, tzinfo=UTC)
    first = train(dags, WINDOW_END, logical_date=after, dry_run=True)
    again = train(dags, WINDOW_END, logical_date=after, dry_run=True)
    assert first.run_id == again.run_id
    assert task_states(again)["promote_challenger"] == "skipped"  # dry run
    assert xcom(again, "train_challenger")["reused"] is True
    assert len(mlflow_client.search_model_versions(f"name = '{cfg.model.name}'")) == 1
    assert champion_version(mlflow_client, cfg.model.name) is None


def test_training_refuses_an_empty_window_with_a_clear_reason(make_config, dags):
    make_config()
    run = train(dags, day("2025-01-01"))
    assert run.state == "failed"
    assert task_states(run)["check_training_window"] == "failed"
    assert task_states(run)["train_challenger"] == "upstream_failed"


def test_rollback_dag_restores_the_previous_champion(lake_with_history, make_config, dags, mlflow_client):
    cfg, _ = lake_with_history
    make_config(dataset={"features": ["amount", "hour", "customer_age", "channel"]}, model={"params": {"max_iter": 20}})
    assert task_states(train(dags, WINDOW_END))["promote_challenger"] == "success"
    v1 = champion_version(mlflow_client, cfg.model.name)
    make_config(dataset={"features": None}, model={"params": {"max_iter": 150}})
    assert task_states(train(dags, WINDOW_END))["promote_challenger"] == "success"
    v2 = champion_version(mlflow_client, cfg.model.name)
    assert v2 != v1

    bad = run_dag(dags, "rollback_champion", {"target_version": "99", "reason": "test"}, logical_date=None)
    assert bad.state == "failed" and champion_version(mlflow_client, cfg.model.name) == v2
    run = run_dag(dags, "rollback_champion", {"reason": "v2 regressed in production"}, logical_date=None)
    assert run.state == "success"
    assert champion_version(mlflow_client, cfg.model.name) == v1
    tags = mlflow_client.get_model_version(cfg.model.name, v1).tags
    assert tags["rollback.reason"] == "v2 regressed in production" and tags["rollback.from_version"] == v2

"""Candidates trained in parallel through the real DAG (dag.test()): three candidates, one with params its
estimator refuses. The run succeeds, the parent MLflow run holds three child runs (the failed one FAILED, its error
an artifact of the parent), and only the best on the validation days is registered, as the challenger."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.e2e.conftest import UTC, day, ingest, task_instances, train, xcom

DAYS = [day("2026-04-01") + dt.timedelta(days=i) for i in range(8)]
WINDOW_END = day("2026-04-09")
AFTER = dt.datetime(2026, 4, 9, 6, tzinfo=UTC)  # a fixed logical date: training again is a re-run of the same run
CANDIDATES = [
    {"name": "hgb", "estimator": "hist_gradient_boosting", "params": {"max_iter": 40}},
    {"name": "broken", "estimator": "logistic_regression", "params": {"C": -1}},  # sklearn: InvalidParameterError
    {"name": "logreg", "estimator": "logistic_regression", "params": {"C": 1.0}},
]


@pytest.fixture
def candidates_run(make_config, dags):
    cfg = make_config(
        simulator={"rows_per_day": 800},
        training={"window_days": 8, "holdout_days": 2, "min_rows": 200, "validation_days": 3},
        evaluation={"floor": None},
        model={"candidates": CANDIDATES},
    )
    assert set(ingest(dags, *DAYS).values()) == {"success"}
    return cfg, train(dags, WINDOW_END, logical_date=AFTER)


def test_three_candidates_one_failing_register_the_best_as_the_challenger(candidates_run, dags, mlflow_client):
    import mlflow.artifacts

    cfg, run = candidates_run
    assert run.state == "success", {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    mapped = {ti.rendered_map_index: ti for ti in run.get_task_instances() if ti.task_id == "train_candidate"}
    assert {name: ti.state for name, ti in mapped.items()} == {
        "hgb": "success",
        "broken": "failed",
        "logreg": "success",
    }
    assert mapped["broken"].try_number == 1  # refused params: failed at once, not retried
    assert task_instances(run)["train_challenger"].state == "success"

    plan = xcom(run, "plan_candidates")
    assert [c["name"] for c in plan] == ["hgb", "broken", "logreg"]
    assert plan[0]["split"] == {
        "fit_days": ["2026-04-01", "2026-04-02", "2026-04-03"],
        "validation_days": ["2026-04-04", "2026-04-05", "2026-04-06"],  # the holdout is 04-07 and 04-08
    }
    trained = xcom(run, "train_challenger")
    parent = trained["run_id"]
    assert parent == plan[0]["parent_run_id"]

    experiment = mlflow_client.get_run(parent).info.experiment_id
    children = mlflow_client.search_runs([experiment], filter_string=f"tags.mlflow.parentRunId = '{parent}'")
    status = {c.data.tags["airflow_candidate"]: c.info.status for c in children}
    assert status == {"hgb": "FINISHED", "broken": "FAILED", "logreg": "FINISHED"}
    error = mlflow.artifacts.load_text(f"runs:/{parent}/candidates/broken/error.txt")
    assert "InvalidParameterError" in error and "'C' parameter" in error
    parent_run = mlflow_client.get_run(parent)
    assert parent_run.data.tags["candidates.broken.error"].startswith("InvalidParameterError")

    metric = f"validation_{cfg.evaluation.primary_metric}"
    scores = {c.data.tags["airflow_candidate"]: c.data.metrics[metric] for c in children if c.info.status == "FINISHED"}
    best = max(scores, key=lambda name: scores[name])
    assert scores[best] > min(scores.values())  # the two good candidates differ: a real choice was made
    assert trained["candidate"] == best and parent_run.data.tags["candidates.winner"] == best
    assert (parent_run.data.tags["candidates.count"], parent_run.data.tags["candidates.failed"]) == ("3", "1")
    assert parent_run.info.status == "FINISHED" and parent_run.data.params["estimator"] == next(
        c["estimator"] for c in CANDIDATES if c["name"] == best
    )
    board = mlflow.artifacts.load_dict(f"runs:/{parent}/candidates/leaderboard.json")
    assert [(c["name"], c["error"] is None) for c in board["candidates"]] == [
        ("hgb", True),
        ("broken", False),
        ("logreg", True),
    ]

    versions = mlflow_client.search_model_versions(f"name = '{cfg.model.name}'")
    assert len(versions) == 1
    challenger = mlflow_client.get_model_version_by_alias(cfg.model.name, "challenger")
    assert str(challenger.version) == trained["version"] == str(versions[0].version)
    assert challenger.run_id == parent
    assert xcom(run, "evaluate_challenger")["challenger_version"] == trained["version"]

    # the same DAG run again (cleared): the finished candidates and the registered version are reused
    again = train(dags, WINDOW_END, logical_date=AFTER)
    assert again.run_id == run.run_id and again.state == "success"
    assert xcom(again, "train_challenger")["reused"] is True
    assert xcom(again, "plan_candidates")[0]["parent_run_id"] == parent
    rerun = {ti.rendered_map_index: ti.state for ti in again.get_task_instances() if ti.task_id == "train_candidate"}
    assert rerun == {"hgb": "success", "broken": "failed", "logreg": "success"}
    children = mlflow_client.search_runs([experiment], filter_string=f"tags.mlflow.parentRunId = '{parent}'")
    assert sorted(c.data.tags["airflow_candidate"] for c in children if c.info.status == "FINISHED") == [
        "hgb",
        "logreg",
    ]
    assert len(mlflow_client.search_model_versions(f"name = '{cfg.model.name}'")) == 1

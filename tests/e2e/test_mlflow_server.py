"""train_and_promote against a real MLflow tracking server over HTTP (as under `make run` and in compose).

A local SQLite store accepts registrations that a server refuses, so the HTTP path has its own test.
"""

from __future__ import annotations

import json

from include.mlops.model.registry import champion_version
from tests.e2e.conftest import day, ingest, task_states, train, xcom


def test_train_and_promote_through_the_tracking_server(mlflow_server, make_config, dags, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", json.dumps({"conn_type": "http", "host": mlflow_server}))
    cfg = make_config(training={"window_days": 6, "holdout_days": 2, "min_rows": 200})
    ingest(dags, *(day(f"2026-05-0{d}") for d in range(1, 7)))
    run = train(dags, day("2026-05-07"))
    assert run.state == "success", task_states(run)
    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    version = xcom(run, "train_challenger")["version"]
    assert champion_version(client, cfg.model.name) == version
    model_version = client.get_model_version(cfg.model.name, version)
    assert model_version.tags["evaluation.decision"] == "promote"
    artifacts = [a.path for a in client.list_artifacts(model_version.run_id, "evaluation")]
    assert f"evaluation/decision_v{version}.json" in artifacts

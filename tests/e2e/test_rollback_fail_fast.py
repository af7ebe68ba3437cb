"""rollback_champion against a real MLflow tracking server: a bad target fails in seconds, without retry and
before the promotion pool is taken; a good one still rolls back."""

from __future__ import annotations

import json
import time

from include.mlops.model.registry import champion_version
from tests.e2e.conftest import run_dag, task_instances


def _registry_with_two_champions(client, name: str) -> None:
    """Versions 1 and 2, both blessed; 2 is champion and replaced 1; 3 never blessed. No training needed."""
    client.create_registered_model(name)
    run = client.create_run(client.create_experiment(f"{name}-rollback"))
    for version in ("1", "2", "3"):
        client.create_model_version(name, source=f"{run.info.artifact_uri}/model{version}", run_id=run.info.run_id)
    for version in ("1", "2"):
        client.set_model_version_tag(name, version, "evaluation.decision", "promote")
    client.set_model_version_tag(name, "3", "evaluation.decision", "reject")
    client.set_model_version_tag(name, "2", "promotion.previous_champion", "1")
    client.set_registered_model_tag(name, "champion_history", "1,2")
    client.set_registered_model_alias(name, "champion", "2")


def test_a_bad_rollback_target_fails_in_seconds_without_retry(
    mlflow_server,  # noqa: F811
    make_config,
    dags,
    monkeypatch,
):
    from mlflow import MlflowClient

    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", json.dumps({"conn_type": "http", "host": mlflow_server}))
    cfg = make_config()
    name = cfg.model.name
    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    _registry_with_two_champions(client, name)

    for target, message in (("99", "has no version 99"), ("3", "never blessed")):
        began = time.monotonic()
        run = run_dag(dags, "rollback_champion", {"target_version": target, "reason": "1.10"}, logical_date=None)
        elapsed = time.monotonic() - began
        tis = task_instances(run)
        assert run.state == "failed"
        assert tis["check_rollback_target"].state == "failed" and tis["check_rollback_target"].try_number == 1
        assert tis["rollback"].state == "upstream_failed"  # never queued for the pool
        assert elapsed < 30, f"target {target}: {elapsed:.1f} s"
        print(f"bad target {target!r} ({message}): run failed in {elapsed:.1f} s")
        assert champion_version(client, name) == "2"

    run = run_dag(dags, "rollback_champion", {"reason": "1.10"}, logical_date=None)
    assert run.state == "success", {t: ti.state for t, ti in task_instances(run).items()}
    assert champion_version(client, name) == "1"
    assert client.get_model_version(name, "1").tags["rollback.reason"] == "1.10"

"""train_and_promote against a real MLflow tracking server over HTTP (as under `make run` and in compose).

A local SQLite store accepts registrations that a server refuses, so the HTTP path has its own test.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from include.mlops.registry import champion_version
from tests.e2e.conftest import day, ingest, task_states, train, xcom


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    log = open(root / "server.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'db.sqlite'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--serve-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},  # no huey job runner to outlive it
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"mlflow server did not start: {(root / 'server.log').read_text()[-2000:]}")
        time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


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

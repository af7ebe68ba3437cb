"""Environment for an embedded Airflow (SQLite metadata, local MLflow store) in a scratch folder.

Used by the test suite and `make demo`; imports nothing from Airflow, because Airflow reads these
variables when it is first imported.
"""

from __future__ import annotations

import json
from pathlib import Path


def embedded_env(root: Path, work: Path, mlflow_uri: str) -> dict[str, str]:
    """Variables for an Airflow home in ``work/airflow`` running the DAGs of the project at ``root``."""
    return {
        "AIRFLOW_HOME": str(work / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{work / 'airflow' / 'airflow.db'}",
        "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps({"conn_type": "http", "extra": {"tracking_uri": mlflow_uri}}),
        "MLFLOW_ENABLE_TELEMETRY": "false",
        "GIT_PYTHON_REFRESH": "quiet",
    }


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (for a service started next)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(root: Path, home: Path, *, executor: str, db_uri: str, api_port: int, log_port: int) -> dict[str, str]:
    """Variables shared by every Airflow service (api-server, scheduler, dag-processor, workers) of a
    native stack on 127.0.0.1: the browser test, the integration suite and the pipeline benchmark.
    Secrets are generated for this stack only."""
    import secrets

    api_url = f"http://127.0.0.1:{api_port}"
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_uri,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
        "AIRFLOW__API__BASE_URL": api_url,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(24),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_port),
    }
